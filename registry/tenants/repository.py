"""All SQL for tenants and API keys."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

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
