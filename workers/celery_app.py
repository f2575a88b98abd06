"""The Celery worker entry point: `celery -A workers.celery_app worker` and `skupix worker` load it.

Importing this module reads no configuration. The module-level ``app`` (and ``settings``) are built
from ``Settings()`` (SKUPIX_* environment variables) the first time they are asked for, unless
`configure` was handed the process's settings first. Each worker process builds its runtime in the
``worker_process_init`` hook through the composition root (`workers.bootstrap`) and closes it at
``worker_process_shutdown``. Delivery guarantees: `workers.celery_config`.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Celery, Task, signals
from celery.exceptions import SoftTimeLimitExceeded

from registry.jobs import service as jobs
from registry.runtime import Runtime
from registry.settings import Settings
from workers.bootstrap import close_runtime, create_runtime
from workers.celery_config import (
    QUEUE,
    RETRY_BACKOFF_MAX,
    RUN_JOB,
    SWEEP,
    CeleryPublisher,
    make_celery,
    soft_time_limit,
    visibility_timeout,
)
from workers.jobs import JobResult, TransientJobError, run_job

__all__ = [
    "QUEUE", "RETRY_BACKOFF_MAX", "RUN_JOB", "SWEEP", "CeleryPublisher", "app_for", "configure", "runtime",
    "soft_time_limit", "visibility_timeout",
]

log = logging.getLogger(__name__)

_settings: Settings | None = None
_app: Celery | None = None
_runtime: Runtime | None = None


def configure(settings: Settings | None = None) -> Celery:
    """The process's worker app, configured from `settings` (or the environment) on first call."""
    global _settings, _app
    if _app is None:
        _settings = settings if settings is not None else Settings()
        _app = make_celery(_settings)
        _register_tasks(_app, _settings)
    return _app


def __getattr__(name: str) -> Any:
    """``app``, ``settings`` and the tasks, built on first use rather than at import."""
    if name == "app":
        return configure()
    if name == "settings":
        configure()
        return _settings
    if name == "run_job_task":
        return configure().tasks[RUN_JOB]
    if name == "sweep_task":
        return configure().tasks[SWEEP]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def app_for(wanted: Settings) -> Celery:
    """The worker app when `wanted` names its broker, otherwise a new app for that broker."""
    app = configure()
    if _settings is not None and wanted.broker_url == _settings.broker_url:
        return app
    return make_celery(wanted, set_as_current=False)


def runtime() -> Runtime:
    """The worker process's runtime: built by the process hook, or on first use (solo pools, eager calls)."""
    global _runtime
    if _runtime is None:
        configure()
        assert _settings is not None
        _runtime = create_runtime(_settings, role="worker")
    return _runtime


@signals.worker_process_init.connect
def _open_runtime(**_kwargs: Any) -> None:
    runtime()


@signals.worker_process_shutdown.connect
def _close_runtime(**_kwargs: Any) -> None:
    global _runtime
    if _runtime is not None:
        close_runtime(_runtime)
        _runtime = None


def _register_tasks(app: Celery, settings: Settings) -> None:
    @app.task(
        name=RUN_JOB,
        bind=True,
        acks_late=True,
        reject_on_worker_lost=True,
        acks_on_failure=True,
        acks_on_timeout=False,
        autoretry_for=(TransientJobError, SoftTimeLimitExceeded),
        retry_backoff=2,
        retry_backoff_max=RETRY_BACKOFF_MAX,
        retry_jitter=True,
        max_retries=settings.task_max_attempts,
        time_limit=settings.task_time_limit_seconds,
        soft_time_limit=soft_time_limit(settings),
    )
    def run_job_task(self: Task, job_id: str) -> str:
        """Run one outbox job by id; idempotent, so redelivery and duplicates are harmless."""
        result: JobResult = run_job(runtime(), job_id)
        return result.value

    @app.task(name=SWEEP, acks_late=True, ignore_result=True, time_limit=60, soft_time_limit=50)
    def sweep_task() -> int:
        """Republish outbox jobs that were committed but never reached a worker."""
        return jobs.sweep(runtime())
