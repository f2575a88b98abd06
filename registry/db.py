"""Database engine, units of work and the after-commit hooks that publish queued jobs."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

_AFTER_COMMIT = "skupix_after_commit"
# Any 64-bit constant; serialises near-duplicate decisions across every API process on PostgreSQL.
_DEDUP_LOCK_KEY = 0x5C0B1D0D


class Database:
    """Owns the engine and hands out sessions; only units of work commit."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = url.split("///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 60}, pool_size=8, max_overflow=16
            )
            self._configure_sqlite(self.engine)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        event.listen(self.sessions, "after_commit", self._run_after_commit)
        event.listen(self.sessions, "after_soft_rollback", self._drop_after_commit)

    @staticmethod
    def _configure_sqlite(engine: Engine) -> None:
        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=60000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # One writer at a time, taken at BEGIN so two transactions never deadlock upgrading.
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back if it raises."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def read_only(self) -> Iterator[Session]:
        """A session for reads; loaded rows stay usable after it ends, nothing is committed."""
        session = self.sessions()
        try:
            yield session
        finally:
            session.close()  # the pool rolls the connection back; close() keeps loaded rows intact

    @staticmethod
    def after_commit(session: Session, callback: Callable[[], None]) -> None:
        """Run `callback` once the session's transaction commits; dropped on rollback."""
        session.info.setdefault(_AFTER_COMMIT, []).append(callback)

    @staticmethod
    def _run_after_commit(session: Session) -> None:
        callbacks = session.info.pop(_AFTER_COMMIT, [])
        for callback in callbacks:
            try:
                callback()
            except Exception:  # the outbox sweeper retries whatever did not go out
                log.exception("after-commit hook failed")

    @staticmethod
    def _drop_after_commit(session: Session, _previous_transaction: Any) -> None:
        session.info.pop(_AFTER_COMMIT, None)

    def lock_dedup(self, session: Session) -> None:
        """Serialise dedup decisions until the session's transaction ends."""
        if self.is_sqlite:
            session.connection()  # BEGIN IMMEDIATE already made this the only writer
            return
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DEDUP_LOCK_KEY})

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        from registry.migrate import upgrade

        upgrade(self.engine)

    def dispose(self) -> None:
        """Close pooled connections."""
        self.engine.dispose()
