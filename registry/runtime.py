"""The objects a process builds once from Settings and hands to every request and task.

Only the composition root, `workers/bootstrap.py`, builds and closes one.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from processing.decode import DecodeLimits
from processing.hash_index import CandidateIndex
from processing.profiles import Catalog
from processing.verify import VerifyThresholds
from registry.db import Database
from registry.profiles.cache import ProfileCache
from registry.settings import Settings
from storage import BlobStore

if TYPE_CHECKING:
    from registry.models import Job


class JobPublisher(Protocol):
    """Sends a committed outbox job to whatever runs jobs (Celery or an in-process pool)."""

    def publish(self, job_id: str, kind: str) -> None:
        """Hand the job over; must not raise for a job that can be retried later."""
        ...


class _NoPublisher:
    def publish(self, job_id: str, kind: str) -> None:
        """Leave the job to the sweeper."""


@dataclass
class Runtime:
    """Settings plus the database, blob store, profile catalogue, index and job publisher."""

    settings: Settings
    db: Database
    store: BlobStore
    catalog: Catalog
    limits: DecodeLimits
    thresholds: VerifyThresholds
    index: CandidateIndex = field(default_factory=CandidateIndex)
    publisher: JobPublisher = field(default_factory=_NoPublisher)
    verify_pool: ThreadPoolExecutor | None = None
    # Called before each job runs; empty in production (tests install fault injection here).
    job_hooks: list[Callable[[Runtime, Job], None]] = field(default_factory=list)
    # Tenants' own profiles (registry rows), looked up by name on the render path.
    tenant_profiles: ProfileCache = field(default_factory=ProfileCache)

    def __post_init__(self) -> None:
        # `name in catalog.profiles` must let tenants' names through to the registry's lookup (ProfileTable)
        self.catalog = self.catalog.with_tenant_names()

    def close(self) -> None:
        """Release pooled connections and verification threads."""
        if self.verify_pool is not None:
            self.verify_pool.shutdown(wait=False, cancel_futures=True)
        self.db.dispose()
