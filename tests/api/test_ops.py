"""Operations: liveness, readiness, Prometheus metrics, request ids and structured access logs."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from registry.runtime import Runtime
from tests.api.helpers import upload, variant_paths
from tests.api.test_variants import _DroppedJobs
from tests.fixtures.pictures import jpeg, product


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_healthz_answers_without_asking_dependencies(client: TestClient, runtime: Runtime,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_args: object) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(runtime.store, "head", broken)
    alive = client.get("/healthz")
    assert alive.status_code == 200 and alive.json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["code"] == "storage_unavailable" and "blob store" in ready.json()["message"]


def test_readyz_probes_database_store_and_broker(client: TestClient, runtime: Runtime,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert "broker" not in ready.json()  # embedded tasks: no broker to ask
    monkeypatch.setattr(runtime.settings, "broker_url", "amqp://guest:guest@127.0.0.1:1//")
    down = client.get("/readyz")
    assert down.status_code == 503 and "broker" in down.json()["message"]


def test_metrics_count_requests_renders_cache_and_errors(client: TestClient, merchant: dict[str, str],
                                                         runtime: Runtime) -> None:
    runtime.publisher = _DroppedJobs()
    _asset, path, _alias = variant_paths(client, merchant, jpeg(product(85, size=600)), sku="OPS-1")
    before = _samples(client.get("/metrics").text)
    upload(client, merchant, jpeg(product(85, size=600)), sku="OPS-2")  # the same picture again: exact
    for _ in range(3):
        assert client.get(path).status_code == 200
    assert client.get(path.replace("swatch", "no_such_profile")).status_code == 404
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    after = _samples(answer.text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    route = "/v/{asset}/{profile}/{version}.{ext}"
    assert grew("skupix_http_requests_total", route=route, method="GET", status="200") == 3
    assert grew("skupix_http_requests_total", route=route, method="GET", status="404") == 1
    assert grew("skupix_http_request_duration_seconds_count", route=route) == 4
    assert grew("skupix_renders_total", profile="swatch") == 1
    assert grew("skupix_render_duration_seconds_count", profile="swatch") == 1
    assert grew("skupix_hotlink_cache_total", result="miss") == 1
    assert grew("skupix_hotlink_cache_total", result="hit") == 2
    assert grew("skupix_http_errors_total", code="not_found") >= 1
    assert ("skupix_queue_depth", (("status", "pending"),)) in after
    assert grew("skupix_dedup_decisions_total", decision="exact") == 1
    assert grew("skupix_dedup_duration_seconds_count", decision="exact") == 1
    assert after[("skupix_http_requests_total", (("method", "GET"), ("route", "/v1/media/{asset_id}"),
                                                 ("status", "200")))] >= 1


def test_request_ids_and_access_log_lines(client: TestClient, merchant: dict[str, str],
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="skupix.access")
    sent = client.get("/v1/media?limit=1", headers={**merchant, "X-Request-ID": "trace-42"})
    assert sent.headers["x-request-id"] == "trace-42"
    made = client.get("/healthz").headers["x-request-id"]
    other = client.get("/healthz").headers["x-request-id"]
    assert made and other and made != other
    client.app.hotlink.log.flush()  # type: ignore[attr-defined]
    lines = [json.loads(line) for record in caplog.records if record.name == "skupix.access"
             for line in record.getMessage().splitlines()]
    by_id = {line["rid"]: line for line in lines}
    assert by_id["trace-42"]["path"] == "/v1/media" and by_id["trace-42"]["status"] == sent.status_code
    assert by_id["trace-42"]["bytes"] == len(sent.content)
    assert by_id[made]["path"] == "/healthz" and by_id[made]["ms"] >= 0
