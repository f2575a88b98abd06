"""Embedded mode: jobs run on a small thread pool inside the API process, no broker needed."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from registry.jobs import service as jobs
from registry.runtime import Runtime
from workers.jobs import run_job

log = logging.getLogger(__name__)


class InProcessPublisher:
    """Runs published jobs on a thread pool; a sweeper thread republishes anything lost."""

    def __init__(self, rt: Runtime, workers: int) -> None:
        self.rt = rt
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="skupix-job")
        self._lock = threading.Lock()
        self._pending: set[Future[object]] = set()
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None

    def publish(self, job_id: str, kind: str) -> None:
        """Queue the job on the pool."""
        if self._stop.is_set():
            return
        future = self._pool.submit(self._run, job_id)
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[object]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _run(self, job_id: str) -> object:
        try:
            return run_job(self.rt, job_id)
        except Exception:
            log.exception("in-process job %s failed; the sweeper will retry it", job_id)
            return None

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Block until no job is queued or running (tests and CLI shutdown)."""
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return True
            for future in pending:
                try:
                    future.result(timeout=max(0.0, deadline - time.monotonic()))
                except Exception:
                    log.debug("job future ended with an error", exc_info=True)
        return False

    def start_sweeper(self) -> None:
        """Republish stale outbox jobs every sweeper interval until closed."""
        if self._sweeper is not None:
            return

        def loop() -> None:
            while not self._stop.wait(self.rt.settings.sweeper_interval_seconds):
                try:
                    jobs.sweep(self.rt)
                except Exception:
                    log.exception("sweeper pass failed")

        self._sweeper = threading.Thread(target=loop, name="skupix-sweeper", daemon=True)
        self._sweeper.start()

    def close(self) -> None:
        """Stop the sweeper and wait for running jobs."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=False)
