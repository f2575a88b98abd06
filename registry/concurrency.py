"""Running work ahead on a thread pool while handing results back in order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Executor, Future
from typing import TypeVar

Tag = TypeVar("Tag")
Result = TypeVar("Result")


def run_ahead(tasks: Iterable[tuple[Tag, Callable[[], Result]]],
              pool: Executor | None, width: int) -> Generator[tuple[Tag, Future[Result]], None, None]:
    """Run tasks on `pool`, up to `width` at once, and hand back their futures in task order.

    The next task is taken from `tasks` only when a slot frees, so a caller that stops early starts
    little work it throws away; closing the iterator cancels whatever has not started. Without a
    pool each task runs when its turn comes.
    """
    source = iter(tasks)
    pending: deque[tuple[Tag, Future[Result]]] = deque()
    ahead = max(1, width) if pool is not None else 1
    try:
        while True:
            while len(pending) < ahead and (task := next(source, None)) is not None:
                tag, work = task
                pending.append((tag, pool.submit(work) if pool is not None else _run_now(work)))
            if not pending:
                return
            yield pending.popleft()
    finally:
        for _tag, future in pending:
            future.cancel()


def _run_now(work: Callable[[], Result]) -> Future[Result]:
    future: Future[Result] = Future()
    try:
        future.set_result(work())
    except Exception as error:  # handed to the caller through the future, as a pool would
        future.set_exception(error)
    return future
