"""Promotion: a verified better copy of a picture becomes its asset's master."""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.jobs.service import JobKind, enqueue
from registry.models import Asset, Upload
from registry.runtime import Runtime


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


def promote(rt: Runtime, session: Session, asset: Asset, row: Upload) -> None:
    """Make a better copy the asset's master; the id stays, variant URLs move, aliases follow."""
    asset.master_upload_id = row.id
    asset.master_sha256 = row.sha256
    asset.master_format = row.format
    asset.width, asset.height, asset.size_bytes = row.width, row.height, row.size_bytes
    asset.master_version += 1
    session.flush()
    enqueue(rt, session, JobKind.RENDER_ASSET, asset.id)
