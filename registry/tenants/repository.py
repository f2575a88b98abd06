"""All SQL for tenants and API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from registry.ids import is_well_formed
from registry.models import ApiKey, Tenant


class TenantRepository:
    """Queries on tenants and their keys."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_name(self, name: str) -> Tenant | None:
        """The tenant called `name`, if any."""
        return self.session.scalars(select(Tenant).where(Tenant.name == name)).one_or_none()

    def get(self, tenant_id: str) -> Tenant | None:
        """The tenant with this id, if any."""
        return self.session.get(Tenant, tenant_id)

    def add(self, tenant: Tenant) -> Tenant:
        """Stage a new tenant."""
        self.session.add(tenant)
        self.session.flush()
        return tenant

    def add_key(self, key: ApiKey) -> ApiKey:
        """Stage a new API key."""
        self.session.add(key)
        self.session.flush()
        return key

    def active_key_by_hash(self, key_hash: str) -> tuple[ApiKey, Tenant] | None:
        """The unrevoked key with this hash and its tenant."""
        row = self.session.execute(
            select(ApiKey, Tenant)
            .join(Tenant, Tenant.id == ApiKey.tenant_id)
            .where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        ).one_or_none()
        return (row[0], row[1]) if row else None

    def key(self, key_id: str) -> ApiKey | None:
        """The key with this id."""
        return self.session.get(ApiKey, key_id) if is_well_formed(key_id) else None

    def keys_of(self, tenant_id: str) -> list[ApiKey]:
        """A tenant's keys, newest first."""
        return list(self.session.scalars(
            select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id.desc())
        ))

    def touch_key(self, key_id: str, now: datetime, unless_after: datetime) -> None:
        """Set a key's last-used time unless it was set after `unless_after` (one cheap UPDATE)."""
        self.session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < unless_after))
            .values(last_used_at=now)
        )
