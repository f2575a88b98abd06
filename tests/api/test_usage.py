"""Usage: hotlink hits added up in memory, flushed in one go, and served as per-tenant analytics."""

from __future__ import annotations

import json
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
from registry.models import AssetReferrer, Tenant, VariantHit
from registry.runtime import Runtime
from registry.usage.service import visible_sites
from tests.api.helpers import upload, variant_paths
from tests.api.test_variants import _DroppedJobs
from tests.brand.helpers import BRAND_NAME, GTIN_SOAP_14, GTIN_TEA, GTIN_TEA_14, picture, published_pack
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


def test_every_asset_and_sku_has_its_own_breakdown(client: TestClient, merchant: dict[str, str],
                                                   other_merchant: dict[str, str], runtime: Runtime) -> None:
    runtime.publisher = _DroppedJobs()
    shared, own = jpeg(product(88, size=600)), jpeg(product(89, size=600))
    shared_id, shared_path, _ = variant_paths(client, merchant, shared, sku="CHÁ-1", role="main")
    own_id, own_path, _ = variant_paths(client, merchant, own, sku="CHÁ-1", role="gallery", position=0)
    assert upload(client, merchant, own, sku="茶-2", role="main").json()["asset_id"] == own_id  # reused
    assert upload(client, other_merchant, shared, sku="B-1", role="main").json()["asset_id"] == shared_id
    for path, count, site in ((shared_path, 2, "a.example"), (own_path, 5, "b.example")):
        for _ in range(count):
            assert client.get(path, headers={"Referer": f"https://{site}/p"}).status_code == 200
    client.app.hotlink.usage.flush_now(runtime)  # type: ignore[attr-defined]

    found = client.get("/v1/stats", headers=merchant).json()
    assert [(a["asset_id"], a["hits"], a["shops"], a["uploads_deduplicated"]) for a in found["assets"]] == [
        (own_id, 5, 1, 1), (shared_id, 2, 2, 0)]  # shops: a count; the other shop is never named
    assert found["assets"][0]["storage_saved_bytes"] == len(own)
    assert found["skus"] == [{"sku": "CHÁ-1", "pictures": 2, "hits": 7, "sites": 2},
                             {"sku": "茶-2", "pictures": 1, "hits": 5, "sites": 1}]
    assert found["brand"] is None  # a merchant key gets no brand section
    theirs = client.get("/v1/stats", headers=other_merchant).json()
    assert theirs["skus"] == [{"sku": "B-1", "pictures": 1, "hits": 2, "sites": 1}]
    assert client.get("/v1/stats?top=1", headers=merchant).json()["skus"] == found["skus"][:1]


def test_a_brand_sees_how_far_its_pictures_went_in_counts_not_names(
        client: TestClient, brand: dict[str, str], merchant: dict[str, str], other_merchant: dict[str, str],
        runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.publisher = _DroppedJobs()
    version = published_pack(client, brand, size=700)
    tea = next(p for p in version["products"] if p["gtin"] == GTIN_TEA_14)
    tea_main = next(s["asset_id"] for s in tea["slots"] if s["role"] == "main")
    # one shop uploads the brand's picture (deduplicated onto it), another links the product from the pack
    reused = upload(client, merchant, picture(11, 700), sku="LOJA-CHÁ", role="main").json()
    assert reused["asset_id"] == tea_main and reused["dedup"] != "new"
    assert client.post(f"/v1/packs/{BRAND_NAME}/spring/subscribe", headers=other_merchant, json={}).status_code == 200
    linked = client.post("/v1/links", headers=other_merchant,
                         json={"sku": "東京-茶", "gtin": GTIN_TEA, "brand": BRAND_NAME, "pack": "spring"})
    assert linked.status_code == 200, linked.text
    swatch = next(v for v in client.get(f"/v1/media/{tea_main}", headers=merchant).json()["variants"]
                  if v["profile"] == "swatch")
    for site in ("loja.example.com.br", "shop.example.jp", "shop.example.jp"):
        assert client.get(swatch["url"], headers={"Referer": f"https://{site}/"}).status_code == 200
    client.app.hotlink.usage.flush_now(runtime)  # type: ignore[attr-defined]

    answer = client.get("/v1/stats", headers=brand)
    assert answer.status_code == 200
    mine = answer.json()["brand"]
    assert (mine["pictures"], mine["shops"], mine["hits"], mine["sites"]) == (3, 2, 3, 2)
    assert mine["uploads_deduplicated"] == 1 and mine["storage_saved_bytes"] == len(picture(11, 700))
    assert mine["linked_pictures"] == 2  # the linked product shows both its official pictures
    assert mine["design_minutes_avoided"] == 3 * 20
    assert mine["by_day"] == [{"day": datetime.now(UTC).date().isoformat(), "hits": 3}]
    first, second = mine["products"]
    assert (first["gtin"], first["pictures"], first["shops"], first["hits"]) == (GTIN_TEA_14, 2, 2, 3)
    assert (first["uploads_deduplicated"], first["linked_pictures"], first["design_minutes_avoided"]) == (1, 2, 60)
    assert (second["gtin"], second["shops"], second["hits"], second["design_minutes_avoided"]) == (
        GTIN_SOAP_14, 0, 0, 0)
    assert mine["packs"] == [{"name": "spring", "title": "Spring", "followers": 1, "shops_linking": 1}]
    assert mine["top_pictures"][0] == {"asset_id": tea_main, "shops": 2, "hits": 3, "sites": 2,
                                       "uploads_deduplicated": 1, "storage_saved_bytes": len(picture(11, 700))}
    # Counts only: nothing in the brand's answer names or identifies the shops, nor their sites.
    with runtime.db.read_only() as session:
        shops = [(t.id, t.name) for t in session.scalars(select(Tenant).where(Tenant.kind == "merchant"))]
    text = json.dumps(mine, ensure_ascii=False)
    assert len(shops) == 2 and not any(ident in text or name in text for ident, name in shops)
    assert "example" not in text and "LOJA-CHÁ" not in text and "東京-茶" not in text
    # The shops' own answers carry no brand section, and see the picture as theirs only through their upload.
    assert client.get("/v1/stats", headers=merchant).json()["brand"] is None
    assert client.get("/v1/stats", headers=other_merchant).json()["assets"] == []
    # `skupix stats` prints the brand's section from the same answer.
    monkeypatch.setattr(SkupixClient, "stats", lambda self, days=30: answer.json())
    printed = CliRunner().invoke(cli.cli, ["stats", "--key", "sk_test"], terminal_width=160)
    assert printed.exit_code == 0, printed.output
    assert "your brand's 3 pictures: used by 2 other shops, 3 hits from 2 sites" in printed.output
    assert "1 uploads deduplicated onto them" in printed.output and "2 shown through pack links" in printed.output
    assert GTIN_TEA_14 in printed.output and "Chá verde 250 g" in printed.output and "spring" in printed.output


def test_a_shop_sharing_a_picture_never_learns_where_the_other_shop_shows_it(
        client: TestClient, merchant: dict[str, str], other_merchant: dict[str, str], runtime: Runtime,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # The rival sells with its own photo; the attacker uploads the same photo (deduplicated onto the rival's
    # asset) to learn from its usage where the rival sells.
    runtime.publisher = _DroppedJobs()
    photo = jpeg(product(91, size=600))
    asset_id, path, _alias = variant_paths(client, merchant, photo, sku="RIVAL-茶", role="main")
    assert upload(client, other_merchant, photo, sku="COPY-1", role="main").json()["asset_id"] == asset_id
    # the attacker's allow-list names its own shop and, to fish, a suffix matching nearly every site
    policy = client.put("/v1/hotlink/policy", headers=other_merchant,
                        json={"signed": False, "referrers": ["atacante.example", ".com"]})
    assert policy.status_code == 200, policy.text
    for site in ("loja-rival.example.com.br", "rival-shop.com", "atacante.example"):
        assert client.get(path, headers={"Referer": f"https://{site}/p"}).status_code == 200
    client.app.hotlink.usage.flush_now(runtime)  # type: ignore[attr-defined]

    answer = client.get("/v1/stats", headers=other_merchant)
    assert answer.status_code == 200
    theirs = answer.json()
    (seen,) = theirs["assets"]
    assert (seen["asset_id"], seen["hits"], seen["shops"]) == (asset_id, 3, 2)
    # its own site by name, the suffix rule for what matched it, the rival's site as a count
    assert (seen["sites"], seen["other_sites"]) == ([".com", "atacante.example"], 1)
    assert theirs["sites"] == 3  # totals are counts
    assert "rival" not in json.dumps(theirs, ensure_ascii=False)
    monkeypatch.setattr(SkupixClient, "stats", lambda self, days=30: theirs)
    printed = CliRunner().invoke(cli.cli, ["stats", "--key", "sk_test"], terminal_width=200)
    assert printed.exit_code == 0, printed.output
    assert "rival" not in printed.output and "atacante.example" in printed.output
    assert "1 other site(s)" in printed.output
    # The rival (no allow-list) sees the attacker's site as a count too: the picture is shared.
    (rivals,) = client.get("/v1/stats", headers=merchant).json()["assets"]
    assert (rivals["sites"], rivals["other_sites"]) == ([], 3)


def test_every_site_is_named_while_no_other_tenant_uses_the_picture() -> None:
    hosts = {"loja.example.com.br", "shop.example.jp"}
    assert visible_sites(hosts, (), alone=True) == (("loja.example.com.br", "shop.example.jp"), 0)
    assert visible_sites(hosts, (".example.jp",), alone=False) == ((".example.jp",), 1)
    assert visible_sites(hosts, ("loja.example.com.br",), alone=False) == (("loja.example.com.br",), 1)
