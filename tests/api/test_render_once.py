"""A variant nobody rendered yet: concurrent first requests render it once, across API processes too."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from registry.runtime import Runtime
from registry.settings import Settings
from registry.variants import service
from tests.api.helpers import variant_paths
from tests.api.test_variants import _DroppedJobs
from tests.fixtures.pictures import jpeg, product
from workers.bootstrap import close_runtime, create_runtime


@pytest.mark.parametrize("processes", [1, 2])
def test_concurrent_first_requests_render_once(client: TestClient, merchant: dict[str, str], runtime: Runtime,
                                               settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                               processes: int) -> None:
    if processes == 2 and runtime.db.is_sqlite:
        pytest.skip("several API processes need PostgreSQL (skupix serve runs one on SQLite)")
    runtime.publisher = _DroppedJobs()
    _asset, path, _alias = variant_paths(client, merchant, jpeg(product(84, size=700)), "taobao_main",
                                         sku="ONCE-1")

    renders = []
    lock = threading.Lock()
    real_render = service.render_source

    def counting_render(*args: Any, **kwargs: Any) -> Any:
        with lock:
            renders.append(threading.current_thread().name)
        time.sleep(0.3)  # a slow render: every other request arrives while it runs
        return real_render(*args, **kwargs)

    monkeypatch.setattr(service, "render_source", counting_render)
    # Each runtime is what one API process holds: its own connection pool, caches and locks.
    runtimes = [runtime] + [create_runtime(settings, role="test") for _ in range(processes - 1)]
    for extra in runtimes[1:]:
        extra.publisher = _DroppedJobs()
    try:
        apps = [create_app(runtime=rt) for rt in runtimes]

        async def first_requests() -> list[httpx.Response]:
            clients = [httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
                       for app in apps]
            try:
                return await asyncio.gather(*(clients[i % len(clients)].get(path) for i in range(100)))
            finally:
                for each in clients:
                    await each.aclose()

        answers = asyncio.run(first_requests())
    finally:
        for extra in runtimes[1:]:
            close_runtime(extra)
    assert [a.status_code for a in answers] == [200] * 100
    assert len({a.content for a in answers}) == 1
    assert len(renders) == 1, renders
