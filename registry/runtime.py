"""The objects a process builds once from Settings and hands to every request and task."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from processing.decode import DecodeLimits
from processing.hash_index import CandidateIndex
from processing.profiles import Catalog, load_catalog
from processing.verify import VerifyThresholds
from registry.db import Database
from registry.settings import Settings
from storage import BlobStore, open_store


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

    def close(self) -> None:
        """Release pooled connections and verification threads."""
        if self.verify_pool is not None:
            self.verify_pool.shutdown(wait=False, cancel_futures=True)
        self.db.dispose()


def build_runtime(settings: Settings) -> Runtime:
    """Create the database (migrated), blob store and catalogue that `settings` name."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    db.migrate()
    secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None
    store = open_store(
        settings.resolved_storage_url,
        endpoint_url=settings.s3_endpoint_url,
        region=settings.s3_region,
        access_key_id=settings.s3_access_key_id,
        secret_access_key=secret,
        multipart_threshold=settings.s3_multipart_threshold,
    )
    limits = DecodeLimits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
        max_side=settings.max_side,
        max_frames=settings.max_frames,
        formats=tuple(settings.allowed_formats),
    )
    thresholds = VerifyThresholds(
        max_structure_diff=settings.dedup_max_structure_diff,
        max_colour_diff=settings.dedup_max_colour_diff,
    )
    index = CandidateIndex()
    if settings.index_snapshot:
        # The snapshot only saves start-up time: rows newer than its watermark come from the database.
        index = CandidateIndex.load_or_build(settings.index_snapshot_path, tag=settings.resolved_database_url)
    return Runtime(
        settings=settings,
        index=index,
        db=db,
        store=store,
        catalog=load_catalog(settings.profiles_file),
        limits=limits,
        thresholds=thresholds,
        verify_pool=verification_pool(settings.dedup_verify_threads),
    )


def verification_pool(threads: int) -> ThreadPoolExecutor | None:
    """Threads that verify dedup candidates side by side; none (verify inline) for one thread."""
    return ThreadPoolExecutor(threads, thread_name_prefix="skupix-verify") if threads > 1 else None
