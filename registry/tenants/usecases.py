"""Key and grant use cases for a tenant's own key: each owns its unit of work."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from registry.db import Database
from registry.errors import NotFound
from registry.runtime import Runtime
from registry.tenants import grants
from registry.tenants import service as tenants
from registry.tenants.repository import TenantRepository
from registry.tenants.service import KeyInfo, Principal


def own_keys(rt: Runtime, principal: Principal) -> list[KeyInfo]:
    """The caller's tenant's keys."""
    with rt.db.read_only() as session:
        return tenants.list_keys(session, principal.tenant_id)


def new_own_key(rt: Runtime, principal: Principal, label: str, expires_at: datetime | None) -> tuple[KeyInfo, str]:
    """Another key for the caller's tenant; the plain key is returned once."""
    with rt.db.unit_of_work() as session:
        return tenants.issue_tenant_key(session, principal.tenant_id, label=label, expires_at=expires_at)


def revoke_own_key(rt: Runtime, principal: Principal, key_id: str) -> KeyInfo:
    """Revoke one of the caller's tenant's keys (the calling key included)."""
    with rt.db.unit_of_work() as session:
        return tenants.revoke_key(session, principal.tenant_id, key_id)


def rotate_own_key(rt: Runtime, principal: Principal, key_id: str,
                   expires_at: datetime | None) -> tuple[KeyInfo, str]:
    """Replace one of the caller's tenant's keys."""
    with rt.db.unit_of_work() as session:
        return tenants.rotate_key(session, principal.tenant_id, key_id, expires_at=expires_at)


def listing_owner(rt: Runtime, principal: Principal, seller: str | None) -> str:
    """Whose SKUs and listings the caller reads: its own, or a seller that shared them with this platform."""
    with rt.db.read_only() as session:
        return grants.listing_owner(session, principal, seller)


def share_with_platform(rt: Runtime, principal: Principal, platform: str) -> grants.GrantInfo:
    """Let a platform read the caller's listings."""
    with rt.db.unit_of_work() as session:
        return grants.grant(session, principal, platform)


def own_grants(rt: Runtime, principal: Principal) -> list[grants.GrantInfo]:
    """The caller's grants."""
    with rt.db.read_only() as session:
        return grants.grants_of(session, principal)


def withdraw_grant(rt: Runtime, principal: Principal, grant_id: str) -> None:
    """End one of the caller's grants."""
    with rt.db.unit_of_work() as session:
        grants.withdraw(session, principal, grant_id)


def keys_of_tenant(db: Database, tenant_name: str) -> list[KeyInfo]:
    """Operator use case (CLI): a tenant's keys by tenant name."""
    with db.read_only() as session:
        found = TenantRepository(session).get_by_name(unicodedata.normalize("NFC", tenant_name).strip())
        if found is None:
            raise NotFound(f"no tenant {tenant_name!r}", field="tenant")
        return tenants.list_keys(session, found.id)


def revoke_any_key(db: Database, key_id: str) -> KeyInfo:
    """Operator use case (CLI): revoke any key by id."""
    with db.unit_of_work() as session:
        return tenants.revoke_key(session, None, key_id)


def rotate_any_key(db: Database, key_id: str, expires_at: datetime | None) -> tuple[KeyInfo, str]:
    """Operator use case (CLI): replace any key by id."""
    with db.unit_of_work() as session:
        return tenants.rotate_key(session, None, key_id, expires_at=expires_at)
