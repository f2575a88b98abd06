"""Corrections: a tenant splits its own wrongly merged upload out of an asset; an owner merges a missed duplicate in.

Both move only the caller's own uploads, slots and references (docs/security.md, trust rules)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.ids import new_id, new_opaque_id
from registry.jobs.service import JobKind, enqueue
from registry.media import trust
from registry.media.blobs import original_key
from registry.media.lookup import require_asset
from registry.media.picture import blobs, fingerprint_row, prepare
from registry.media.repository import MediaRepository
from registry.media.trust_repository import TrustRepository
from registry.models import Asset, DedupDecision
from registry.records import AssetRecord
from registry.runtime import Runtime
from registry.skus.repository import SkuRepository
from registry.tenants.service import Principal


def _owned_asset(session: Session, principal: Principal, asset_id: str) -> Asset:
    asset = require_asset(session, asset_id)
    if asset.owner_tenant_id != principal.tenant_id:
        raise Forbidden("only the tenant that first registered an asset may split or merge it")
    return asset


def split(rt: Runtime, principal: Principal, asset_id: str, upload_id: str) -> AssetRecord:
    """Use case: undo a wrong merge; the upload becomes its own asset, remembered as distinct."""
    with rt.db.unit_of_work() as session:
        rt.db.lock_dedup(session)
        repository = MediaRepository(session)
        asset = require_asset(session, asset_id)
        row = repository.upload(upload_id)
        if row is None or row.asset_id != asset.id:
            raise NotFound(f"upload {upload_id!r} is not part of asset {asset.id!r}", field="upload_id")
        if row.tenant_id != principal.tenant_id:
            # A split changes what the upload's listings show: only its uploader decides that.
            raise Forbidden("only the tenant that uploaded a picture may split it out of an asset")
        if row.sha256 == asset.master_sha256:
            raise Conflict("the master upload cannot be split from its own asset; split the other uploads")
        # The picture leaves with the caller's uploads of its bytes, their fingerprints and the caller's
        # SKU slots. Other tenants' uploads of the same bytes stay, and with them the exact-bytes lookup.
        same_bytes = [u for u in repository.uploads_of_asset(asset.id, limit=10_000) if u.sha256 == row.sha256]
        moving = [u for u in same_bytes if u.tenant_id == principal.tenant_id]
        shared = len(moving) < len(same_bytes)
        moving_ids = {u.id for u in moving}
        first = min(moving, key=lambda u: (u.created_at, u.id))
        new_asset = Asset(
            id=new_opaque_id("ast"), owner_tenant_id=first.tenant_id, master_upload_id=first.id,
            master_sha256=first.sha256, master_format=first.format, width=first.width, height=first.height,
            size_bytes=first.size_bytes, master_version=1,
        )
        trust.set_provenance(new_asset, first, principal.kind.value)
        repository.add(new_asset)
        for moved in moving:
            moved.asset_id = new_asset.id
        key = repository.content_key(row.sha256)
        if key is not None and not shared:
            key.asset_id = new_asset.id
        fingerprints = [] if shared else [
            fp for fp in repository.fingerprints_of_asset(asset.id) if fp.upload_id in moving_ids]
        for existing in fingerprints:
            existing.asset_id = new_asset.id
        if not fingerprints:
            data = rt.store.get(original_key(row.sha256))
            prepared = prepare(rt, data, row.sha256)
            for blob_key, blob, content_type in blobs(prepared, data)[1:]:
                rt.store.put_if_absent(blob_key, blob, content_type)
            repository.add(fingerprint_row(new_asset.id, first.id, prepared))
        for slot in TrustRepository(session).slots_of_tenant_on_asset(principal.tenant_id, asset.id):
            if slot.upload_id in moving_ids:
                slot.asset_id = new_asset.id
        repository.add(DedupDecision(id=new_id("dec"), relation="distinct", asset_id=asset.id,
                                     other_asset_id=new_asset.id, tenant_id=principal.tenant_id))
        enqueue(rt, session, JobKind.RENDER_ASSET, new_asset.id)
        session.flush()
        return AssetRecord.of(new_asset)


def _move_own_references(session: Session, principal: Principal, duplicate: Asset, target: Asset) -> None:
    repository, trusted = MediaRepository(session), TrustRepository(session)
    uploads = trusted.uploads_of_asset(duplicate.id)
    others_bytes = {u.sha256 for u in uploads if u.tenant_id != principal.tenant_id} | {duplicate.master_sha256}
    for row in uploads:
        if row.tenant_id != principal.tenant_id or row.sha256 in others_bytes:
            continue
        row.asset_id = target.id
        key = repository.content_key(row.sha256)
        if key is not None and key.asset_id == duplicate.id:
            key.asset_id = target.id
        fingerprint_row_of = repository.fingerprint_of_upload(row.id)
        if fingerprint_row_of is not None:
            fingerprint_row_of.asset_id = target.id
    for slot in trusted.slots_of_tenant_on_asset(principal.tenant_id, duplicate.id):
        slot.asset_id = target.id


def merge(rt: Runtime, principal: Principal, asset_id: str, duplicate_asset_id: str) -> AssetRecord:
    """Use case: fold a missed duplicate into an asset; the duplicate's id keeps resolving to it."""
    if asset_id == duplicate_asset_id:
        raise InvalidInput("an asset cannot be merged into itself", field="duplicate_asset_id")
    with rt.db.unit_of_work() as session:
        rt.db.lock_dedup(session)
        repository = MediaRepository(session)
        target = _owned_asset(session, principal, asset_id)
        duplicate = require_asset(session, duplicate_asset_id, field="duplicate_asset_id")
        if duplicate.id == target.id:
            raise Conflict("these assets are already one")
        if duplicate.owner_tenant_id != principal.tenant_id:
            # Merging redirects every reference to the duplicate, so its owner alone may consent.
            raise Forbidden("only the tenant that first registered an asset may merge it into another")
        if TrustRepository(session).other_tenants_on_asset(principal.tenant_id, duplicate.id):
            # Other tenants list or uploaded the duplicate: what they show, its alias URLs and its
            # exact-bytes lookup stay. Only the caller's own uploads (of bytes nobody else sent, other
            # than the duplicate's master) and the caller's own slots move.
            _move_own_references(session, principal, duplicate, target)
        else:
            repository.move_asset_references(duplicate.id, target.id)
            for slot in SkuRepository(session).slots_using_asset(duplicate.id):
                slot.asset_id = target.id
            # The duplicate row stays so its old immutable variant URLs keep serving; lookups follow it.
            duplicate.merged_into_id = target.id
        repository.add(DedupDecision(id=new_id("dec"), relation="same", asset_id=target.id,
                                     other_asset_id=duplicate.id, tenant_id=principal.tenant_id))
        session.flush()
        return AssetRecord.of(target)
