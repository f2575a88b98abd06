"""Reading assets and uploads for display: frozen records, never rows."""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.orm import Session

from registry.media import trust
from registry.media.lookup import require_asset, require_own_upload
from registry.media.repository import MediaRepository
from registry.models import Asset, Upload
from registry.records import AssetRecord, UploadRecord, VariantRecord
from registry.runtime import Runtime
from registry.tenants.service import Principal
from registry.variants.repository import VariantRepository


def get_asset(rt: Runtime, session: Session, asset_id: str) -> Asset:
    """Helper: an asset row by id (or by the id of an asset merged into it)."""
    return require_asset(session, asset_id)


def get_upload(rt: Runtime, session: Session, principal: Principal, upload_id: str) -> Upload:
    """Helper: one of the caller's upload rows."""
    return require_own_upload(session, principal.tenant_id, upload_id)


@dataclass(frozen=True)
class AssetView:
    """An asset with its upload count and every variant rendered so far."""

    asset: AssetRecord
    uploads: int
    variants: list[VariantRecord]


def describe_asset(rt: Runtime, asset_id: str) -> AssetView:
    """Use case: load an asset for display."""
    with rt.db.read_only() as session:
        asset = require_asset(session, asset_id)
        uploads = MediaRepository(session).count_uploads(asset.id)
        variants = [VariantRecord.of(row) for row in VariantRepository(session).of_asset(asset.id)]
        return AssetView(asset=AssetRecord.of(asset), uploads=uploads, variants=variants)


def recent_uploads(rt: Runtime, principal: Principal, limit: int, before: str | None) -> list[UploadRecord]:
    """Use case: the caller's uploads, newest first."""
    with rt.db.read_only() as session:
        rows = MediaRepository(session).recent_uploads(principal.tenant_id, limit, before)
        shown = trust.redact_matches(session, principal, [dict(row.match or {}) for row in rows])
        return [replace(UploadRecord.of(row), match=match) for row, match in zip(rows, shown, strict=True)]


def describe_upload(rt: Runtime, principal: Principal, upload_id: str) -> UploadRecord:
    """Use case: load one of the caller's uploads for display."""
    with rt.db.read_only() as session:
        row = require_own_upload(session, principal.tenant_id, upload_id)
        [shown] = trust.redact_matches(session, principal, [dict(row.match or {})])
        return replace(UploadRecord.of(row), match=shown)
