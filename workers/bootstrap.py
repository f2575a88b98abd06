"""The composition root: the one place that builds and closes a process's Runtime.

The API (`api/app.py` lifespan), the CLI (`api/cli.py`), Celery worker processes
(`workers/celery_app.py`, in its ``worker_process_init`` hook) and the tests all call
`create_runtime(settings, role=...)` and `close_runtime(rt)`; nothing else opens a database, a blob
store or a job publisher. Settings are read by the caller (once per process) and handed in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

from PIL import Image

from processing.decode import DecodeLimits
from processing.hash_index import CandidateIndex
from processing.profiles import load_catalog
from processing.verify import VerifyThresholds
from processing.verify import warm_up as warm_up_verification
from registry.db import Database
from registry.runtime import Runtime
from registry.settings import Settings
from storage import open_store
from workers import faults

log = logging.getLogger(__name__)


def configure_image_limits(settings: Settings) -> None:
    """Apply the pixel budget process-wide, before any decoder runs (Pillow and OpenCV)."""
    # Pillow's guard sits at the largest per-format limit (JPEGs decode reduced); decode's own
    # per-format check is the rule.
    Image.MAX_IMAGE_PIXELS = max(settings.max_pixels, settings.max_pixels_reducible)
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(settings.max_pixels))


_M_TRIM_THRESHOLD = -1  # glibc mallopt parameters (malloc.h)
_M_MMAP_THRESHOLD = -3
_HEAP_BUFFERS_UP_TO = 32 * 1024 * 1024
_KEEP_FREED_UP_TO = 128 * 1024 * 1024


def tune_allocator() -> bool:
    """Serve pixel buffers up to 32 MiB from the heap instead of fresh mmap pages (glibc only).

    Verification allocates and frees dozens of sub-megabyte arrays per candidate; glibc maps the
    larger ones afresh each time and, once a second thread allocates, trims its heaps eagerly, so
    every buffer costs page faults. Measured in benchmarks/dedup_decision.py: hashing and
    verification about a fifth faster. Decoded originals beyond 32 MiB still get their own
    mappings, returned to the system when freed. Returns whether the setting took.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False  # not glibc (musl, for one): keep its defaults
    return bool(mallopt(_M_MMAP_THRESHOLD, _HEAP_BUFFERS_UP_TO)) and bool(mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_UP_TO))


def create_runtime(settings: Settings, *, role: str = "api") -> Runtime:
    """Build the runtime; embedded mode runs jobs on an in-process pool with its own sweeper."""
    configure_image_limits(settings)
    tune_allocator()
    rt = build_runtime(settings)
    faults.install_from_environment(rt)
    if settings.embedded_tasks:
        from workers.inprocess import InProcessPublisher

        publisher = InProcessPublisher(rt, settings.inprocess_workers)
        rt.publisher = publisher
        if role == "api":
            publisher.start_sweeper()
    else:
        from workers.celery_config import CeleryPublisher, make_celery

        # The runtime's own app for its own broker: publishing needs no tasks registered.
        rt.publisher = CeleryPublisher(make_celery(settings, set_as_current=False))
    if role == "api":
        warm_index(rt)
    warm_up_verification()
    return rt


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
    limits = decode_limits(settings)
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


def warm_index(rt: Runtime) -> threading.Thread:
    """Load the candidate index from the database in the background, so first uploads don't wait."""

    def load() -> None:
        from registry.media.dedup import refresh_index

        try:
            with rt.db.read_only() as session:
                refresh_index(rt, session)
        except Exception:
            log.warning("index warm-up failed; it will load on first use", exc_info=True)

    thread = threading.Thread(target=load, name="skupix-index-warmup", daemon=True)
    thread.start()
    return thread


def save_index_snapshot(rt: Runtime) -> None:
    """Bring the candidate index up to date and save it, so the next start skips the full load."""
    from registry.media.dedup import refresh_index

    try:
        with rt.db.read_only() as session:
            refresh_index(rt, session)
        if len(rt.index):
            rt.index.save(rt.settings.index_snapshot_path, tag=rt.settings.resolved_database_url)
    except Exception:
        log.warning("could not save the index snapshot", exc_info=True)


def close_runtime(rt: Runtime) -> None:
    """Stop background pools, save the index snapshot and release connections."""
    close = getattr(rt.publisher, "close", None)
    if callable(close):
        close()
    if rt.settings.index_snapshot:
        save_index_snapshot(rt)
    rt.close()


def decode_limits(settings: Settings) -> DecodeLimits:
    """What decoders may accept, from the settings (per-format pixel limits included)."""
    return DecodeLimits(
        max_bytes=settings.max_upload_bytes,
        max_pixels=settings.max_pixels,
        max_side=settings.max_side,
        max_frames=settings.max_frames,
        formats=tuple(settings.allowed_formats),
        max_pixels_reducible=settings.max_pixels_reducible,
    )
