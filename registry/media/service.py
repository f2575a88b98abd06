"""Uploads resolve to canonical assets: exact copies by SHA-256, near copies by verified match."""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from processing.decode import DecodedImage, decode
from processing.errors import EmptyImage, FileTooLarge
from processing.fingerprint import Fingerprint as PictureFingerprint
from processing.fingerprint import fingerprint
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.ids import new_id
from registry.jobs.service import JobKind, enqueue
from registry.media import dedup
from registry.media.blobs import detail_key, original_key, signature_key, signature_prefix
from registry.media.repository import MediaRepository
from registry.models import Asset, ContentKey, DedupDecision, Fingerprint, Upload, Variant
from registry.runtime import Runtime
from registry.skus.repository import SkuRepository
from registry.skus.service import SlotRequest, assign_slot
from registry.tenants.service import Principal
from registry.variants.repository import VariantRepository

log = logging.getLogger(__name__)

_LOSSLESS_FORMATS = {"PNG", "TIFF", "GIF"}


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
    bytes_saved: int = 0


@dataclass(frozen=True)
class _Prepared:
    sha256: str
    decoded: DecodedImage
    picture: PictureFingerprint
    prefix: str


def clean_filename(raw: str) -> str:
    """Keep the last path component of a client file name, NFC-normalised, at most 500 characters."""
    name = unicodedata.normalize("NFC", raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    return name[:500]


@dataclass(frozen=True)
class PictureFacts:
    """What an upload row records about its picture: size, format and quality measures."""

    format: str
    width: int
    height: int
    content_pixels: int
    sharpness: float
    jpeg_quality: int | None
    lossless: bool

    @classmethod
    def of(cls, prepared: _Prepared) -> PictureFacts:
        """Facts of a freshly decoded and fingerprinted picture."""
        decoded, picture = prepared.decoded, prepared.picture
        return cls(
            format=decoded.format, width=decoded.width, height=decoded.height,
            content_pixels=picture.content_width * picture.content_height, sharpness=picture.sharpness,
            jpeg_quality=decoded.jpeg_quality, lossless=decoded.format in _LOSSLESS_FORMATS,
        )

    @classmethod
    def copied_from(cls, upload: Upload) -> PictureFacts:
        """The facts an earlier upload of the same bytes recorded."""
        return cls(
            format=upload.format, width=upload.width, height=upload.height, content_pixels=upload.content_pixels,
            sharpness=upload.sharpness, jpeg_quality=upload.jpeg_quality, lossless=upload.lossless,
        )


def is_better_copy(new: Upload, current: Upload, overlap: float) -> bool:
    """Whether a verified copy should replace the master: more real detail, never an upscale or crop."""
    if overlap < 0.95:
        return False  # a crop of the master loses part of the picture
    if current.content_pixels <= 0:
        return True
    ratio = new.content_pixels / current.content_pixels
    not_upscaled = new.sharpness >= 0.6 * current.sharpness
    if ratio >= 1.25 and not_upscaled:
        return True
    if ratio >= 0.9 and not_upscaled:
        current_q = 100 if current.lossless else (current.jpeg_quality or 85)
        new_q = 100 if new.lossless else (new.jpeg_quality or 85)
        return new_q >= current_q + 10 and new.sharpness >= 0.9 * current.sharpness
    return False


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
    )


def _finish_slot(session: Session, principal: Principal, command: UploadCommand, outcome: UploadOutcome) -> None:
    if command.slot is None:
        return
    slot = assign_slot(session, principal.tenant_id, command.slot, outcome.asset_id, outcome.upload_id)
    outcome.sku, outcome.role, outcome.position = command.slot.sku, slot.role, slot.position


def _resolve_exact(
    rt: Runtime, session: Session, principal: Principal, command: UploadCommand, sha256: str
) -> UploadOutcome | None:
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
                            match=match, bytes_saved=len(command.data))
    _finish_slot(session, principal, command, outcome)
    return outcome


def _prepare(rt: Runtime, data: bytes) -> _Prepared:
    sha256 = hashlib.sha256(data).hexdigest()
    decoded = decode(data, rt.limits)
    picture = fingerprint(decoded.image, rt.verify_pool)
    return _Prepared(sha256=sha256, decoded=decoded, picture=picture, prefix=signature_prefix(sha256))


def _blobs(prepared: _Prepared, data: bytes) -> list[tuple[str, bytes, str]]:
    return [
        (original_key(prepared.sha256), data, prepared.decoded.mime_type),
        (signature_key(prepared.prefix), prepared.picture.signature_png, "image/png"),
        (detail_key(prepared.prefix), prepared.picture.detail_png, "image/png"),
    ]


def _fingerprint_row(asset_id: str, upload_id: str, prepared: _Prepared) -> Fingerprint:
    picture = prepared.picture
    h0, h1, h2, h3 = picture.hashes
    summary = picture.verify_image.summary
    return Fingerprint(
        asset_id=asset_id, upload_id=upload_id, signature_key=prepared.prefix, algo_version=picture.algo_version,
        h0=h0, h1=h1, h2=h2, h3=h3, content_width=picture.content_width, content_height=picture.content_height,
        informative=picture.informative, thumb=picture.thumb, detail_side=summary.long_side,
        detail_edge_energy=summary.edge_energy, active=True,
    )


def check_size(rt: Runtime, data: bytes) -> None:
    """Refuse empty or oversized files before any work."""
    if not data:
        raise EmptyImage("the file is empty")
    if len(data) > rt.limits.max_bytes:
        raise FileTooLarge(f"the file has {len(data)} bytes; the limit is {rt.limits.max_bytes}")


def upload(rt: Runtime, principal: Principal, command: UploadCommand) -> UploadOutcome:
    """Register a file: reuse the asset of an exact or verified near copy, or make a new asset."""
    if not principal.can_upload:
        raise Forbidden("platform keys can read listings but not upload")
    check_size(rt, command.data)
    sha256 = hashlib.sha256(command.data).hexdigest()
    with rt.db.unit_of_work() as session:
        outcome = _resolve_exact(rt, session, principal, command, sha256)
        if outcome is not None:
            return outcome
    prepared = _prepare(rt, command.data)
    blobs = _blobs(prepared, command.data)
    for key, data, content_type in blobs:
        rt.store.put_if_absent(key, data, content_type)
    try:
        with rt.db.unit_of_work() as session:
            rt.db.lock_dedup(session)
            outcome = _resolve_exact(rt, session, principal, command, sha256)
            if outcome is None:
                outcome = _register(rt, session, principal, command, prepared)
            # a failed upload of the same bytes may have removed blobs since we wrote them
            for key, data, content_type in blobs:
                if rt.store.head(key) is None:
                    rt.store.put_if_absent(key, data, content_type)
            return outcome
    except BaseException:
        remove_unreferenced_blobs(rt, sha256, [key for key, _, _ in blobs])
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
    rt: Runtime, session: Session, principal: Principal, command: UploadCommand, prepared: _Prepared
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
            id=new_id("ast"), owner_tenant_id=principal.tenant_id, master_upload_id=upload_id,
            master_sha256=prepared.sha256, master_format=decoded.format, width=decoded.width,
            height=decoded.height, size_bytes=len(command.data), master_version=1,
        )
        repository.add(asset)
        row = _new_upload(principal, command, prepared.sha256, asset.id, DedupKind.NEW, facts, match_info)
        row.id = upload_id
        repository.add(row, ContentKey(sha256=prepared.sha256, asset_id=asset.id, size_bytes=len(command.data)))
        repository.add(_fingerprint_row(asset.id, row.id, prepared))
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
    repository.add(_fingerprint_row(asset.id, row.id, prepared))
    master = repository.upload(asset.master_upload_id)
    overlap = best.verification.overlap if best.verification else 0.0
    promoted = master is not None and is_better_copy(row, master, overlap)
    if promoted:
        _promote(rt, session, asset, row)
        match_info["promoted_over_upload_id"] = master.id if master else None
        row.match = dict(match_info)
    outcome = UploadOutcome(asset_id=asset.id, upload_id=row.id, dedup=DedupKind.NEAR, created=False,
                            promoted=promoted, match=match_info)
    _finish_slot(session, principal, command, outcome)
    return outcome


def _promote(rt: Runtime, session: Session, asset: Asset, row: Upload) -> None:
    """Make a better copy the asset's master; the id stays, variant URLs move, aliases follow."""
    asset.master_upload_id = row.id
    asset.master_sha256 = row.sha256
    asset.master_format = row.format
    asset.width, asset.height, asset.size_bytes = row.width, row.height, row.size_bytes
    asset.master_version += 1
    session.flush()
    enqueue(rt, session, JobKind.RENDER_ASSET, asset.id)
    from registry.packs.events import asset_changed  # late: packs build on media

    asset_changed(rt, session, asset.id, "master.promoted")  # pack subscribers get the new immutable URLs


def get_asset(rt: Runtime, session: Session, asset_id: str) -> Asset:
    """An asset by id (or by the id of an asset merged into it)."""
    asset = MediaRepository(session).asset(asset_id)
    if asset is None:
        raise NotFound(f"no asset {asset_id!r}", field="asset_id")
    return asset


def get_upload(rt: Runtime, session: Session, principal: Principal, upload_id: str) -> Upload:
    """One of the caller's uploads."""
    row = MediaRepository(session).upload(upload_id)
    if row is None or row.tenant_id != principal.tenant_id:
        raise NotFound(f"no upload {upload_id!r} for this tenant", field="upload_id")
    return row


@dataclass
class SearchHit:
    """An asset matching a searched picture."""

    asset_id: str
    score: float
    hash_distance: int
    verification: dict[str, object]


def search(rt: Runtime, data: bytes) -> tuple[list[SearchHit], dict[str, object]]:
    """Find canonical assets showing the same picture as `data`; stores nothing."""
    check_size(rt, data)
    sha256 = hashlib.sha256(data).hexdigest()
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
        hits.append(SearchHit(candidate.asset_id, verdict.score if verdict else 0.0, candidate.distance, explanation))
    return hits, report.as_dict()


def _owned_asset(session: Session, principal: Principal, asset_id: str) -> Asset:
    asset = MediaRepository(session).asset(asset_id)
    if asset is None:
        raise NotFound(f"no asset {asset_id!r}", field="asset_id")
    if asset.owner_tenant_id != principal.tenant_id:
        raise Forbidden("only the tenant that first registered an asset may split or merge it")
    return asset


def split(rt: Runtime, principal: Principal, asset_id: str, upload_id: str) -> Asset:
    """Undo a wrong merge: the upload becomes its own asset, remembered as distinct from the old one."""
    with rt.db.unit_of_work() as session:
        rt.db.lock_dedup(session)
        repository = MediaRepository(session)
        asset = _owned_asset(session, principal, asset_id)
        row = repository.upload(upload_id)
        if row is None or row.asset_id != asset.id:
            raise NotFound(f"upload {upload_id!r} is not part of asset {asset.id!r}", field="upload_id")
        if row.sha256 == asset.master_sha256:
            raise Conflict("the master upload cannot be split from its own asset; split the other uploads")
        # The picture leaves with every upload of its bytes (they share one content key), each
        # upload's fingerprint and SKU slots; the first of them was the picture's first registration.
        moving = [u for u in repository.uploads_of_asset(asset.id, limit=10_000) if u.sha256 == row.sha256]
        moving_ids = {u.id for u in moving}
        first = min(moving, key=lambda u: (u.created_at, u.id))
        new_asset = Asset(
            id=new_id("ast"), owner_tenant_id=first.tenant_id, master_upload_id=first.id,
            master_sha256=first.sha256, master_format=first.format, width=first.width, height=first.height,
            size_bytes=first.size_bytes, master_version=1,
        )
        repository.add(new_asset)
        for same_bytes in moving:
            same_bytes.asset_id = new_asset.id
        key = repository.content_key(row.sha256)
        if key is not None:
            key.asset_id = new_asset.id
        fingerprints = [fp for fp in repository.fingerprints_of_asset(asset.id) if fp.upload_id in moving_ids]
        for existing in fingerprints:
            existing.asset_id = new_asset.id
        if not fingerprints:
            data = rt.store.get(original_key(row.sha256))
            prepared = _prepare(rt, data)
            for blob_key, blob, content_type in _blobs(prepared, data)[1:]:
                rt.store.put_if_absent(blob_key, blob, content_type)
            repository.add(_fingerprint_row(new_asset.id, first.id, prepared))
        for slot in SkuRepository(session).slots_using_asset(asset.id):
            if slot.upload_id in moving_ids:
                slot.asset_id = new_asset.id
        repository.add(DedupDecision(id=new_id("dec"), relation="distinct", asset_id=asset.id,
                                     other_asset_id=new_asset.id, tenant_id=principal.tenant_id))
        enqueue(rt, session, JobKind.RENDER_ASSET, new_asset.id)
        session.flush()
        session.expunge(new_asset)
        return new_asset


def merge(rt: Runtime, principal: Principal, asset_id: str, duplicate_asset_id: str) -> Asset:
    """Fold a missed duplicate into an asset; the duplicate's id keeps resolving to it."""
    if asset_id == duplicate_asset_id:
        raise InvalidInput("an asset cannot be merged into itself", field="duplicate_asset_id")
    with rt.db.unit_of_work() as session:
        rt.db.lock_dedup(session)
        repository = MediaRepository(session)
        target = _owned_asset(session, principal, asset_id)
        duplicate = repository.asset(duplicate_asset_id)
        if duplicate is None:
            raise NotFound(f"no asset {duplicate_asset_id!r}", field="duplicate_asset_id")
        if duplicate.id == target.id:
            raise Conflict("these assets are already one")
        if duplicate.owner_tenant_id != principal.tenant_id:
            # Merging redirects every reference to the duplicate, so its owner alone may consent.
            raise Forbidden("only the tenant that first registered an asset may merge it into another")
        repository.move_asset_references(duplicate.id, target.id)
        for slot in SkuRepository(session).slots_using_asset(duplicate.id):
            slot.asset_id = target.id
        # The duplicate row stays so its old immutable variant URLs keep serving; lookups follow it.
        duplicate.merged_into_id = target.id
        repository.add(DedupDecision(id=new_id("dec"), relation="same", asset_id=target.id,
                                     other_asset_id=duplicate.id, tenant_id=principal.tenant_id))
        session.flush()
        session.expunge(target)
        return target



@dataclass
class AssetView:
    """An asset with its upload count and every variant rendered so far."""

    asset: Asset
    uploads: int
    variants: list[Variant]


def describe_asset(rt: Runtime, asset_id: str) -> AssetView:
    """Load an asset for display."""
    with rt.db.read_only() as session:
        asset = get_asset(rt, session, asset_id)
        uploads = MediaRepository(session).count_uploads(asset.id)
        variants = VariantRepository(session).of_asset(asset.id)
        session.expunge_all()
    return AssetView(asset=asset, uploads=uploads, variants=variants)


def recent_uploads(rt: Runtime, principal: Principal, limit: int, before: str | None) -> list[Upload]:
    """The caller's uploads, newest first."""
    with rt.db.read_only() as session:
        return MediaRepository(session).recent_uploads(principal.tenant_id, limit, before)


def describe_upload(rt: Runtime, principal: Principal, upload_id: str) -> Upload:
    """Load one of the caller's uploads for display."""
    with rt.db.read_only() as session:
        row = get_upload(rt, session, principal, upload_id)
        session.expunge(row)
        return row
