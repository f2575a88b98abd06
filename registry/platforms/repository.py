"""All SQL for tenant platforms and their versions (the shared queries: registry/definitions/repository.py)."""

from __future__ import annotations

from sqlalchemy import ColumnElement

from registry.definitions.repository import DefinitionRepository
from registry.models import TenantPlatform, TenantPlatformVersion


class PlatformRepository(DefinitionRepository[TenantPlatform, TenantPlatformVersion]):
    """Queries on tenant platforms."""

    row = TenantPlatform
    version = TenantPlatformVersion

    def _versions_of(self, definition_id: str) -> ColumnElement[bool]:
        """A platform's version rows."""
        return TenantPlatformVersion.platform_id == definition_id
