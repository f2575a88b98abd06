"""Run one outbox job: the same code whether a Celery worker or the in-process pool calls it."""

from __future__ import annotations

import logging
import traceback
from enum import StrEnum

from processing.errors import ImageError
from registry.errors import NotFound
from registry.jobs import service as jobs
from registry.jobs.service import JobKind
from registry.runtime import Runtime
from registry.variants import service as variants

log = logging.getLogger(__name__)


class JobResult(StrEnum):
    """What running a job came to."""

    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    QUARANTINED = "quarantined"


class TransientJobError(Exception):
    """A job failed for a reason that may pass (store or database unreachable); retry it."""


def run_job(rt: Runtime, job_id: str) -> JobResult:
    """Run a job idempotently; permanent failures are quarantined, transient ones raise for retry."""
    job = jobs.start(rt, job_id)
    if job is None:
        return JobResult.SKIPPED
    try:
        if job.kind == JobKind.RENDER_ASSET:
            variants.render_missing(rt, job.subject)
        else:
            raise NotFound(f"unknown job kind {job.kind!r}")
    except (ImageError, NotFound) as exc:
        log.error("job %s (%s %s) failed permanently: %s", job.id, job.kind, job.subject, exc)
        jobs.fail(rt, job.id, f"{type(exc).__name__}: {exc}", permanent=True)
        return JobResult.QUARANTINED
    except Exception as exc:
        jobs.fail(rt, job.id, traceback.format_exc(), permanent=False)
        raise TransientJobError(f"job {job.id} failed: {exc}") from exc
    jobs.finish(rt, job.id)
    return JobResult.DONE
