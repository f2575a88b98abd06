"""Celery workers as separate processes: crash loops end in quarantine, transient errors are retried
with backoff, time limits bound every attempt, and duplicate deliveries render nothing twice.

One stack for the module: a private redis-server, a fresh PostgreSQL database, a local blob folder
and two worker processes (`skupix worker` and the plain `celery -A workers.celery_app` command), with
faults injected for a few known pictures through SKUPIX_FAULTS.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from registry.jobs import service as jobs
from registry.jobs.service import JobKind, JobStatus
from registry.media import service as media
from registry.models import Job
from registry.runtime import Runtime
from registry.tenants.service import Principal
from tests.scaleout.conftest import (
    ManagedProcess,
    ProcessSet,
    RedisServer,
    Stack,
    runtime_for,
    start_worker,
    wait_until,
)
from tests.scaleout.helpers import (
    duplicate_variant_rows,
    jobs_of,
    local_variant_files,
    picture,
    principal_for,
    servable,
    sha256,
    variant_rows,
)
from workers.bootstrap import close_runtime
from workers.celery_app import CeleryPublisher, app_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

MAX_ATTEMPTS = 3
TIME_LIMIT = 4  # seconds; the soft limit comes a second earlier

CRASH = picture(9001)
TRANSIENT = picture(9002)
STALL = picture(9003)
HANG = picture(9004)
FAULTS = ",".join([
    f"crash:{sha256(CRASH)}",
    f"transient:{sha256(TRANSIENT)}:2",
    f"stall:{sha256(STALL)}:1",
    f"hang:{sha256(HANG)}:1",
])


@dataclass
class Cluster:
    """The module's running stack and an API-side runtime on it."""

    stack: Stack
    rt: Runtime
    principal: Principal
    blob_root: Path
    workers: list[ManagedProcess]

    def upload(self, data: bytes) -> str:
        """Upload through the registry (as the API does); the job is published after commit."""
        return media.upload(self.rt, self.principal, media.UploadCommand(data=data, filename="p.jpg")).asset_id

    def job(self, asset_id: str) -> Job:
        """The asset's newest job row."""
        return jobs_of(self.rt, asset_id)[-1]

    def wait_job(self, asset_id: str, *statuses: JobStatus, timeout: float = 90) -> Job:
        """Wait until the asset's newest job reaches one of `statuses`."""
        wanted = {s.value for s in statuses}

        def reached() -> Job | None:
            for worker in self.workers:
                worker.ensure_alive()
            job = self.job(asset_id)
            return job if job.status in wanted else None

        return wait_until(reached, timeout=timeout, interval=0.3, what=f"job of {asset_id} to become {sorted(wanted)}")

    def worker_logs(self) -> str:
        """Both workers' logs."""
        return "\n".join(worker.log_text() for worker in self.workers)


@pytest.fixture(scope="module")
def cluster(module_procs: ProcessSet, module_redis: RedisServer, module_postgres_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    data = tmp_path_factory.mktemp("cluster")
    stack = Stack({
        "database_url": module_postgres_url,
        "broker_url": module_redis.url,
        "data_dir": str(data / "data"),
        "storage_url": (data / "blobs").as_uri(),
        "task_max_attempts": str(MAX_ATTEMPTS),
        "task_time_limit_seconds": str(TIME_LIMIT),
        "sweeper_interval_seconds": "3600",
    })
    rt = runtime_for(stack)  # migrates the database before any worker touches it
    workers: list[ManagedProcess] = []
    try:
        workers.append(start_worker(module_procs, stack, "worker-skupix", SKUPIX_FAULTS=FAULTS))
        workers.append(start_worker(module_procs, stack, "worker-celery", use_celery_command=True,
                                    SKUPIX_FAULTS=FAULTS))
        yield Cluster(stack, rt, principal_for(rt, "fault-tests"), data / "blobs", workers)
    finally:
        for worker in workers:  # before the database and the broker go away
            worker.stop()
        close_runtime(rt)


def test_the_runtime_publishes_to_its_own_broker(cluster: Cluster) -> None:
    assert isinstance(cluster.rt.publisher, CeleryPublisher)
    assert cluster.rt.publisher.app.conf.broker_url == cluster.stack.values["broker_url"]


def test_a_picture_that_keeps_killing_its_worker_is_quarantined(cluster: Cluster) -> None:
    asset_id = cluster.upload(CRASH)
    job = cluster.wait_job(asset_id, JobStatus.QUARANTINED)
    assert job.attempts == MAX_ATTEMPTS
    assert f"quarantined after {MAX_ATTEMPTS} attempts" in job.last_error
    assert variant_rows(cluster.rt, asset_id) == []
    logs = cluster.worker_logs()
    assert logs.count(f"injected fault crash on job {job.id}") == MAX_ATTEMPTS
    assert "exitcode 70" in logs
    # Both workers survived their pool processes' deaths and still render other pictures.
    for worker in cluster.workers:
        worker.ensure_alive()
    healthy = cluster.upload(picture(9005))
    assert cluster.wait_job(healthy, JobStatus.DONE).attempts == 1
    assert len(variant_rows(cluster.rt, healthy)) == servable(cluster.rt, healthy)


def test_transient_errors_are_retried_with_backoff(cluster: Cluster) -> None:
    asset_id = cluster.upload(TRANSIENT)
    job = cluster.wait_job(asset_id, JobStatus.DONE)
    assert job.attempts == 3  # two injected failures, then success
    assert "InjectedTransientFault" in job.last_error
    assert len(variant_rows(cluster.rt, asset_id)) == servable(cluster.rt, asset_id)
    assert "Retry in" in cluster.worker_logs()


def test_the_soft_time_limit_interrupts_an_attempt_which_is_retried(cluster: Cluster) -> None:
    asset_id = cluster.upload(STALL)
    job = cluster.wait_job(asset_id, JobStatus.DONE)
    assert job.attempts == 2
    assert "SoftTimeLimitExceeded" in job.last_error
    assert len(variant_rows(cluster.rt, asset_id)) == servable(cluster.rt, asset_id)


def test_the_hard_time_limit_kills_an_attempt_and_the_job_is_redelivered(cluster: Cluster) -> None:
    asset_id = cluster.upload(HANG)
    job = cluster.wait_job(asset_id, JobStatus.DONE)
    assert job.attempts == 2
    assert "Hard time limit" in cluster.worker_logs()
    assert len(variant_rows(cluster.rt, asset_id)) == servable(cluster.rt, asset_id)


def test_duplicate_and_concurrent_deliveries_render_each_variant_once(cluster: Cluster) -> None:
    rt = cluster.rt
    held: list[str] = []

    class Holding:
        def publish(self, job_id: str, kind: str) -> None:
            held.append(job_id)

    publisher = rt.publisher
    rt.publisher = Holding()  # keep the upload's job back so the duplicates race it
    try:
        asset_id = cluster.upload(picture(9006))
    finally:
        rt.publisher = publisher
    assert len(held) == 1
    with rt.db.unit_of_work() as session:  # a second job for the same asset, as a re-render request would be
        session.add(Job(id="job_duplicate_" + asset_id[-12:], kind=JobKind.RENDER_ASSET.value, subject=asset_id,
                        status=JobStatus.PENDING.value))
    duplicate = "job_duplicate_" + asset_id[-12:]
    deliveries = held * 3 + [duplicate] * 2
    sender = CeleryPublisher(app_for(rt.settings))
    for job_id in deliveries:  # both workers get one at once: the same asset renders twice concurrently
        sender.publish(job_id, JobKind.RENDER_ASSET.value)

    def handled() -> int:
        logs = cluster.worker_logs()
        return sum(logs.count(f"job {job_id}") for job_id in (held[0], duplicate))

    wait_until(lambda: all(job.status == JobStatus.DONE for job in jobs_of(rt, asset_id)), timeout=90,
               what="both jobs done")
    wait_until(lambda: handled() >= len(deliveries), timeout=60, what="every delivery to be handled")
    rows = variant_rows(rt, asset_id)
    files = local_variant_files(cluster.blob_root, asset_id)
    assert len(rows) == servable(rt, asset_id)
    assert len(files) == servable(rt, asset_id)
    assert {row.blob_key for row in rows} == set(files)
    assert duplicate_variant_rows(rt) == 0

    # Running it yet again (a new job for a fully rendered asset) changes nothing.
    with rt.db.unit_of_work() as session:
        again = jobs.enqueue(rt, session, JobKind.RENDER_ASSET, asset_id)
    wait_until(lambda: jobs_of(rt, asset_id)[-1].status == JobStatus.DONE, timeout=60, what="re-run done")
    assert jobs_of(rt, asset_id)[-1].id == again
    assert {(r.id, r.etag) for r in variant_rows(rt, asset_id)} == {(r.id, r.etag) for r in rows}
    assert local_variant_files(cluster.blob_root, asset_id) == files
