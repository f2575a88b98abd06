"""Process set-up for dedup speed: the verification thread pool's life and the allocator setting."""

from __future__ import annotations

import platform
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

import pytest
from pydantic import ValidationError

from registry.settings import Settings
from workers.bootstrap import close_runtime, create_runtime, tune_allocator


def _settings(tmp_path: Path, threads: int) -> Settings:
    return Settings(data_dir=tmp_path / "data", database_url=f"sqlite:///{tmp_path / 'registry.sqlite3'}",
                    storage_url="", broker_url="", public_url="", inprocess_workers=1,
                    dedup_verify_threads=threads)


def test_the_runtime_owns_a_pool_of_the_configured_size_and_stops_it(tmp_path: Path) -> None:
    rt = create_runtime(_settings(tmp_path, 3), role="test")
    pool = rt.verify_pool
    assert pool is not None
    names: set[str] = set()
    futures: list[Future[None]] = [pool.submit(lambda: names.add(threading.current_thread().name))
                                   for _ in range(6)]
    for future in futures:
        future.result()
    assert names and all(name.startswith("skupix-verify") for name in names) and len(names) <= 3
    close_runtime(rt)
    with pytest.raises(RuntimeError):
        pool.submit(print)


def test_one_thread_means_no_pool(tmp_path: Path) -> None:
    rt = create_runtime(_settings(tmp_path, 1), role="test")
    try:
        assert rt.verify_pool is None
    finally:
        close_runtime(rt)


@pytest.mark.parametrize("threads", [0, 17])
def test_thread_counts_outside_1_to_16_are_refused(tmp_path: Path, threads: int) -> None:
    with pytest.raises(ValidationError):
        _settings(tmp_path, threads)


@pytest.mark.skipif(not (sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"),
                    reason="mallopt is a glibc call")
def test_the_allocator_setting_takes_on_glibc() -> None:
    assert tune_allocator() is True
    assert tune_allocator() is True  # a second runtime in one process sets it again harmlessly


def test_the_allocator_is_left_alone_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    assert tune_allocator() is False
