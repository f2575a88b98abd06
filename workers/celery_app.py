"""Celery app for scale-out: tasks are idempotent, acknowledged late and retried with backoff."""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, signals
from celery.exceptions import SoftTimeLimitExceeded

from registry.jobs import service as jobs
from registry.runtime import Runtime
from registry.settings import Settings
from workers.jobs import JobResult, TransientJobError, run_job

log = logging.getLogger(__name__)

QUEUE = "skupix"

_runtime: Runtime | None = None


def make_celery(settings: Settings) -> Celery:
    """A Celery app configured for at-least-once, crash-safe job delivery."""
    app = Celery("skupix", broker=settings.broker_url or "memory://")
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_default_queue=QUEUE,
        task_ignore_result=True,
        task_time_limit=settings.task_time_limit_seconds,
        task_soft_time_limit=max(1, settings.task_time_limit_seconds - 10),
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": settings.task_time_limit_seconds * 3},
        task_serializer="json",
        accept_content=["json"],
        beat_schedule={
            "sweep-outbox": {"task": "skupix.sweep", "schedule": settings.sweeper_interval_seconds},
        },
    )
    return app


settings = Settings()
app = make_celery(settings)


def runtime() -> Runtime:
    """The worker process's runtime, built on first use (after fork)."""
    global _runtime
    if _runtime is None:
        from workers.bootstrap import create_runtime

        _runtime = create_runtime(Settings(), role="worker")
    return _runtime


@signals.worker_process_shutdown.connect
def _close_runtime(**_kwargs: Any) -> None:
    if _runtime is not None:
        _runtime.close()


@app.task(
    name="skupix.run_job",
    bind=True,
    acks_late=True,
    autoretry_for=(TransientJobError, SoftTimeLimitExceeded),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def run_job_task(self: Any, job_id: str) -> str:
    """Run one outbox job by id."""
    result: JobResult = run_job(runtime(), job_id)
    return result.value


@app.task(name="skupix.sweep", acks_late=True, ignore_result=True)
def sweep_task() -> int:
    """Republish outbox jobs that were committed but never reached a worker."""
    return jobs.sweep(runtime())


class CeleryPublisher:
    """Publishes outbox jobs to the Celery broker."""

    def __init__(self, celery_app: Celery) -> None:
        self.app = celery_app

    def publish(self, job_id: str, kind: str) -> None:
        """Send the job; if the broker is down the sweeper republishes it later."""
        try:
            run_job_task.apply_async(args=[job_id], queue=QUEUE, retry=False)
        except Exception:
            log.warning("broker unavailable; job %s (%s) left to the sweeper", job_id, kind, exc_info=True)
