"""A tenant definition (profile or platform) as services see it: read from its rows, never changed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

ContentT = TypeVar("ContentT")


@dataclass(frozen=True)
class DefinitionRecord(Generic[ContentT]):
    """A tenant definition with every version's content (oldest first; the last is current)."""

    id: str
    name: str
    tenant_id: str
    display_name: str
    versions: tuple[ContentT, ...]
    created_at: datetime
    updated_at: datetime
    published_at: datetime | None
    retired_at: datetime | None

    @property
    def current(self) -> ContentT:
        """The content new use takes."""
        return self.versions[-1]

    @property
    def published(self) -> bool:
        """Whether every tenant may see and use it."""
        return self.published_at is not None

    @property
    def retired(self) -> bool:
        """Whether it serves nothing new (what was made from it stays)."""
        return self.retired_at is not None

    def visible_to(self, tenant_id: str | None) -> bool:
        """Whether a tenant (None: an anonymous caller) may know this definition exists."""
        return self.published or (tenant_id is not None and tenant_id == self.tenant_id)
