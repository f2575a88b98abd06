"""Process-wide counters the registry keeps for operations (renders and their time), read by /metrics."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from registry.runtime import Runtime

# Upper bounds (seconds) of the time histograms; Prometheus' default buckets stop at 10 s, renders may not.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


@dataclass
class Timings:
    """A histogram of durations per label, plus counts of failures."""

    buckets: dict[str, list[int]] = field(default_factory=dict)
    sums: dict[str, float] = field(default_factory=dict)
    failures: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def observe(self, label: str, seconds: float, failed: bool = False) -> None:
        """Count one duration under `label`."""
        with self.lock:
            counts = self.buckets.setdefault(label, [0] * (len(BUCKETS) + 1))
            index = next((i for i, bound in enumerate(BUCKETS) if seconds <= bound), len(BUCKETS))
            counts[index] += 1
            self.sums[label] = self.sums.get(label, 0.0) + seconds
            if failed:
                self.failures[label] = self.failures.get(label, 0) + 1

    def snapshot(self) -> list[tuple[str, list[int], float, int]]:
        """(label, per-bucket counts, sum, failures) for every label seen."""
        with self.lock:
            return [(label, list(counts), self.sums[label], self.failures.get(label, 0))
                    for label, counts in self.buckets.items()]


renders = Timings()
# Upload decisions (new, exact, near) and the whole upload's time, decode and verification included.
dedup = Timings()


@contextmanager
def timed(timings: Timings, label: str) -> Iterator[None]:
    """Observe how long the block takes under `label` (failed when it raises)."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        timings.observe(label, time.perf_counter() - started, failed=True)
        raise
    timings.observe(label, time.perf_counter() - started)


def queue_depth(rt: Runtime) -> dict[str, int]:
    """Outbox jobs waiting or running, by status."""
    from sqlalchemy import func, select

    from registry.models import Job

    with rt.db.read_only() as session:
        rows = session.execute(select(Job.status, func.count()).where(Job.status.in_(("pending", "running")))
                               .group_by(Job.status)).all()
    return {"pending": 0, "running": 0} | {str(status): int(count) for status, count in rows}
