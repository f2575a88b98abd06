"""The upload use case: exact copies resolve by SHA-256, near copies by verified match, else a new asset."""

from __future__ import annotations

import logging
import time
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified

from processing.decode import check_size
from registry import telemetry
from registry.errors import Forbidden
from registry.ids import new_id, new_opaque_id
from registry.jobs.service import JobKind, enqueue
from registry.media import dedup
from registry.media.picture import PictureFacts, PreparedPicture, blobs, fingerprint_row, prepare, sha256_of
from registry.media.promotion import promote, promotion_verdict
from registry.media.repository import MediaRepository
from registry.models import Asset, ContentKey, Upload
from registry.runtime import Runtime
from registry.skus.service import SlotRequest, assign_slot
from registry.tenants.service import Principal

log = logging.getLogger(__name__)


class DedupKind:
    """How an upload resolved."""

    NEW = "new"
    EXACT = "exact"
    NEAR = "near"


@dataclass(frozen=True)
class UploadCommand:
    """One file to register, with an optional SKU slot."""

    data: bytes
    filename: str = ""
    slot: SlotRequest | None = None
    ai_content: str = "none"


@dataclass
class UploadOutcome:
    """What an upload resolved to."""

    asset_id: str
    upload_id: str
    dedup: str
    created: bool
    promoted: bool = False
    match: dict[str, object] = field(default_factory=dict)
    sku: str | None = None
    role: str | None = None
    position: int | None = None


def clean_filename(raw: str) -> str:
    """Keep the last path component of a client file name, NFC-normalised, at most 500 characters."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:500]


def _new_upload(
    principal: Principal, command: UploadCommand, sha256: str, asset_id: str, dedup_kind: str,
    facts: PictureFacts, match: dict[str, object],
) -> Upload:
    return Upload(
        id=new_id("upl"),
        tenant_id=principal.tenant_id,
        asset_id=asset_id,
        sha256=sha256,
        filename=clean_filename(command.filename),
        size_bytes=len(command.data),
        format=facts.format,
        width=facts.width,
        height=facts.height,
        dedup=dedup_kind,
        match=match,
        content_pixels=facts.content_pixels,
        sharpness=facts.sharpness,
        jpeg_quality=facts.jpeg_quality,
        lossless=facts.lossless,
        ai_content=command.ai_content,
    )


def _finish_slot(session: Session, principal: Principal, command: UploadCommand, outcome: UploadOutcome) -> None:
    if command.slot is None:
        return
    slot = assign_slot(session, principal.tenant_id, command.slot, outcome.asset_id, outcome.upload_id)
    outcome.sku, outcome.role, outcome.position = command.slot.sku, slot.role, slot.position


def _resolve_exact(session: Session, principal: Principal, command: UploadCommand, sha256: str) -> UploadOutcome | None:
    repository = MediaRepository(session)
    key = repository.content_key(sha256)
    if key is None:
        return None
    asset = repository.asset(key.asset_id)
    first = repository.first_upload_with_sha(sha256)
    if asset is None or first is None:
        return None
    facts = PictureFacts.copied_from(first)
    match: dict[str, object] = {"method": "exact", "sha256": sha256, "matched_upload_id": first.id}
    upload = _new_upload(principal, command, sha256, asset.id, DedupKind.EXACT, facts, match)
    repository.add(upload)
    outcome = UploadOutcome(asset_id=asset.id, upload_id=upload.id, dedup=DedupKind.EXACT, created=False,
                            match=match)
    _finish_slot(session, principal, command, outcome)
    return outcome


def upload(rt: Runtime, principal: Principal, command: UploadCommand) -> UploadOutcome:
    """Use case: register a file, reusing the asset of an exact or verified near copy, or making one."""
    started = time.perf_counter()
    outcome = _upload(rt, principal, command)
    telemetry.dedup.observe(str(outcome.dedup), time.perf_counter() - started)  # decisions and their time
    return outcome


def _upload(rt: Runtime, principal: Principal, command: UploadCommand) -> UploadOutcome:
    if not principal.can_upload:
        raise Forbidden("platform keys can read listings but not upload")
    check_size(command.data, rt.limits)
    sha256 = sha256_of(command.data)
    with rt.db.unit_of_work() as session:
        outcome = _resolve_exact(session, principal, command, sha256)
        if outcome is not None:
            return outcome
    prepared = prepare(rt, command.data, sha256)
    stored = blobs(prepared, command.data)
    for key, data, content_type in stored:
        rt.store.put_if_absent(key, data, content_type)
    try:
        with rt.db.unit_of_work() as session:
            rt.db.lock_dedup(session)
            outcome = _resolve_exact(session, principal, command, sha256)
            if outcome is None:
                outcome = _register(rt, session, principal, command, prepared)
            # a failed upload of the same bytes may have removed blobs since we wrote them
            for key, data, content_type in stored:
                if rt.store.head(key) is None:
                    rt.store.put_if_absent(key, data, content_type)
            return outcome
    except BaseException:
        remove_unreferenced_blobs(rt, sha256, [key for key, _, _ in stored])
        raise


def remove_unreferenced_blobs(rt: Runtime, sha256: str, keys: list[str]) -> None:
    """Delete blobs of bytes no committed row refers to (a failed upload leaves nothing behind)."""
    try:
        with rt.db.unit_of_work() as session:
            rt.db.lock_dedup(session)
            if MediaRepository(session).content_key(sha256) is None:
                for key in keys:
                    rt.store.delete(key)
    except Exception:
        log.exception("could not clean up blobs of %s", sha256)


def _register(
    rt: Runtime, session: Session, principal: Principal, command: UploadCommand, prepared: PreparedPicture
) -> UploadOutcome:
    repository = MediaRepository(session)
    decoded = prepared.decoded
    facts = PictureFacts.of(prepared)
    report = dedup.match(rt, session, prepared.picture, stop_at_first=True)
    accepted = report.accepted
    if accepted:
        best = accepted[0]
        asset = repository.asset_for_update(best.asset_id)
        if asset is None:  # merged away in the meantime
            asset = repository.asset(best.asset_id)
    else:
        asset = None
    match_info: dict[str, object] = {"method": "near" if asset else "none", **report.as_dict()}
    if asset is None:
        upload_id = new_id("upl")
        asset = Asset(
            id=new_opaque_id("ast"), owner_tenant_id=principal.tenant_id, master_upload_id=upload_id,
            master_sha256=prepared.sha256, master_format=decoded.format, width=decoded.width,
            height=decoded.height, size_bytes=len(command.data), master_version=1,
            supplier_tenant_id=principal.tenant_id, supplier_kind=principal.kind.value,
            ai_content=command.ai_content,
        )
        repository.add(asset)
        row = _new_upload(principal, command, prepared.sha256, asset.id, DedupKind.NEW, facts, match_info)
        row.id = upload_id
        repository.add(row, ContentKey(sha256=prepared.sha256, asset_id=asset.id, size_bytes=len(command.data)))
        repository.add(fingerprint_row(asset.id, row.id, prepared))
        enqueue(rt, session, JobKind.RENDER_ASSET, asset.id)
        outcome = UploadOutcome(asset_id=asset.id, upload_id=row.id, dedup=DedupKind.NEW, created=True,
                                match=match_info)
        _finish_slot(session, principal, command, outcome)
        return outcome
    best = accepted[0]
    match_info["matched_asset_id"] = asset.id
    match_info["verification"] = best.verification.as_dict() if best.verification else None
    match_info["hash_distance"] = best.distance
    row = _new_upload(principal, command, prepared.sha256, asset.id, DedupKind.NEAR, facts, match_info)
    repository.add(row, ContentKey(sha256=prepared.sha256, asset_id=asset.id, size_bytes=len(command.data)))
    # Every distinct copy is indexed: a later, differently edited copy may be closer to it than to the master.
    repository.add(fingerprint_row(asset.id, row.id, prepared))
    master = repository.upload(asset.master_upload_id)
    promoted, why = False, "no_master"
    if master is not None:
        promoted, why = promotion_verdict(rt, session, asset, master, row, decoded.image, prepared.picture,
                                          best.verification)
    match_info["promotion"] = why
    if promoted and master is not None:
        promote(rt, session, asset, row, by_tenant_id=principal.tenant_id, supplier_kind=principal.kind.value)
        match_info["promoted_over_upload_id"] = master.id
    row.match = dict(match_info)
    flag_modified(row, "match")  # the dict was flushed once already and then grew in place
    outcome = UploadOutcome(asset_id=asset.id, upload_id=row.id, dedup=DedupKind.NEAR, created=False,
                            promoted=promoted, match=match_info)
    _finish_slot(session, principal, command, outcome)
    return outcome
