"""The outbox: jobs are rows written with the change, published after commit, swept if lost."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from registry.ids import new_id
from registry.jobs.repository import JobRepository
from registry.models import Job, utcnow
from registry.runtime import Runtime

log = logging.getLogger(__name__)


class JobKind(StrEnum):
    """Background work the registry knows how to run."""

    RENDER_ASSET = "render_asset"
    DELIVER_WEBHOOK = "deliver_webhook"
    PURGE_ASSET = "purge_asset"


class JobStatus(StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    QUARANTINED = "quarantined"


def max_attempts(rt: Runtime, kind: str) -> int:
    """Attempts a job of this kind gets: a purge outlasts a CDN outage, other work quarantines sooner."""
    return rt.settings.purge_max_attempts if kind == JobKind.PURGE_ASSET else rt.settings.task_max_attempts


def enqueue(rt: Runtime, session: Session, kind: JobKind, subject: str) -> str:
    """Write a job in the caller's transaction and publish it once that transaction commits.

    A job still pending for the same subject is reused: it has not started, so it will see this
    transaction's changes. Its row is locked until commit so a worker cannot start it in between
    (on PostgreSQL a worker that got there first has made it running, and a new job is written).
    """
    repository = JobRepository(session)
    existing = repository.pending_for(kind.value, subject)
    if existing is not None:
        return existing.id
    job = repository.add(
        Job(id=new_id("job"), kind=kind.value, subject=subject, status=JobStatus.PENDING.value)
    )
    job_id = job.id
    rt.db.after_commit(session, lambda: rt.publisher.publish(job_id, kind.value))
    return job_id


def start(rt: Runtime, job_id: str) -> Job | None:
    """Count an attempt and mark the job running; None when it is finished, quarantined or unknown.

    Committed at once, so an attempt that kills its worker still counts toward quarantine.
    """
    with rt.db.unit_of_work() as session:
        job = JobRepository(session).get_for_update(job_id)
        if job is None or job.status in (JobStatus.DONE, JobStatus.QUARANTINED):
            return None
        if job.attempts >= max_attempts(rt, job.kind):
            job.status = JobStatus.QUARANTINED.value
            job.last_error = (job.last_error or "") + f"\nquarantined after {job.attempts} attempts"
            job.updated_at = utcnow()
            log.error("job %s (%s %s) quarantined", job.id, job.kind, job.subject)
            return None
        job.attempts += 1
        job.status = JobStatus.RUNNING.value
        job.updated_at = utcnow()
        session.flush()
        session.expunge(job)
        return job


def finish(rt: Runtime, job_id: str) -> None:
    """Mark a job done."""
    with rt.db.unit_of_work() as session:
        job = JobRepository(session).get_for_update(job_id)
        if job is not None:
            job.status = JobStatus.DONE.value
            job.updated_at = utcnow()


def fail(rt: Runtime, job_id: str, error: str, *, permanent: bool) -> None:
    """Record a failure; a permanent one (bad input) is quarantined, others stay pending for retry."""
    with rt.db.unit_of_work() as session:
        job = JobRepository(session).get_for_update(job_id)
        if job is None:
            return
        job.last_error = error[-4000:]
        job.updated_at = utcnow()
        exhausted = job.attempts >= max_attempts(rt, job.kind)
        job.status = (JobStatus.QUARANTINED if permanent or exhausted else JobStatus.PENDING).value


def retry_later(rt: Runtime, job_id: str, error: str, delay: timedelta) -> bool:
    """Put a failed job back to pending for the sweeper to publish once `delay` has passed; False if
    that was its last attempt (quarantined).

    The sweeper republishes pending rows untouched for its grace period, so the row is stamped as if
    touched `grace` before it is due; the backoff then lives in the database and survives restarts.
    """
    with rt.db.unit_of_work() as session:
        job = JobRepository(session).get_for_update(job_id)
        if job is None:
            return False
        job.last_error = error[-4000:]
        if job.attempts >= max_attempts(rt, job.kind):
            job.status = JobStatus.QUARANTINED.value
            job.updated_at = utcnow()
            log.error("job %s (%s %s) quarantined after %d attempts: %s", job.id, job.kind, job.subject,
                      job.attempts, error[:500])
            return False
        job.status = JobStatus.PENDING.value
        job.updated_at = utcnow() + delay - timedelta(seconds=rt.settings.sweeper_grace_seconds)
        return True


def schedule(rt: Runtime, session: Session, kind: JobKind, subject: str, due: datetime) -> str:
    """A job row in the caller's transaction that the sweeper publishes once `due` has passed."""
    job = JobRepository(session).add(Job(
        id=new_id("job"), kind=kind.value, subject=subject, status=JobStatus.PENDING.value, created_at=utcnow(),
        updated_at=due - timedelta(seconds=rt.settings.sweeper_grace_seconds)))
    return job.id


def _aware(moment: datetime) -> datetime:
    """A stored time in UTC: SQLite gives naive UTC values, PostgreSQL aware ones in its time zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def counts(rt: Runtime) -> dict[str, int]:
    """How many jobs are in each status (monitoring and tests)."""
    with rt.db.read_only() as session:
        return JobRepository(session).status_counts()


def sweep(rt: Runtime, limit: int = 500) -> int:
    """Republish jobs lost between commit and publish (or with their worker); returns how many."""
    cutoff = utcnow() - timedelta(seconds=rt.settings.sweeper_grace_seconds)
    running_cutoff = utcnow() - timedelta(seconds=rt.settings.task_time_limit_seconds + 30)
    republish: list[tuple[str, str]] = []
    with rt.db.unit_of_work() as session:
        for job in JobRepository(session).stale(cutoff, limit):
            if job.status == JobStatus.RUNNING and _aware(job.updated_at) > running_cutoff:
                continue  # still within its time limit: probably running right now
            job.updated_at = utcnow()
            republish.append((job.id, job.kind))
    for job_id, kind in republish:
        log.info("sweeper republishes job %s (%s)", job_id, kind)
        try:
            rt.publisher.publish(job_id, kind)
        except Exception:
            log.exception("sweeper could not publish job %s", job_id)
    return len(republish)
