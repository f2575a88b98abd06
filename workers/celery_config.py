"""The Celery app's configuration and the publisher that sends jobs to it (no tasks, no runtime).

Delivery is at least once, and the job row in the database is the authority on what is left to do:

- a task is acknowledged only after it ran (``acks_late``); if its worker process dies mid-task the
  message goes back to the queue (``reject_on_worker_lost``), and so does a task killed by the hard
  time limit (``acks_on_timeout=False``);
- every delivery counts an attempt on the job row *before* any work, so a picture that keeps killing
  its worker is quarantined after ``task_max_attempts`` attempts instead of looping forever;
- transient errors (store or database unreachable, soft time limit) are retried with exponential
  backoff and jitter; permanent ones (a picture that cannot be decoded) quarantine the job at once;
- the outbox sweeper (``skupix.sweep``, scheduled by beat) republishes jobs that were committed while
  the broker was down or whose worker vanished, so nothing is lost between commit and queue.

The tasks themselves live in `workers.celery_app`, the worker entry point.
"""

from __future__ import annotations

import logging

from celery import Celery

from registry.settings import Settings

log = logging.getLogger(__name__)

QUEUE = "skupix"
RUN_JOB = "skupix.run_job"
SWEEP = "skupix.sweep"
RETRY_BACKOFF_MAX = 60  # seconds: the longest countdown before a retry
# A worker child builds its runtime (migrations, catalogue, warm-up) before it reports ready.
_PROCESS_START_SECONDS = 120

# Publishing happens in the request thread right after commit: one quick reconnect, then give up and
# leave the job to the sweeper rather than hold the upload's response.
_PUBLISH_RETRY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def soft_time_limit(settings: Settings) -> int:
    """The soft limit: a little before the hard one, so a task can record its failure."""
    hard = settings.task_time_limit_seconds
    return max(1, hard - max(1, min(10, hard // 5)))


def visibility_timeout(settings: Settings) -> int:
    """How long Redis waits before handing an unacknowledged message out again."""
    hard = settings.task_time_limit_seconds
    return max(3 * hard, hard + 2 * RETRY_BACKOFF_MAX)


def make_celery(settings: Settings, *, set_as_current: bool = True) -> Celery:
    """A Celery app configured for at-least-once, crash-safe job delivery."""
    app = Celery("skupix", broker=settings.broker_url or "memory://", set_as_current=set_as_current)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure=True,  # failed for good: the job row already says quarantined or pending
        task_acks_on_timeout=False,  # hard time limit: requeue, the attempt counter bounds the loop
        worker_prefetch_multiplier=1,
        # On a broker outage a running task finishes and records its result in the database; the
        # message, unacknowledged, comes back later and is skipped. Cancelling it instead would strand
        # its job as running until the sweeper's time-limit cutoff.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_proc_alive_timeout=_PROCESS_START_SECONDS,
        task_default_queue=QUEUE,
        task_ignore_result=True,
        task_time_limit=settings.task_time_limit_seconds,
        task_soft_time_limit=soft_time_limit(settings),
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker outlives any broker outage
        broker_transport_options={
            # Redis: an unacknowledged message is redelivered after this long; it must exceed the
            # time limit and the longest retry countdown, or a running task would be handed out twice.
            "visibility_timeout": visibility_timeout(settings),
            "socket_connect_timeout": 5,
        },
        task_serializer="json",
        accept_content=["json"],
        beat_scheduler="celery.beat:Scheduler",  # in memory: the sweep schedule needs no state file
        beat_schedule={
            "sweep-outbox": {
                "task": SWEEP,
                "schedule": settings.sweeper_interval_seconds,
                "options": {"queue": QUEUE, "expires": max(5.0, settings.sweeper_interval_seconds)},
            },
        },
    )
    return app


class CeleryPublisher:
    """Publishes outbox jobs to the Celery broker by task name."""

    def __init__(self, celery_app: Celery) -> None:
        self.app = celery_app

    def publish(self, job_id: str, kind: str) -> None:
        """Send the job; if the broker is down the sweeper republishes it later."""
        try:
            self.app.send_task(RUN_JOB, args=[job_id], queue=QUEUE, retry=True, retry_policy=_PUBLISH_RETRY)
        except Exception as exc:
            log.warning("broker unavailable; job %s (%s) left to the sweeper: %s", job_id, kind, exc)

    def close(self) -> None:
        """Release broker connections (and the app itself when it was made for this publisher)."""
        if self.app.set_as_current:  # the process's worker app: others still use it
            self.app.pool.force_close_all()
        else:
            self.app.close()
