"""Run one outbox job: the same code whether a Celery worker or the in-process pool calls it.

Jobs are idempotent. The job row says whether the work is still to do (a finished or quarantined job
is skipped), and the work itself is keyed by content: a variant's row and blob are named after the
master's SHA-256 and the profile's digest, so a second run finds them and renders nothing.
"""

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
from storage.base import ChecksumMismatch
from workers import purge, webhooks
from workers.memory import release_memory

log = logging.getLogger(__name__)

# Failures that another attempt cannot fix: the picture or its stored bytes are bad, or it is gone.
PERMANENT_ERRORS: tuple[type[Exception], ...] = (ImageError, NotFound, ChecksumMismatch)


class JobResult(StrEnum):
    """What running a job came to."""

    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    RETRYING = "retrying"  # put back to pending with a due time; the sweeper publishes it then
    QUARANTINED = "quarantined"


class TransientJobError(Exception):
    """A job failed for a reason that may pass (store or database unreachable); retry it."""


def run_job(rt: Runtime, job_id: str) -> JobResult:
    """Run a job idempotently; permanent failures are quarantined, transient ones raise for retry.

    `jobs.start` commits the attempt before any work, so an attempt that kills its process still
    counts, and the job is quarantined once `task_max_attempts` attempts have been made.
    """
    try:
        job = jobs.start(rt, job_id)
    except Exception as exc:  # the database is unreachable: nothing was counted, try again later
        raise TransientJobError(f"job {job_id} could not start: {exc}") from exc
    if job is None:
        log.info("job %s skipped: already done, quarantined or unknown", job_id)
        return JobResult.SKIPPED
    try:
        for hook in rt.job_hooks:  # empty in production; tests inject faults here
            hook(rt, job)
        if job.kind == JobKind.RENDER_ASSET:
            try:
                variants.render_missing(rt, job.subject)
            finally:
                release_memory()  # a render decodes the whole master: give its pages back
        elif job.kind == JobKind.DELIVER_WEBHOOK:
            webhooks.deliver(rt, job.subject)
        elif job.kind == JobKind.PURGE_ASSET:
            # An unreachable edge or CDN is no exception: the pass reschedules itself with backoff (in the
            # database), rather than leaving it to the broker's short retry countdowns.
            outcome = JobResult(purge.run(rt, job.id, job.subject, job.attempts))
            if outcome is not JobResult.DONE:
                return outcome
        else:
            raise NotFound(f"unknown job kind {job.kind!r}")
    except PERMANENT_ERRORS as exc:
        log.error("job %s (%s %s) failed permanently: %s", job.id, job.kind, job.subject, exc)
        jobs.fail(rt, job.id, f"{type(exc).__name__}: {exc}", permanent=True)
        return JobResult.QUARANTINED
    except Exception as exc:  # includes Celery's SoftTimeLimitExceeded
        log.warning("job %s (%s %s) attempt %d failed: %s", job.id, job.kind, job.subject, job.attempts, exc)
        try:
            jobs.fail(rt, job.id, traceback.format_exc(), permanent=False)
        except Exception:  # the row stays running; the sweeper republishes it after the time limit
            log.exception("could not record the failure of job %s", job.id)
        raise TransientJobError(f"job {job.id} failed: {type(exc).__name__}: {exc}") from exc
    try:
        jobs.finish(rt, job.id)
    except Exception as exc:  # the work is stored; a retry finds it and only marks the job done
        raise TransientJobError(f"job {job.id} could not be marked done: {exc}") from exc
    log.info("job %s (%s %s) done on attempt %d", job.id, job.kind, job.subject, job.attempts)
    return JobResult.DONE
