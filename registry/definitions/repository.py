"""The SQL tenant profiles and tenant platforms share: a definition by name, its versions, the listing."""

from __future__ import annotations

from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from registry.models import DefinitionVersion, TenantDefinition

RowT = TypeVar("RowT", bound=TenantDefinition)
VersionT = TypeVar("VersionT", bound=DefinitionVersion)


class DefinitionRepository(Generic[RowT, VersionT]):
    """Queries on one kind of tenant definition; a subclass names its models and how versions point at a row."""

    row: type[RowT]
    version: type[VersionT]

    def __init__(self, session: Session) -> None:
        self.session = session

    def _versions_of(self, definition_id: str) -> ColumnElement[bool]:
        """The condition that picks one definition's version rows (each kind names its key column)."""
        raise NotImplementedError

    def get(self, name: str) -> RowT | None:
        """The definition called `name` (full `namespace~name`)."""
        return self.session.scalars(select(self.row).where(self.row.name == name)).one_or_none()

    def versions(self, definition_id: str) -> list[VersionT]:
        """Every version of a definition, oldest first."""
        return list(self.session.scalars(select(self.version).where(self._versions_of(definition_id))
                                         .order_by(self.version.number)))

    def listed(self, tenant_id: str | None) -> list[RowT]:
        """The tenant's own definitions (retired too) and every published one still in use, by name."""
        shown: ColumnElement[bool] = self.row.published_at.is_not(None) & self.row.retired_at.is_(None)
        if tenant_id is not None:
            shown = or_(shown, self.row.tenant_id == tenant_id)
        return list(self.session.scalars(select(self.row).where(shown).order_by(self.row.name)))

    def add(self, *rows: object) -> None:
        """Stage rows and flush (a unique name or version number taken meanwhile raises here)."""
        self.session.add_all(rows)
        self.session.flush()
