"""Tenant profiles as the render path sees them: records built from rows, kept briefly per process."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace

from processing.profiles import Profile, parse_profile
from registry.db import Database
from registry.definitions.record import DefinitionRecord
from registry.models import TenantProfile, TenantProfileVersion
from registry.profiles.repository import ProfileRepository


@dataclass(frozen=True)
class TenantProfileRecord(DefinitionRecord[Profile]):
    """A tenant profile with every version's definition (oldest first; the current one renders new variants)."""

    @classmethod
    def of(cls, row: TenantProfile, versions: list[TenantProfileVersion]) -> TenantProfileRecord:
        """The record of a row and its version rows."""
        return cls(
            id=row.id, name=row.name, tenant_id=row.tenant_id, display_name=row.display_name,
            versions=tuple(replace(parse_profile(row.name, dict(v.definition)), version=v.number) for v in versions),
            created_at=row.created_at, updated_at=row.updated_at, published_at=row.published_at,
            retired_at=row.retired_at,
        )


class ProfileCache:
    """Tenant profiles by name, each trusted for `ttl` seconds (a miss for `miss_ttl`), least recently used dropped.

    A change made in this process is seen at once (`forget`); one made in another process within `ttl`.
    """

    def __init__(self, ttl: float = 5.0, miss_ttl: float = 1.0, size: int = 10_000) -> None:
        self.ttl, self.miss_ttl, self.size = ttl, miss_ttl, size
        self._entries: OrderedDict[str, tuple[float, TenantProfileRecord | None]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, db: Database, name: str) -> TenantProfileRecord | None:
        """The profile called `name`, read from the database when not known or no longer fresh."""
        now = time.monotonic()
        with self._lock:
            found = self._entries.get(name)
            if found is not None and found[0] > now:
                self._entries.move_to_end(name)
                return found[1]
        with db.read_only() as session:
            repository = ProfileRepository(session)
            row = repository.get(name)
            record = TenantProfileRecord.of(row, repository.versions(row.id)) if row is not None else None
        with self._lock:
            self._entries[name] = (now + (self.ttl if record is not None else self.miss_ttl), record)
            self._entries.move_to_end(name)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
        return record

    def forget(self, name: str) -> None:
        """Drop what is known of `name` (after this process changed it)."""
        with self._lock:
            self._entries.pop(name, None)
