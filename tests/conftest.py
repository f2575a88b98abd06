"""Shared fixtures: settings on a temporary data dir, a runtime per database backend, an API client."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from registry.runtime import Runtime
from registry.settings import Settings
from registry.tenants.service import create_key
from tests.services import fresh_postgres_database
from workers.bootstrap import close_runtime, create_runtime

warnings.filterwarnings("ignore", message=".*Using `httpx` with `starlette.testclient`.*")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each registry/API test runs once on SQLite and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite3'}"
        return
    with fresh_postgres_database() as url:
        yield url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Settings isolated to this test: own data dir, own database, no broker."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        storage_url="",
        broker_url="",
        public_url="",
        sweeper_interval_seconds=3600,
        sweeper_grace_seconds=0,
        inprocess_workers=1,
    )


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime with in-process jobs; closed after the test."""
    rt = create_runtime(settings, role="test")
    try:
        yield rt
    finally:
        close_runtime(rt)


def wait_for_jobs(rt: Runtime) -> None:
    """Let in-process jobs finish."""
    wait = getattr(rt.publisher, "wait_idle", None)
    if callable(wait):
        assert wait(120), "background jobs did not finish"


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """An HTTP client on the real app, sharing the test's runtime."""
    from api.app import create_app

    with TestClient(create_app(runtime=runtime)) as test_client:
        yield test_client


def make_key(rt: Runtime, tenant: str, kind: str) -> str:
    """Create a tenant key and return the plain key."""
    with rt.db.unit_of_work() as session:
        _tenant, plain = create_key(session, tenant, kind)
    return plain


@pytest.fixture
def merchant(runtime: Runtime) -> dict[str, str]:
    """Authorization headers of a merchant."""
    return {"Authorization": f"Bearer {make_key(runtime, 'loja-são-paulo', 'merchant')}"}


@pytest.fixture
def other_merchant(runtime: Runtime) -> dict[str, str]:
    """Authorization headers of a second merchant."""
    return {"Authorization": f"Bearer {make_key(runtime, '東京ショップ', 'merchant')}"}


@pytest.fixture
def brand(runtime: Runtime) -> dict[str, str]:
    """Authorization headers of a brand."""
    return {"Authorization": f"Bearer {make_key(runtime, '品牌官方', 'brand')}"}


@pytest.fixture
def platform(runtime: Runtime) -> dict[str, str]:
    """Authorization headers of a platform (read-only)."""
    return {"Authorization": f"Bearer {make_key(runtime, 'marketplace', 'platform')}"}
