"""Key and grant use cases for a tenant's own key: each owns its unit of work."""

from __future__ import annotations

from datetime import datetime

from registry.runtime import Runtime
from registry.tenants import grants
from registry.tenants import service as tenants
from registry.tenants.service import KeyInfo, Principal


def own_keys(rt: Runtime, principal: Principal) -> list[KeyInfo]:
    """The caller's tenant's keys."""
    with rt.db.read_only() as session:
        return tenants.list_keys(session, principal.tenant_id)


def new_own_key(rt: Runtime, principal: Principal, label: str, expires_at: datetime | None) -> tuple[KeyInfo, str]:
    """Another key for the caller's tenant; the plain key is returned once."""
    with rt.db.unit_of_work() as session:
        return tenants.issue_key(session, principal.tenant_id, label=label, expires_at=expires_at)


def revoke_own_key(rt: Runtime, principal: Principal, key_id: str) -> KeyInfo:
    """Revoke one of the caller's tenant's keys (the calling key included)."""
    with rt.db.unit_of_work() as session:
        return tenants.revoke_key(session, principal.tenant_id, key_id)


def rotate_own_key(rt: Runtime, principal: Principal, key_id: str,
                   expires_at: datetime | None) -> tuple[KeyInfo, str]:
    """Replace one of the caller's tenant's keys."""
    with rt.db.unit_of_work() as session:
        return tenants.rotate_key(session, principal.tenant_id, key_id, expires_at=expires_at)


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
