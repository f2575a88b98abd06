"""Loading an asset or upload a use case needs, with the one NotFound each raises when it is missing."""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.errors import NotFound
from registry.media.repository import MediaRepository
from registry.models import Asset, Upload


def require_asset(session: Session, asset_id: str, *, field: str | None = "asset_id") -> Asset:
    """An asset by id (or by the id of an asset merged into it); NotFound names `field` if given."""
    asset = MediaRepository(session).asset(asset_id)
    if asset is None:
        details = {"field": field} if field else {}
        raise NotFound(f"no asset {asset_id!r}", **details)
    return asset


def require_own_upload(session: Session, tenant_id: str, upload_id: str) -> Upload:
    """One of a tenant's uploads; another tenant's upload is as unknown as a missing one."""
    row = MediaRepository(session).upload(upload_id)
    if row is None or row.tenant_id != tenant_id:
        raise NotFound(f"no upload {upload_id!r} for this tenant", field="upload_id")
    return row
