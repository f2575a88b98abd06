"""Platform grants: a seller (brand or merchant) lets a platform tenant read its listings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.errors import Forbidden, InvalidInput, NotFound
from registry.ids import new_id
from registry.models import PlatformGrant, Tenant
from registry.tenants.repository import TenantRepository
from registry.tenants.service import Principal, TenantKind


@dataclass(frozen=True)
class GrantInfo:
    """A grant as its seller sees it: the platform's public name, not its id."""

    id: str
    platform: str
    created_at: datetime


def _platform_by_name(session: Session, name: str) -> Tenant:
    tenant = TenantRepository(session).get_by_name(name.strip())
    if tenant is None or tenant.kind != TenantKind.PLATFORM.value:
        raise NotFound(f"no platform called {name!r}", field="platform")
    return tenant


def grant(session: Session, seller: Principal, platform_name: str) -> GrantInfo:
    """Let a platform read the seller's listings; granting twice is the same grant."""
    if not seller.can_upload:
        raise Forbidden("only sellers (brand or merchant keys) share their listings with a platform")
    if not platform_name or len(platform_name) > 200:
        raise InvalidInput("name the platform tenant", field="platform")
    platform = _platform_by_name(session, platform_name)
    row = session.scalars(select(PlatformGrant).where(
        PlatformGrant.seller_tenant_id == seller.tenant_id, PlatformGrant.platform_tenant_id == platform.id,
    )).one_or_none()
    if row is None:
        row = PlatformGrant(id=new_id("grt"), seller_tenant_id=seller.tenant_id, platform_tenant_id=platform.id)
        session.add(row)
        session.flush()
    return GrantInfo(id=row.id, platform=platform.name, created_at=row.created_at)


def grants_of(session: Session, seller: Principal) -> list[GrantInfo]:
    """The seller's grants."""
    rows = session.execute(
        select(PlatformGrant, Tenant.name).join(Tenant, Tenant.id == PlatformGrant.platform_tenant_id)
        .where(PlatformGrant.seller_tenant_id == seller.tenant_id).order_by(PlatformGrant.id)
    ).all()
    return [GrantInfo(id=row[0].id, platform=row[1], created_at=row[0].created_at) for row in rows]


def withdraw(session: Session, seller: Principal, grant_id: str) -> None:
    """End a grant; the platform loses access with its next request."""
    row = session.get(PlatformGrant, grant_id)
    if row is None or row.seller_tenant_id != seller.tenant_id:
        raise NotFound(f"no grant {grant_id!r} for this tenant", field="grant_id")
    session.delete(row)
    session.flush()


def sellers_sharing_with(session: Session, platform: Principal) -> dict[str, str]:
    """Seller tenant name → id, for every seller that granted this platform access."""
    rows = session.execute(
        select(Tenant.name, Tenant.id).join(PlatformGrant, PlatformGrant.seller_tenant_id == Tenant.id)
        .where(PlatformGrant.platform_tenant_id == platform.tenant_id)
    ).all()
    return {row[0]: row[1] for row in rows}


def listing_owner(session: Session, caller: Principal, seller_name: str | None) -> str:
    """Whose listing the caller may read: its own, or (platforms) a seller that granted it access."""
    if caller.kind is not TenantKind.PLATFORM:
        if seller_name not in (None, "", caller.tenant_name):
            raise Forbidden("only platform keys read other tenants' listings, and only when shared")
        return caller.tenant_id
    if not seller_name:
        raise InvalidInput("platform keys name the seller whose listing they read: ?seller=NAME", field="seller")
    sharing = sellers_sharing_with(session, caller)
    if seller_name not in sharing:
        # The same answer whether the seller exists or not: a platform cannot probe tenant names.
        raise NotFound(f"no listings shared by {seller_name!r} with this platform", field="seller")
    return sharing[seller_name]
