"""Wire a Runtime with the right job publisher for its environment."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading

from PIL import Image

from processing.verify import warm_up as warm_up_verification
from registry.runtime import Runtime, build_runtime
from registry.settings import Settings

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
    if settings.embedded_tasks:
        from workers.inprocess import InProcessPublisher

        publisher = InProcessPublisher(rt, settings.inprocess_workers)
        rt.publisher = publisher
        if role == "api":
            publisher.start_sweeper()
    else:
        from workers.celery_app import CeleryPublisher, app_for

        # The runtime's own broker: a test or tool may point it elsewhere than the environment does.
        rt.publisher = CeleryPublisher(app_for(settings))
    if role == "api":
        warm_index(rt)
    warm_up_verification()
    return rt


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
