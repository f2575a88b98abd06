"""run_ahead: candidates verified on a pool come back in order, and stopping early wastes little."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from functools import partial

import pytest

from registry.concurrency import run_ahead


def _tasks(started: list[int], count: int, delays: dict[int, float] | None = None
           ) -> list[tuple[int, Callable[[], int]]]:
    lock = threading.Lock()

    def work(number: int) -> int:
        with lock:
            started.append(number)
        time.sleep((delays or {}).get(number, 0.0))
        if number == 3:
            raise LookupError("blob 3 is missing")
        return number * 10

    return [(number, partial(work, number)) for number in range(count)]


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(3)
    yield executor
    executor.shutdown(wait=True)


def test_results_come_back_in_task_order_even_when_later_tasks_finish_first(pool: ThreadPoolExecutor) -> None:
    started: list[int] = []
    delays = {1: 0.2}  # task 2 finishes long before task 1
    seen = [(tag, future.exception() or future.result())
            for tag, future in run_ahead(_tasks(started, 3, delays), pool, 3)]
    assert [tag for tag, _ in seen] == [0, 1, 2]
    assert [value for _, value in seen] == [0, 10, 20]


def test_a_failed_task_surfaces_at_its_place_and_the_rest_still_arrive(pool: ThreadPoolExecutor) -> None:
    started: list[int] = []
    outcomes = list(run_ahead(_tasks(started, 5), pool, 2))
    assert [tag for tag, _ in outcomes] == [0, 1, 2, 3, 4]
    with pytest.raises(LookupError):
        outcomes[3][1].result()
    assert outcomes[4][1].result() == 40


def test_up_to_width_run_at_once_and_a_slot_is_refilled_only_when_taken(pool: ThreadPoolExecutor) -> None:
    started: list[int] = []
    outcomes = run_ahead(_tasks(started, 6, dict.fromkeys(range(6), 0.05)), pool, 2)
    _tag, first = next(outcomes)
    first.result()
    time.sleep(0.1)  # the second task has finished too; nothing else may have started
    assert sorted(started) == [0, 1]
    _tag, second = next(outcomes)
    assert second.result() == 10
    deadline = time.monotonic() + 5.0
    while len(started) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)  # the worker records the task it picked up a moment after submission
    assert sorted(started) == [0, 1, 2]  # the freed slot took the next task, and only that one
    outcomes.close()


def test_stopping_early_cancels_what_has_not_started(pool: ThreadPoolExecutor) -> None:
    started: list[int] = []
    outcomes = run_ahead(_tasks(started, 8, {0: 0.05, 1: 0.05}), pool, 2)
    _tag, first = next(outcomes)
    first.result()
    gate = threading.Event()
    blockers = [pool.submit(gate.wait) for _ in range(3)]  # every worker busy: queued tasks wait
    tag, handed_over = next(outcomes)  # queues task 2 behind the blockers
    assert tag == 1
    outcomes.close()  # the caller stops: 2 must never run
    gate.set()
    for blocker in blockers:
        blocker.result()
    handed_over.result()
    pool.shutdown(wait=True)
    assert sorted(started) == [0, 1]


def test_without_a_pool_each_task_runs_only_when_its_turn_comes() -> None:
    started: list[int] = []
    with closing(run_ahead(_tasks(started, 8), None, 4)) as outcomes:
        for tag, future in outcomes:
            assert future.result() == tag * 10
            if tag == 1:
                break
    assert started == [0, 1]
