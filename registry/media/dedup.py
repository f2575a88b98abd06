"""Near-duplicate matching: index candidates, then verify each against the aligned pictures."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import partial

from sqlalchemy.orm import Session

from processing.fingerprint import Fingerprint as PictureFingerprint
from processing.fingerprint import coarse_distance
from processing.hash_index import Candidate
from processing.verify import DetailSummary, UnreadableVerificationImage, Verification, VerifyImage, verify
from registry.concurrency import run_ahead
from registry.media.blobs import detail_key, signature_key
from registry.media.repository import MediaRepository
from registry.models import Fingerprint as FingerprintRow
from registry.runtime import Runtime
from storage import BlobNotFound

log = logging.getLogger(__name__)

_INDEX_BATCH = 50_000
_REFRESH_LOCK = threading.Lock()
_ROWS_PER_ASSET = 2
# A copy stored at a lower resolution than the upload cannot vouch for detail it never had (a 200 px
# copy cannot tell "500 ml" from "750 ml"); a match on such a copy is confirmed on the asset's master.
_WEAKER_DETAIL = 0.8
_MASTER_WITNESS = "confirmation on the asset's master"
_FOUND_BY_CROPS = "found by the deepest centre-crop hash"


@dataclass
class CandidateResult:
    """One candidate asset and what verification said about it."""

    asset_id: str
    fingerprint_seq: int
    distance: int
    verification: Verification | None
    note: str = ""
    overruled: bool = False  # passed, but the asset's master said otherwise

    @property
    def passed(self) -> bool:
        """Whether this candidate counts as a verified match."""
        return self.verification is not None and self.verification.accepted and not self.overruled

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly explanation."""
        return {
            "asset_id": self.asset_id,
            "fingerprint_seq": self.fingerprint_seq,
            "hash_distance": self.distance,
            "verification": self.verification.as_dict() if self.verification else None,
            "note": self.note,
            "overruled": self.overruled,
        }


@dataclass
class MatchReport:
    """Everything the matcher looked at for one picture."""

    informative: bool
    candidates: list[CandidateResult] = field(default_factory=list)
    elapsed_ms: float = 0.0

    @property
    def accepted(self) -> list[CandidateResult]:
        """Candidates that passed verification, best first."""
        passed = [c for c in self.candidates if c.passed]
        return sorted(passed, key=lambda c: (-(c.verification.score if c.verification else 0.0), c.distance))

    def as_dict(self) -> dict[str, object]:
        """JSON-friendly explanation."""
        return {
            "informative": self.informative,
            "candidates": [c.as_dict() for c in self.candidates],
            "elapsed_ms": round(self.elapsed_ms, 2),
        }


def refresh_index(rt: Runtime, session: Session) -> None:
    """Load fingerprint rows written since the index last looked, by this or any other process.

    Fingerprints are only written under the dedup lock, so their seqs commit in order and a
    watermark cannot skip a row that commits late.
    """
    repository = MediaRepository(session)
    with _REFRESH_LOCK:
        while True:
            rows = repository.fingerprints_after(rt.index.watermark, _INDEX_BATCH)
            if not rows:
                return
            rt.index.add((seq, (h0, h1, h2, h3)) for seq, h0, h1, h2, h3 in rows)
            if len(rows) < _INDEX_BATCH:
                return


def verification_order(thumb: bytes, hits: Sequence[Candidate],
                       thumb_of: Callable[[int], bytes | None]) -> list[Candidate]:
    """Candidates that also look alike overall (8×8 thumbnails) first, then by hash distance.

    On white backgrounds many unrelated products sit within the hash radius; this way the true
    copy is reached within the verification budget.
    """
    def key(hit: Candidate) -> tuple[float, int]:
        other = thumb_of(hit.seq)
        # unknown look: after the ones that look alike, before none
        return (128.0 if other is None else coarse_distance(thumb, other), hit.distance)

    return sorted(hits, key=key)


def detail_summary(row: FingerprintRow) -> DetailSummary | None:
    """The detail summary stored with a fingerprint row; None on rows written before it was stored."""
    if row.detail_side is None or row.detail_edge_energy is None:
        return None
    return DetailSummary(row.detail_side, row.detail_edge_energy)


def load_verify_image(rt: Runtime, prefix: str, summary: DetailSummary | None) -> VerifyImage:
    """The stored verification images of an indexed picture; with a summary, the detail image is
    fetched only if the detail check runs."""
    detail = partial(rt.store.get, detail_key(prefix))
    return VerifyImage.from_png(rt.store.get(signature_key(prefix)),
                                detail if summary is not None else detail(), summary)


def master_witness(repository: MediaRepository, row: FingerprintRow, query_detail_side: int
                   ) -> FingerprintRow | None:
    """The asset master's row, when a match on the smaller copy `row` needs its confirmation; else None.

    The master, not merely the copy with the largest picture: the largest may be a rotated or
    stretched copy that merged through another, and would reject copies of the master itself.
    """
    if row.detail_side is None or row.detail_side >= _WEAKER_DETAIL * query_detail_side:
        return None
    asset = repository.asset_exact(row.asset_id)
    master = repository.fingerprint_of_upload(asset.master_upload_id) if asset is not None else None
    if master is None or not master.active or master.seq == row.seq or (master.detail_side or 0) <= row.detail_side:
        return None
    return master


def match(
    rt: Runtime,
    session: Session,
    picture: PictureFingerprint,
    *,
    stop_at_first: bool,
    exclude_assets: frozenset[str] = frozenset(),
) -> MatchReport:
    """Find indexed assets showing the same picture; stops at the first verified one if asked."""
    started = time.perf_counter()
    report = MatchReport(informative=picture.informative)
    if not picture.informative:
        return report  # flat or blank pictures collide with everything; exact matches only
    refresh_index(rt, session)
    settings = rt.settings
    repository = MediaRepository(session)
    query = picture.verify_image
    looked_up: set[int] = set()
    rows_tried: dict[str, int] = {}
    accepted_assets: set[str] = set()
    # An owner's "these differ" ruling means the first passing candidate may not be the right one.
    keep_looking = False

    # Set when this match returns: verifications still running for it stop at their next step
    # instead of taking CPU from the next upload.
    finished = threading.Event()

    def compare(prefix: str, summary: DetailSummary | None) -> Verification:
        # runs on a verification thread: blob store and pixels only, never the session
        return verify(query, load_verify_image(rt, prefix, summary), rt.thresholds, finished.is_set)

    def comparisons(hits: list[Candidate], rows: dict[int, FingerprintRow]
                    ) -> Iterator[tuple[tuple[Candidate, FingerprintRow], Callable[[], Verification]]]:
        for hit in hits:
            row = rows.get(hit.seq)
            if row is None or row.asset_id in exclude_assets or row.asset_id in accepted_assets:
                continue
            # An asset is indexed once per distinct copy it absorbed; a couple of its nearest copies
            # are compared, since a heavily edited copy may be far from the master yet close to another.
            if rows_tried.get(row.asset_id, 0) >= _ROWS_PER_ASSET:
                continue
            if sum(rows_tried.values()) >= settings.dedup_max_candidates:
                return
            rows_tried[row.asset_id] = rows_tried.get(row.asset_id, 0) + 1
            yield (hit, row), partial(compare, row.signature_key, detail_summary(row))

    # The crop-against-crop lookup only runs when the usual one verified nothing: it finds two
    # degraded copies whose whole-picture hashes drifted apart (docs/dedup-index.md). Both share
    # one verification budget, so a new product costs no more verifications than before.
    try:
        for lookup, note in ((rt.index.search, ""), (rt.index.search_crops, _FOUND_BY_CROPS)):
            if accepted_assets or sum(rows_tried.values()) >= settings.dedup_max_candidates:
                break
            found = [hit for hit in lookup(picture.hashes, settings.dedup_candidate_radius,
                                           settings.dedup_max_candidates * 8) if hit.seq not in looked_up]
            looked_up.update(hit.seq for hit in found)
            rows = {row.seq: row for row in repository.fingerprints_by_seq([hit.seq for hit in found])}
            thumbs = {seq: row.thumb for seq, row in rows.items()}
            hits = verification_order(picture.thumb, found, thumbs.get)
            with closing(run_ahead(comparisons(hits, rows), rt.verify_pool, settings.dedup_verify_threads)) as outcomes:
                for (hit, row), outcome in outcomes:
                    if row.asset_id in accepted_assets:
                        continue  # started before another copy of this asset passed
                    try:
                        verdict = outcome.result()
                    except (BlobNotFound, UnreadableVerificationImage) as error:
                        # One damaged candidate must not fail the upload: it is skipped, and says why.
                        damage = "signature missing" if isinstance(error, BlobNotFound) else "signature unreadable"
                        log.warning("%s: %s of fingerprint %s", damage, row.signature_key, row.seq)
                        report.candidates.append(CandidateResult(row.asset_id, row.seq, hit.distance, None, damage))
                        continue
                    result = CandidateResult(row.asset_id, row.seq, hit.distance, verdict, note)
                    report.candidates.append(result)
                    if verdict.accepted and (witness := master_witness(repository, row, query.detail_side)):
                        confirmation = compare(witness.signature_key, detail_summary(witness))
                        report.candidates.append(CandidateResult(row.asset_id, witness.seq, hit.distance,
                                                                 confirmation, _MASTER_WITNESS))
                        result.overruled = not confirmation.accepted
                    if result.passed:
                        accepted_assets.add(row.asset_id)
                        if stop_at_first:
                            keep_looking = keep_looking or bool(repository.distinct_from(row.asset_id))
                            if not keep_looking:
                                break
    finally:
        finished.set()
    report.elapsed_ms = (time.perf_counter() - started) * 1000
    return report
