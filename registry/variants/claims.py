"""One render per variant: a lock per variant within a runtime and, on PostgreSQL, across processes."""

from __future__ import annotations

import hashlib
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from registry.db import Database
from registry.runtime import Runtime

_guard = threading.Lock()
_locks: weakref.WeakKeyDictionary[Database, dict[str, tuple[threading.Lock, int]]] = weakref.WeakKeyDictionary()


def _key64(name: str) -> int:
    """A signed 64-bit advisory-lock key for a name."""
    return int.from_bytes(hashlib.sha256(f"skupix-render:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def _local(rt: Runtime, name: str) -> Iterator[None]:
    """A lock per name within this runtime (threads of one process), dropped when nobody holds or waits."""
    with _guard:
        table = _locks.setdefault(rt.db, {})  # one database handle per runtime, i.e. per process
        lock, users = table.get(name, (threading.Lock(), 0))
        table[name] = (lock, users + 1)
    try:
        with lock:
            yield
    finally:
        with _guard:
            lock, users = table[name]
            if users == 1:
                del table[name]
            else:
                table[name] = (lock, users - 1)


@contextmanager
def render_claim(rt: Runtime, name: str, timeout: float | None = None) -> Iterator[bool]:
    """Hold the right to render `name`; yields False when the wait timed out (render anyway: writes are idempotent)."""
    limit = timeout if timeout is not None else float(rt.settings.task_time_limit_seconds)
    with _local(rt, name):
        if rt.db.is_sqlite:
            yield True  # SQLite serves one API process (`skupix serve` insists): the local lock is enough
            return
        key = _key64(name)
        with rt.db.engine.connect() as connection:
            deadline = time.monotonic() + limit
            held = False
            # try-and-wait rather than pg_advisory_lock: a stuck renderer elsewhere must not hang this one forever
            while not (held := bool(connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())):
                connection.rollback()
                if time.monotonic() >= deadline:
                    break
                time.sleep(0.05)
            try:
                yield held
            finally:
                if held:
                    connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.rollback()
