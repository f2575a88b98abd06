"""The search-by-picture use case: which canonical assets show the same picture; stores nothing."""

from __future__ import annotations

from dataclasses import dataclass

from processing.decode import check_size, decode
from processing.fingerprint import fingerprint
from registry.media import dedup, trust
from registry.media.picture import sha256_of
from registry.media.repository import MediaRepository
from registry.media.trust_repository import TrustRepository
from registry.runtime import Runtime
from registry.tenants.service import Principal


@dataclass
class SearchHit:
    """An asset matching a searched picture."""

    asset_id: str
    score: float | None
    hash_distance: int | None
    verification: dict[str, object]


def search(rt: Runtime, data: bytes, principal: Principal) -> tuple[list[SearchHit], dict[str, object]]:
    """Use case: find canonical assets showing the same picture as `data`; stores nothing.

    Scores and verification details are shown only for the caller's own assets: for anyone else's
    they would tell an attacker how far an edit may go and still pass.
    """
    check_size(data, rt.limits)
    sha256 = sha256_of(data)
    hits: list[SearchHit] = []
    with rt.db.read_only() as session:
        key = MediaRepository(session).content_key(sha256)
        if key is not None:
            asset = MediaRepository(session).asset(key.asset_id)
            if asset is not None:
                hits.append(SearchHit(asset.id, 1.0, 0, {"method": "exact"}))
        decoded = decode(data, rt.limits)
        picture = fingerprint(decoded.image, rt.verify_pool)
        report = dedup.match(rt, session, picture, stop_at_first=False,
                             exclude_assets=frozenset(h.asset_id for h in hits))
        for candidate in report.accepted:
            verdict = candidate.verification
            explanation: dict[str, object] = dict(verdict.as_dict()) if verdict else {}
            hits.append(SearchHit(candidate.asset_id, verdict.score if verdict else 0.0, candidate.distance,
                                  explanation))
        own = TrustRepository(session).own_asset_ids(principal.tenant_id, [h.asset_id for h in hits])
        [shown] = trust.redact_matches(session, principal, [report.as_dict()])
    for hit in hits:
        if hit.asset_id not in own and hit.verification.get("method") != "exact":
            hit.score, hit.hash_distance, hit.verification = None, None, {}
    return hits, shown
