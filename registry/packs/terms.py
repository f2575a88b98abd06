"""The one serving check for brand terms: embargo, expiry and revocation of pack pictures.

Every path that hands out an asset's pictures (variant and alias URLs, asset lookups, search hits,
listings, pack manifests and ZIPs) asks `asset_visibility` before it answers. An asset no published
pack version names is unaffected. An asset a pack names is shown to others only while some version
holding it is released (its embargo has passed) and unexpired, and no version revoked it; the
brand that published it always sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from registry.errors import NotFound
from registry.media.repository import MediaRepository
from registry.models import utcnow
from registry.packs.repository import PackRepository
from registry.runtime import Runtime


@dataclass(frozen=True)
class Visibility:
    """Whether a viewer may see an asset's pictures, and until when they may be served or cached."""

    allowed: bool
    until: datetime | None = None
    restricted: bool = False  # true while only the brand may see it (embargo, expiry, revocation)


class TermsRow(Protocol):
    """What the visibility rule reads of a pack's terms for one asset (a PackAsset row or a cached copy)."""

    @property
    def brand_tenant_id(self) -> str:
        """The brand that published the pack."""
        ...

    @property
    def embargo_until(self) -> datetime | None:
        """Before this, only the brand sees the picture."""
        ...

    @property
    def expires_at(self) -> datetime | None:
        """After this, only the brand sees the picture."""
        ...

    @property
    def revoked_at(self) -> datetime | None:
        """Set when the brand withdrew the picture."""
        ...


@dataclass(frozen=True)
class CachedTerms:
    """A detached copy of one terms row, for processes that cache terms between requests (hotlinks)."""

    brand_tenant_id: str
    embargo_until: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


def _released(row: TermsRow, now: datetime) -> bool:
    return (row.revoked_at is None and (row.embargo_until is None or row.embargo_until <= now)
            and (row.expires_at is None or row.expires_at > now))


def visibility_of_rows(rows: Sequence[TermsRow], viewer_tenant_id: str | None, now: datetime) -> Visibility:
    """The rule itself, on the terms rows naming one asset."""
    if not rows:
        return Visibility(allowed=True)
    released = [row for row in rows if _released(row, now)]
    revoked = any(row.revoked_at is not None for row in rows)
    if released and not revoked:
        expiries = [row.expires_at for row in released]
        until = None if any(e is None for e in expiries) else max(e for e in expiries if e is not None)
        return Visibility(allowed=True, until=until)
    is_brand = viewer_tenant_id is not None and any(row.brand_tenant_id == viewer_tenant_id for row in rows)
    return Visibility(allowed=is_brand, restricted=True)


def asset_visibility(session: Session, asset_id: str, viewer_tenant_id: str | None,
                     now: datetime | None = None) -> Visibility:
    """Whether `viewer_tenant_id` (None: anonymous) may see the asset, following merges."""
    ids = [asset_id]
    asset = MediaRepository(session).asset(asset_id)
    if asset is not None and asset.id != asset_id:
        ids.append(asset.id)
    return visibility_of_rows(PackRepository(session).terms_rows(ids), viewer_tenant_id, now or utcnow())


def asset_terms(rt: Runtime, asset_id: str) -> tuple[CachedTerms, ...]:
    """Every pack-terms row naming the asset (following merges), detached so a process may cache them."""
    with rt.db.read_only() as session:
        ids = [asset_id]
        asset = MediaRepository(session).asset(asset_id)
        if asset is not None and asset.id != asset_id:
            ids.append(asset.id)
        return tuple(CachedTerms(r.brand_tenant_id, r.embargo_until, r.expires_at, r.revoked_at)
                     for r in PackRepository(session).terms_rows(ids))


def check_asset_visible(rt: Runtime, asset_id: str, viewer_tenant_id: str | None) -> Visibility:
    """NotFound unless the viewer may see the asset (the answer never says an embargoed picture exists)."""
    with rt.db.read_only() as session:
        seen = asset_visibility(session, asset_id, viewer_tenant_id)
    if not seen.allowed:
        raise NotFound(f"no asset {asset_id!r}", field="asset_id")
    return seen


def visible_asset_ids(rt: Runtime, asset_ids: list[str], viewer_tenant_id: str | None) -> set[str]:
    """The subset of asset ids the viewer may see (for search hits and listings)."""
    with rt.db.read_only() as session:
        return {a for a in asset_ids if asset_visibility(session, a, viewer_tenant_id).allowed}
