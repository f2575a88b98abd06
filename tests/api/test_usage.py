"""Usage: hotlink hits added up in memory, flushed in one go, and served as per-tenant analytics."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from api import cli
from api.app import create_app
from api.client import SkupixClient
from registry.models import AssetReferrer, VariantHit
from registry.runtime import Runtime
from tests.api.helpers import upload, variant_paths
from tests.api.test_variants import _DroppedJobs
from tests.fixtures.pictures import jpeg, product


def _rows(rt: Runtime) -> int:
    with rt.db.read_only() as session:
        return int(session.scalar(select(func.count()).select_from(VariantHit)) or 0) + int(
            session.scalar(select(func.count()).select_from(AssetReferrer)) or 0)


def test_hits_are_counted_in_memory_flushed_and_reported(client: TestClient, merchant: dict[str, str],
                                                         other_merchant: dict[str, str], runtime: Runtime) -> None:
    runtime.publisher = _DroppedJobs()
    picture = jpeg(product(86, size=600))
    asset_id, path, _alias = variant_paths(client, merchant, picture, sku="USO-são", role="main")
    again = upload(client, merchant, picture, sku="USO-2", role="main").json()  # the same bytes: reused
    assert again["asset_id"] == asset_id
    for _ in range(3):
        assert client.get(path, headers={"Referer": "https://loja.example.com.br/produto/1"}).status_code == 200
    for _ in range(2):
        assert client.get(path, headers={"Referer": "https://xn--3ds443g.example.cn/item"}).status_code == 200
    etag = client.get(path).headers["etag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    assert _rows(runtime) == 0  # nothing written per request

    client.app.hotlink.usage.flush_now(runtime)  # type: ignore[attr-defined]
    found = client.get("/v1/stats", headers=merchant).json()
    assert found["hits"] == 7
    assert found["sites"] == 2
    assert found["by_day"] == [{"day": datetime.now(UTC).date().isoformat(), "hits": 7}]
    (asset,) = found["assets"]
    assert asset["asset_id"] == asset_id and asset["hits"] == 7
    assert asset["sites"] == sorted(["loja.example.com.br", "xn--3ds443g.example.cn"])
    assert asset["skus"] == ["USO-2", "USO-são"]
    assert found["uploads"] == 2 and found["uploads_deduplicated"] == 1
    assert found["storage_saved_bytes"] == len(picture)
    assert found["design_minutes_avoided"] == 20 and "minutes" in found["assumption"]
    # A second tenant sees none of it.
    theirs = client.get("/v1/stats", headers=other_merchant).json()
    assert theirs["hits"] == 0 and theirs["assets"] == [] and theirs["uploads"] == 0
    # Flushing adds to the day's totals.
    client.get(path)
    client.app.hotlink.usage.flush_now(runtime)  # type: ignore[attr-defined]
    assert client.get("/v1/stats", headers=merchant).json()["hits"] == 8
    # Counts still in memory when a process stops are written on its way out.
    with TestClient(create_app(runtime=runtime)) as leaving:
        leaving.get(path)
    assert client.get("/v1/stats", headers=merchant).json()["hits"] == 9


def test_stats_need_a_key_and_check_their_parameters(client: TestClient, merchant: dict[str, str]) -> None:
    assert client.get("/v1/stats").status_code == 401
    bad = client.get("/v1/stats?days=0", headers=merchant)
    assert bad.status_code == 422 and bad.json()["code"] == "invalid_request"


def test_stats_command_prints_the_summary_and_a_chart(monkeypatch: pytest.MonkeyPatch) -> None:
    answer: dict[str, Any] = {
        "since": "2026-11-04", "hits": 1500, "sites": 3, "uploads": 10, "uploads_deduplicated": 4,
        "storage_saved_bytes": 8_000_000, "design_minutes_avoided": 80,
        "by_day": [{"day": "2026-12-02", "hits": 500}, {"day": "2026-12-03", "hits": 1000}],
        "assets": [{"asset_id": "ast_1", "hits": 1500, "sites": ["shop.example"], "skus": ["SKU-1"]}],
    }
    monkeypatch.setattr(SkupixClient, "stats", lambda self, days=30: answer)
    result = CliRunner().invoke(cli.cli, ["stats", "--key", "sk_test"])
    assert result.exit_code == 0, result.output
    assert "1,500 hotlink hits from 3 sites" in result.output
    assert "4 of 10 uploads deduplicated, 8.0 MB saved" in result.output
    assert "2026-12-03  " + "█" * 40 + " 1,000" in result.output
    assert "2026-12-02  " + "█" * 20 + " 500" in result.output
    assert "shop.example" in result.output


def test_counts_are_flushed_on_their_own_every_interval(client: TestClient, merchant: dict[str, str],
                                                        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.publisher = _DroppedJobs()
    monkeypatch.setattr(runtime.settings, "usage_flush_seconds", 0.2)
    _asset, path, _alias = variant_paths(client, merchant, jpeg(product(87, size=600)))
    client.get(path)
    client.get(path)
    deadline = time.monotonic() + 30
    while _rows(runtime) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get("/v1/stats", headers=merchant).json()["hits"] == 2
