"""Wire a Runtime with the right job publisher for its environment."""

from __future__ import annotations

import logging
import os

from PIL import Image

from registry.runtime import Runtime, build_runtime
from registry.settings import Settings

log = logging.getLogger(__name__)


def configure_image_limits(settings: Settings) -> None:
    """Apply the pixel budget process-wide, before any decoder runs (Pillow and OpenCV)."""
    Image.MAX_IMAGE_PIXELS = settings.max_pixels
    os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(settings.max_pixels))


def create_runtime(settings: Settings, *, role: str = "api") -> Runtime:
    """Build the runtime; embedded mode runs jobs on an in-process pool with its own sweeper."""
    configure_image_limits(settings)
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
    return rt


def close_runtime(rt: Runtime) -> None:
    """Stop background pools and release connections."""
    close = getattr(rt.publisher, "close", None)
    if callable(close):
        close()
    rt.close()
