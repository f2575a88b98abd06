"""Reaching the loopback services tests need; absent ones skip, or fail when CI requires them."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

POSTGRES_ADMIN_URL = os.environ.get("SKUPIX_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("SKUPIX_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
RABBITMQ_URL = os.environ.get("SKUPIX_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")


def services_required() -> bool:
    """CI sets SKUPIX_REQUIRE_SERVICES=1 so a missing service fails instead of skipping."""
    return os.environ.get("SKUPIX_REQUIRE_SERVICES", "") not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    """Skip (locally) or fail (CI) because a service is missing."""
    if services_required():
        pytest.fail(f"required service missing: {reason} (SKUPIX_REQUIRE_SERVICES is set)")
    pytest.skip(f"service absent: {reason}")


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """Whether something listens on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """A new empty PostgreSQL database for one test, dropped afterwards; yields its SQLAlchemy URL."""
    try:
        import psycopg

        admin = psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=3)
    except Exception as exc:
        unavailable(f"PostgreSQL at {POSTGRES_ADMIN_URL}: {exc}")
        raise  # unreachable: unavailable() always raises
    name = f"skupix_test_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
        try:
            yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
