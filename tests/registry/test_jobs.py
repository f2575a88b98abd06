"""The job outbox and the job runner: jobs are published only after commit, count every attempt,
quarantine after too many, are swept when lost, and running one twice changes nothing.

Runs on SQLite and PostgreSQL (the `runtime` fixture); the Celery task's delivery guarantees are
checked on its configuration here and on real workers in tests/scaleout/test_workers.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from processing.render import RenderedVariant, render_many
from registry.jobs import service as jobs
from registry.jobs.service import JobKind, JobStatus
from registry.media import service as media
from registry.media.blobs import original_key
from registry.models import Job, Variant, utcnow
from registry.runtime import Runtime
from tests.fixtures.pictures import jpeg, product
from tests.scaleout.helpers import principal_for
from workers import faults
from workers.jobs import JobResult, TransientJobError, run_job


class Recorder:
    """A publisher that only remembers what it was handed."""

    def __init__(self) -> None:
        self.published: list[str] = []

    def publish(self, job_id: str, kind: str) -> None:
        self.published.append(job_id)


@pytest.fixture
def recorder(runtime: Runtime) -> Recorder:
    """Replace the runtime's publisher so tests run jobs themselves."""
    publisher = Recorder()
    runtime.publisher = publisher
    return publisher


def _job(rt: Runtime, job_id: str) -> Job:
    with rt.db.read_only() as session:
        row = session.get(Job, job_id)
        assert row is not None
        session.expunge(row)
        return row


def _age(rt: Runtime, job_id: str, seconds: float) -> None:
    with rt.db.unit_of_work() as session:
        session.execute(update(Job).where(Job.id == job_id).values(updated_at=utcnow() - timedelta(seconds=seconds)))


def _new_job(rt: Runtime, subject: str = "ast_test") -> str:
    with rt.db.unit_of_work() as session:
        return jobs.enqueue(rt, session, JobKind.RENDER_ASSET, subject)


def _upload(rt: Runtime, seed: int) -> tuple[str, str]:
    """A fresh asset and its (unpublished, pending) render job."""
    data = jpeg(product(seed, size=360, label=f"JOB {seed}"), 90)
    asset_id = media.upload(rt, principal_for(rt, f"jobs-{seed}"), media.UploadCommand(data=data)).asset_id
    with rt.db.read_only() as session:
        job_id = session.scalars(select(Job.id).where(Job.subject == asset_id)).one()
    return asset_id, job_id


def _variant_files(rt: Runtime, asset_id: str) -> dict[str, int]:
    root = Path(rt.settings.resolved_storage_url.removeprefix("file://")) / "variants" / asset_id
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def _servable(rt: Runtime, asset_id: str) -> set[str]:
    """The profiles this asset's picture can serve (the rest are flagged too small, not rendered)."""
    with rt.db.read_only() as session:
        master = media.get_asset(rt, session, asset_id).master_sha256
    results = render_many(rt.store.get(original_key(master)), rt.limits, list(rt.catalog.profiles.values()))
    return {name for name, result in results.items() if isinstance(result, RenderedVariant)}


def _variants(rt: Runtime, asset_id: str) -> set[tuple[str, str, str]]:
    with rt.db.read_only() as session:
        return {(v.id, v.profile, v.etag) for v in session.scalars(select(Variant).where(Variant.asset_id == asset_id))}


# --------------------------------------------------------------------------------------------------
# Outbox
# --------------------------------------------------------------------------------------------------


def test_a_job_is_published_only_after_its_transaction_commits(runtime: Runtime, recorder: Recorder) -> None:
    with runtime.db.unit_of_work() as session:
        job_id = jobs.enqueue(runtime, session, JobKind.RENDER_ASSET, "ast_a")
        assert recorder.published == []
    assert recorder.published == [job_id]
    assert _job(runtime, job_id).status == JobStatus.PENDING


def test_a_rolled_back_job_is_neither_stored_nor_published(runtime: Runtime, recorder: Recorder) -> None:
    def failing_upload() -> None:
        with runtime.db.unit_of_work() as session:
            jobs.enqueue(runtime, session, JobKind.RENDER_ASSET, "ast_b")
            raise RuntimeError("the upload failed")

    with pytest.raises(RuntimeError):
        failing_upload()
    assert recorder.published == []
    assert jobs.counts(runtime) == {}


def test_a_pending_job_is_reused_but_a_started_one_is_not(runtime: Runtime, recorder: Recorder) -> None:
    first = _new_job(runtime, "ast_c")
    assert _new_job(runtime, "ast_c") == first  # not started: it will see the newer state anyway
    assert jobs.start(runtime, first) is not None
    second = _new_job(runtime, "ast_c")
    assert second != first
    assert _new_job(runtime, "ast_d") not in (first, second)


# --------------------------------------------------------------------------------------------------
# Attempts and quarantine
# --------------------------------------------------------------------------------------------------


def test_start_counts_attempts_and_skips_finished_jobs(runtime: Runtime, recorder: Recorder) -> None:
    job_id = _new_job(runtime)
    started = jobs.start(runtime, job_id)
    assert started is not None and started.attempts == 1 and started.status == JobStatus.RUNNING
    assert _job(runtime, job_id).attempts == 1  # committed before any work
    jobs.finish(runtime, job_id)
    assert jobs.start(runtime, job_id) is None
    assert jobs.start(runtime, "job_unknown") is None


def test_attempts_that_never_report_back_end_in_quarantine(runtime: Runtime, recorder: Recorder) -> None:
    runtime.settings.task_max_attempts = 3
    job_id = _new_job(runtime)
    for attempt in range(1, 4):  # each attempt's worker dies: no fail(), no finish()
        started = jobs.start(runtime, job_id)
        assert started is not None and started.attempts == attempt
    assert jobs.start(runtime, job_id) is None
    row = _job(runtime, job_id)
    assert row.status == JobStatus.QUARANTINED
    assert "quarantined after 3 attempts" in row.last_error
    assert jobs.start(runtime, job_id) is None  # and it stays there


def test_failures_are_retried_until_the_attempts_run_out(runtime: Runtime, recorder: Recorder) -> None:
    runtime.settings.task_max_attempts = 2
    job_id = _new_job(runtime)
    jobs.start(runtime, job_id)
    jobs.fail(runtime, job_id, "store unreachable", permanent=False)
    assert _job(runtime, job_id).status == JobStatus.PENDING
    jobs.start(runtime, job_id)
    jobs.fail(runtime, job_id, "store unreachable again", permanent=False)
    row = _job(runtime, job_id)
    assert row.status == JobStatus.QUARANTINED and row.last_error == "store unreachable again"


def test_a_permanent_failure_quarantines_at_once(runtime: Runtime, recorder: Recorder) -> None:
    job_id = _new_job(runtime)
    jobs.start(runtime, job_id)
    jobs.fail(runtime, job_id, "CorruptImage: truncated", permanent=True)
    assert _job(runtime, job_id).status == JobStatus.QUARANTINED


# --------------------------------------------------------------------------------------------------
# Sweeper
# --------------------------------------------------------------------------------------------------


def test_the_sweeper_republishes_lost_jobs_only(runtime: Runtime, recorder: Recorder) -> None:
    runtime.settings.sweeper_grace_seconds = 30
    runtime.settings.task_time_limit_seconds = 60
    fresh = _new_job(runtime, "ast_fresh")
    lost = _new_job(runtime, "ast_lost")
    _age(runtime, lost, 31)
    running = _new_job(runtime, "ast_running")
    jobs.start(runtime, running)
    _age(runtime, running, 80)  # within the time limit plus margin: still running somewhere
    vanished = _new_job(runtime, "ast_vanished")
    jobs.start(runtime, vanished)
    _age(runtime, vanished, 95)  # beyond it: its worker is gone
    finished = _new_job(runtime, "ast_done")
    jobs.finish(runtime, finished)
    _age(runtime, finished, 1000)
    quarantined = _new_job(runtime, "ast_quarantined")
    jobs.fail(runtime, quarantined, "bad", permanent=True)
    _age(runtime, quarantined, 1000)
    recorder.published.clear()

    assert jobs.sweep(runtime) == 2
    assert sorted(recorder.published) == sorted([lost, vanished])
    assert fresh not in recorder.published
    # Republishing counts as a touch: the next pass leaves them alone for another grace period.
    assert jobs.sweep(runtime) == 0


def test_the_sweeper_survives_a_publisher_that_fails(runtime: Runtime) -> None:
    class Broken:
        def publish(self, job_id: str, kind: str) -> None:
            raise ConnectionError("broker down")

    runtime.publisher = Broken()
    job_id = _new_job(runtime)
    _age(runtime, job_id, 5)
    assert jobs.sweep(runtime) == 1
    assert _job(runtime, job_id).status == JobStatus.PENDING  # still there for the next pass


# --------------------------------------------------------------------------------------------------
# Running jobs
# --------------------------------------------------------------------------------------------------


def test_running_a_job_twice_renders_nothing_new(runtime: Runtime, recorder: Recorder) -> None:
    asset_id, job_id = _upload(runtime, 301)
    assert run_job(runtime, job_id) == JobResult.DONE
    rendered, files = _variants(runtime, asset_id), _variant_files(runtime, asset_id)
    servable = _servable(runtime, asset_id)
    assert 0 < len(servable) < len(runtime.catalog.profiles)  # a 360 px picture: too small for most
    assert {profile for _id, profile, _etag in rendered} == servable and len(files) == len(servable)

    assert run_job(runtime, job_id) == JobResult.SKIPPED  # the same delivery again
    with runtime.db.unit_of_work() as session:  # a new job for the same, fully rendered asset
        again = jobs.enqueue(runtime, session, JobKind.RENDER_ASSET, asset_id)
    assert again != job_id
    assert run_job(runtime, again) == JobResult.DONE
    assert _variants(runtime, asset_id) == rendered
    assert _variant_files(runtime, asset_id) == files  # not even rewritten


def test_a_transient_failure_raises_for_retry_and_keeps_the_job_pending(
    runtime: Runtime, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    asset_id, job_id = _upload(runtime, 302)

    def unreachable(key: str) -> bytes:
        raise ConnectionError("store unreachable")

    monkeypatch.setattr(runtime.store, "get", unreachable)
    with pytest.raises(TransientJobError):
        run_job(runtime, job_id)
    row = _job(runtime, job_id)
    assert row.status == JobStatus.PENDING and row.attempts == 1 and "store unreachable" in row.last_error
    monkeypatch.undo()
    assert run_job(runtime, job_id) == JobResult.DONE
    assert _job(runtime, job_id).attempts == 2


def test_corrupt_stored_bytes_quarantine_the_job(runtime: Runtime, recorder: Recorder) -> None:
    asset_id, job_id = _upload(runtime, 303)
    with runtime.db.read_only() as session:
        master = media.get_asset(runtime, session, asset_id).master_sha256
    path = Path(runtime.settings.resolved_storage_url.removeprefix("file://")) / original_key(master)
    path.write_bytes(path.read_bytes()[:-200] + b"\0" * 200)  # bit rot: same size, other bytes
    assert run_job(runtime, job_id) == JobResult.QUARANTINED
    assert "ChecksumMismatch" in _job(runtime, job_id).last_error


def test_a_job_for_a_missing_asset_is_quarantined(runtime: Runtime, recorder: Recorder) -> None:
    job_id = _new_job(runtime, "ast_does_not_exist")
    assert run_job(runtime, job_id) == JobResult.QUARANTINED
    assert _job(runtime, job_id).status == JobStatus.QUARANTINED


def test_the_celery_task_retries_transient_failures_until_done(
    runtime: Runtime, recorder: Recorder, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers import celery_app

    asset_id, job_id = _upload(runtime, 304)
    with runtime.db.read_only() as session:
        master = media.get_asset(runtime, session, asset_id).master_sha256
    monkeypatch.setenv(faults.ENV, f"transient:{master}:2")
    faults.install(runtime)
    monkeypatch.setattr(celery_app, "_runtime", runtime)
    result = celery_app.run_job_task.apply(args=[job_id])  # eagerly, retries included (no countdown)
    assert result.successful() and result.result == "done"
    assert _job(runtime, job_id).attempts == 3
    assert len(_variants(runtime, asset_id)) == len(_servable(runtime, asset_id))


# --------------------------------------------------------------------------------------------------
# The Celery task's delivery guarantees (behaviour on real workers: tests/scaleout/test_workers.py)
# --------------------------------------------------------------------------------------------------


def test_the_celery_task_is_acknowledged_late_retried_with_backoff_and_time_limited() -> None:
    from workers import celery_app

    task = celery_app.run_job_task
    settings = celery_app.settings
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True  # a killed worker process puts the message back
    assert task.acks_on_timeout is False  # so does the hard time limit
    assert task.acks_on_failure is True  # a failure for good is recorded on the job row
    assert TransientJobError in task.autoretry_for
    assert task.retry_backoff and task.retry_jitter and task.retry_backoff_max
    assert task.max_retries == settings.task_max_attempts
    assert task.time_limit == settings.task_time_limit_seconds
    assert 0 < task.soft_time_limit < task.time_limit
    conf = celery_app.app.conf
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.broker_transport_options["visibility_timeout"] > task.time_limit + task.retry_backoff_max
    assert conf.beat_schedule["sweep-outbox"]["task"] == celery_app.SWEEP


@pytest.mark.parametrize(("hard", "soft"), [(120, 110), (30, 24), (5, 4), (4, 3), (1, 1)])
def test_the_soft_time_limit_comes_before_the_hard_one(hard: int, soft: int) -> None:
    from registry.settings import Settings
    from workers.celery_app import soft_time_limit

    assert soft_time_limit(Settings(task_time_limit_seconds=hard)) == soft


def test_publishing_to_an_unreachable_broker_leaves_the_job_to_the_sweeper() -> None:
    from registry.settings import Settings
    from tests.scaleout.conftest import free_port
    from workers.celery_app import CeleryPublisher, app, app_for

    settings = Settings(broker_url=f"redis://127.0.0.1:{free_port()}/0")
    celery = app_for(settings)
    assert celery is not app and celery.conf.broker_url == settings.broker_url
    publisher = CeleryPublisher(celery)
    try:
        publisher.publish("job_x", JobKind.RENDER_ASSET.value)  # logs, does not raise
    finally:
        publisher.close()


def test_the_module_app_serves_the_environment_broker() -> None:
    from registry.settings import Settings
    from workers.celery_app import app, app_for, settings

    assert app_for(Settings(broker_url=settings.broker_url)) is app


def test_fault_specs_parse_and_bad_ones_are_refused() -> None:
    sha = "a" * 64
    parsed = faults.parse(f"crash:{sha}, transient:{sha.upper()}:2,,stall:{sha}:1")
    assert parsed == [faults.Fault("crash", sha, None), faults.Fault("transient", sha, 2),
                      faults.Fault("stall", sha, 1)]
    for bad in ("explode:" + sha, "crash:abc", "crash"):
        with pytest.raises(ValueError, match="SKUPIX_FAULTS"):
            faults.parse(bad)
