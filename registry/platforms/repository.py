"""All SQL for tenant platforms and their versions."""

from __future__ import annotations

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from registry.models import TenantPlatform, TenantPlatformVersion


class PlatformRepository:
    """Queries on tenant platforms."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, name: str) -> TenantPlatform | None:
        """The platform called `name` (full `namespace~name`)."""
        return self.session.scalars(select(TenantPlatform).where(TenantPlatform.name == name)).one_or_none()

    def versions(self, platform_id: str) -> list[TenantPlatformVersion]:
        """Every version of a platform, oldest first."""
        return list(self.session.scalars(select(TenantPlatformVersion).where(
            TenantPlatformVersion.platform_id == platform_id).order_by(TenantPlatformVersion.number)))

    def listed(self, tenant_id: str | None) -> list[TenantPlatform]:
        """The tenant's own platforms (retired too) and every published one still in use, by name."""
        shown: ColumnElement[bool] = TenantPlatform.published_at.is_not(None) & TenantPlatform.retired_at.is_(None)
        if tenant_id is not None:
            shown = or_(shown, TenantPlatform.tenant_id == tenant_id)
        return list(self.session.scalars(select(TenantPlatform).where(shown).order_by(TenantPlatform.name)))

    def add(self, *rows: object) -> None:
        """Stage rows and flush (a unique name or version number taken meanwhile raises here)."""
        self.session.add_all(rows)
        self.session.flush()
