"""Placeholder for helper "security"'s brand-authority hook (issue 13 items 1-2); replaced at merge.

Until the real rule lands, a brand's official upload simply becomes its asset's master.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.errors import NotFound
from registry.jobs.service import JobKind, enqueue
from registry.media.repository import MediaRepository
from registry.runtime import Runtime


def make_official_master(session: Session, rt: Runtime, *, asset_id: str, upload_id: str, brand_tenant_id: str,
                         brand_name: str) -> bool:
    """Point the asset's master at the brand's upload and queue a render; True when the master changed."""
    repository = MediaRepository(session)
    asset = repository.asset(asset_id)
    row = repository.upload(upload_id)
    if asset is None or row is None:
        raise NotFound(f"no asset {asset_id!r} with upload {upload_id!r}")
    if asset.master_upload_id == row.id or asset.master_sha256 == row.sha256:
        return False
    asset.master_upload_id, asset.master_sha256, asset.master_format = row.id, row.sha256, row.format
    asset.width, asset.height, asset.size_bytes = row.width, row.height, row.size_bytes
    asset.master_version += 1
    session.flush()
    enqueue(rt, session, JobKind.RENDER_ASSET, asset.id)
    return True
