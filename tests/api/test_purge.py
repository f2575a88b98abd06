"""Edge/CDN purge after a revocation is a durable outbox job: it survives an unreachable edge or CDN
(retried with backoff), a crash right after the revoke commits (swept), and reaches a real HTTP server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import select

from api import hotlink
from registry.jobs import service as jobs
from registry.jobs.service import JobKind
from registry.models import Job, utcnow
from registry.runtime import Runtime
from tests.api.helpers import variant_paths
from tests.brand.helpers import published_pack
from tests.fixtures.pictures import jpeg, product
from workers import purge
from workers.jobs import JobResult, run_job

TOKEN = "p" * 32


class _Recorded:
    """A publisher that keeps what it was handed (the test runs each job itself, in order)."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.on_publish: list[Any] = []

    def publish(self, job_id: str, kind: str) -> None:
        """Keep the job id (and let the test look at the moment of publication)."""
        for check in self.on_publish:
            check(job_id)
        if kind == JobKind.PURGE_ASSET:
            self.published.append(job_id)


class _Edge(BaseHTTPRequestHandler):
    """Stands in for an edge (GET with the purge token) and a CDN purge adapter (POST /purge)."""

    seen: list[tuple[str, str, str | None, Any]]

    def do_GET(self) -> None:
        self.seen.append(("GET", self.path, self.headers.get("X-Skupix-Purge"), self.headers.get("Accept")))
        self._answer(410)

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(("POST", self.path, None, body))
        self._answer(204)

    def _answer(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


class EdgeServer:
    """A real local HTTP server on a fixed port, started and stopped by the test (down = nothing listens)."""

    def __init__(self) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self.seen: list[tuple[str, str, str | None, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        handler = type("Handler", (_Edge,), {"seen": self.seen})
        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


@pytest.fixture
def edge(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[EdgeServer]:
    server = EdgeServer()
    monkeypatch.setattr(runtime.settings, "purge_urls", [server.url])
    monkeypatch.setattr(runtime.settings, "purge_token", SecretStr(TOKEN))
    monkeypatch.setattr(runtime.settings, "purge_webhook_url", server.url + "/purge")
    monkeypatch.setattr(runtime.settings, "sweeper_grace_seconds", 30)
    try:
        yield server
    finally:
        server.stop()


def _later(monkeypatch: pytest.MonkeyPatch, by: timedelta) -> None:
    """Move the clock the sweeper and the purge read forward (no waiting in tests)."""
    moment = utcnow() + by

    def clock() -> datetime:
        return moment

    monkeypatch.setattr(jobs, "utcnow", clock)
    monkeypatch.setattr(purge, "utcnow", clock)


def _purge_jobs(rt: Runtime) -> list[Job]:
    with rt.db.read_only() as session:
        rows = list(session.scalars(select(Job).where(Job.kind == JobKind.PURGE_ASSET.value).order_by(Job.created_at)))
        session.expunge_all()
        return rows


def _revoked(client: TestClient, headers: dict[str, str], seed: int) -> tuple[str, str, str, dict[str, Any]]:
    asset_id, path, alias = variant_paths(client, headers, jpeg(product(seed, size=600)))
    assert client.get(path).status_code == 200  # stored now: its immutable URL is one to purge
    answer = client.post(f"/v1/hotlink/revoke/{asset_id}", headers=headers)
    assert answer.status_code == 200, answer.text
    return asset_id, path, alias, answer.json()


def test_an_unreachable_edge_and_cdn_do_not_fail_the_revoke_and_the_purge_is_retried_until_delivered(
        client: TestClient, merchant: dict[str, str], runtime: Runtime, edge: EdgeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.publisher = recorded = _Recorded()
    asset_id, path, alias, answer = _revoked(client, merchant, 131)  # nothing listens on the edge's port yet
    assert client.get(path).status_code == 410  # the hot path answers at once, whatever the edges do
    assert {path, alias, f"/v/{asset_id}/swatch"} <= set(answer["paths"])
    assert recorded.published == [answer["purge_job"]]

    assert run_job(runtime, answer["purge_job"]) == JobResult.RETRYING
    (job,) = _purge_jobs(runtime)
    assert (job.status, job.attempts) == ("pending", 1)
    assert "ConnectError" in job.last_error and "webhook" in job.last_error
    jobs.sweep(runtime)
    assert recorded.published == [job.id]  # backing off: not published again before it is due
    monkeypatch.setattr(runtime.settings, "purge_backoff_seconds", 1.0)
    assert run_job(runtime, job.id) == JobResult.RETRYING  # still down: the next delay doubles
    (job,) = _purge_jobs(runtime)
    assert job.attempts == 2

    edge.start()
    _later(monkeypatch, timedelta(minutes=5))
    jobs.sweep(runtime)
    assert recorded.published == [job.id, job.id]
    assert run_job(runtime, job.id) == JobResult.DONE
    assert [j.status for j in _purge_jobs(runtime)] == ["done"]  # long after the revoke: no second pass
    gets = [(p, token) for method, p, token, _ in edge.seen if method == "GET"]
    assert (path, TOKEN) in gets and (alias, TOKEN) in gets
    negotiated = [accept for method, p, _, accept in edge.seen if p == f"/v/{asset_id}/swatch"]
    assert len(negotiated) == 3  # one refresh per format class the edge caches
    posts = [body for method, _, _, body in edge.seen if method == "POST"]
    assert posts == [{"asset_id": asset_id, "paths": answer["paths"]}]
    assert run_job(runtime, job.id) == JobResult.SKIPPED  # idempotent: a redelivered message does nothing


def test_a_purge_lost_between_commit_and_publish_is_swept(client: TestClient, merchant: dict[str, str],
                                                          runtime: Runtime, edge: EdgeServer,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    class _Crashed:
        def publish(self, job_id: str, kind: str) -> None:
            raise RuntimeError("the process died right after the commit")

    runtime.publisher = _Crashed()
    edge.start()
    asset_id, path, _alias, answer = _revoked(client, merchant, 132)
    (job,) = _purge_jobs(runtime)
    assert job.id == answer["purge_job"] and (job.status, job.attempts) == ("pending", 0)
    assert edge.seen == []
    runtime.publisher = recorded = _Recorded()
    _later(monkeypatch, timedelta(seconds=runtime.settings.sweeper_grace_seconds + 1))
    jobs.sweep(runtime)
    assert recorded.published == [job.id]
    assert run_job(runtime, job.id) == JobResult.DONE
    assert ("GET", path, TOKEN) in [entry[:3] for entry in edge.seen]


def test_a_purge_soon_after_the_revoke_is_made_again_once_other_processes_have_caught_up(
        client: TestClient, merchant: dict[str, str], runtime: Runtime, edge: EdgeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert purge.SECOND_PASS_SECONDS > hotlink._RULES_TTL  # the bound other processes trust revocations for
    runtime.publisher = recorded = _Recorded()
    edge.start()
    asset_id, path, _alias, answer = _revoked(client, merchant, 133)
    assert run_job(runtime, answer["purge_job"]) == JobResult.DONE
    first, second = _purge_jobs(runtime)
    assert (first.status, second.status, second.subject) == ("done", "pending", asset_id)
    jobs.sweep(runtime)
    assert recorded.published == [first.id]  # due SECOND_PASS_SECONDS after the revocation, not before
    _later(monkeypatch, timedelta(seconds=purge.SECOND_PASS_SECONDS + 1))
    jobs.sweep(runtime)
    assert recorded.published == [first.id, second.id]
    assert run_job(runtime, second.id) == JobResult.DONE
    assert [j.status for j in _purge_jobs(runtime)] == ["done", "done"]  # and no third pass
    assert [entry[:3] for entry in edge.seen].count(("GET", path, TOKEN)) == 2
    assert len([entry for entry in edge.seen if entry[0] == "POST"]) == 2


def test_this_process_forgets_the_asset_before_the_purge_is_published(
        client: TestClient, merchant: dict[str, str], runtime: Runtime, edge: EdgeServer) -> None:
    # An edge refreshed by the purge asks this process again: it must not answer from its cached rules.
    runtime.publisher = recorded = _Recorded()
    asset_id, path, _alias = variant_paths(client, merchant, jpeg(product(134, size=600)))
    assert client.get(path).status_code == 200
    cached = client.app.hotlink.rules  # type: ignore[attr-defined]
    assert asset_id in cached
    still_cached: list[bool] = []
    recorded.on_publish.append(lambda _job_id: still_cached.append(asset_id in cached))
    assert client.post(f"/v1/hotlink/revoke/{asset_id}", headers=merchant).status_code == 200
    assert still_cached == [False]


def test_a_purge_that_never_gets_through_is_quarantined(client: TestClient, merchant: dict[str, str],
                                                        runtime: Runtime, edge: EdgeServer,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.publisher = _Recorded()
    monkeypatch.setattr(runtime.settings, "purge_max_attempts", 2)
    monkeypatch.setattr(runtime.settings, "purge_webhook_url", "")
    _asset, _path, _alias, answer = _revoked(client, merchant, 135)
    assert run_job(runtime, answer["purge_job"]) == JobResult.RETRYING
    assert run_job(runtime, answer["purge_job"]) == JobResult.QUARANTINED
    (job,) = _purge_jobs(runtime)
    assert job.status == "quarantined" and "ConnectError" in job.last_error
    assert purge.backoff(runtime, 1) < purge.backoff(runtime, 2) <= timedelta(seconds=purge.MAX_BACKOFF_SECONDS)
    assert purge.backoff(runtime, 40) == timedelta(seconds=purge.MAX_BACKOFF_SECONDS)


def test_an_edge_that_cannot_reach_the_api_is_a_failure_and_no_token_asks_no_edge(
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    class _Broken(_Edge):
        def do_GET(self) -> None:
            self._answer(502)

    broken = ThreadingHTTPServer(("127.0.0.1", 0), _Broken)
    threading.Thread(target=broken.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{broken.server_address[1]}"
        monkeypatch.setattr(runtime.settings, "purge_urls", [url])
        monkeypatch.setattr(runtime.settings, "purge_token", SecretStr(TOKEN))
        assert purge.refresh_edges(runtime, ["/v/ast_x/swatch.webp"]) == [f"{url}/v/ast_x/swatch.webp: HTTP 502"]
        monkeypatch.setattr(runtime.settings, "purge_token", None)
        assert purge.refresh_edges(runtime, ["/v/ast_x/swatch.webp"]) == [f"{url}: SKUPIX_PURGE_TOKEN is not set"]
    finally:
        broken.shutdown()
        broken.server_close()


def test_without_purge_targets_no_job_is_written(client: TestClient, merchant: dict[str, str],
                                                 runtime: Runtime) -> None:
    runtime.publisher = _Recorded()
    _asset, _path, _alias, answer = _revoked(client, merchant, 136)
    assert answer["purge_job"] is None and _purge_jobs(runtime) == []


def test_a_brand_withdrawing_a_pack_picture_purges_it_too(client: TestClient, brand: dict[str, str],
                                                          runtime: Runtime, edge: EdgeServer) -> None:
    runtime.publisher = _Recorded()
    edge.start()
    version = published_pack(client, brand, size=700)
    asset_id = version["products"][0]["slots"][0]["asset_id"]
    assert client.post(f"/v1/catalog/assets/{asset_id}/revoke", headers=brand).status_code == 200
    (job,) = _purge_jobs(runtime)
    assert job.subject == asset_id
    assert run_job(runtime, job.id) == JobResult.DONE
    assert {"asset_id": asset_id, "paths": purge.paths_of(runtime, asset_id)} in [e[3] for e in edge.seen
                                                                                  if e[0] == "POST"]


def test_a_pack_picture_merged_into_another_gets_its_second_pass_and_its_own_urls_purged(
        client: TestClient, brand: dict[str, str], runtime: Runtime, edge: EdgeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.publisher = recorded = _Recorded()
    edge.start()
    version = published_pack(client, brand, size=700)
    pack_picture = version["products"][0]["slots"][0]["asset_id"]
    survivor, _path, _alias = variant_paths(client, brand, jpeg(product(137, size=600)))
    merged = client.post(f"/v1/media/{survivor}/merge", headers=brand, json={"duplicate_asset_id": pack_picture})
    assert merged.status_code == 200, merged.text
    old_paths = purge.paths_of(runtime, pack_picture)
    # the brand withdraws the picture by the id it sees now, the survivor's
    assert client.post(f"/v1/catalog/assets/{survivor}/revoke", headers=brand).status_code == 200
    jobs_ = _purge_jobs(runtime)
    assert sorted(job.subject for job in jobs_) == sorted([survivor, pack_picture])
    for job in jobs_:
        assert run_job(runtime, job.id) == JobResult.DONE
    # each purge made soon after the withdrawal gets its second pass, the survivor's too
    second = [job for job in _purge_jobs(runtime) if job.status == "pending"]
    assert sorted(job.subject for job in second) == sorted([survivor, pack_picture])
    _later(monkeypatch, timedelta(seconds=purge.SECOND_PASS_SECONDS + 1))
    jobs.sweep(runtime)
    assert {job.id for job in second} <= set(recorded.published)
    gets = {p for method, p, _token, _ in edge.seen if method == "GET"}
    assert set(old_paths) <= gets  # the merged picture's own variant and alias URLs
