"""Packs: immutable versions with terms; embargo and expiry enforced on every path; sellers follow or pin."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from registry.models import PackAsset, PackVersion
from registry.runtime import Runtime
from tests.api.helpers import upload
from tests.brand.helpers import (
    BRAND_NAME,
    GTIN_SOAP_14,
    GTIN_TEA,
    GTIN_TEA_14,
    MARKETPLACE_SIZE,
    WALMART_SIZE,
    official,
    picture,
    published_pack,
)
from tests.conftest import wait_for_jobs

PACK = f"/v1/packs/{BRAND_NAME}/spring"


def _shift(client: TestClient, runtime: Runtime, **values: datetime | None) -> None:
    """Move a pack's terms in time (the clock cannot be waited on in a test).

    Rewriting the rows stands in for time passing, which the hot path's few-second view of an asset's
    rules would not notice; real term changes go through the API and reach every process within it.
    """
    with runtime.db.unit_of_work() as session:
        session.execute(update(PackVersion).values(**values))
        session.execute(update(PackAsset).values(**values))
    client.app.hotlink.forget_rules()  # type: ignore[attr-defined]


def _asset_of(version: dict[str, object], gtin: str, role: str = "main") -> str:
    products = version["products"]
    assert isinstance(products, list)
    item = next(p for p in products if p["gtin"] == gtin)
    return str(next(s for s in item["slots"] if s["role"] == role)["asset_id"])


def _subscribe_and_link(client: TestClient, seller: dict[str, str], sku: str = "LOJA-CHÁ",
                        pinned: int | None = None) -> None:
    assert client.post(f"{PACK}/subscribe", headers=seller, json={}).status_code == 200
    linked = client.post("/v1/links", headers=seller, json={"sku": sku, "gtin": GTIN_TEA, "brand": BRAND_NAME,
                                                            "pack": "spring", "pinned_version": pinned})
    assert linked.status_code == 200, linked.text


def test_published_versions_are_immutable_snapshots_with_changelog(client: TestClient, brand: dict[str, str],
                                                                   merchant: dict[str, str]) -> None:
    first = published_pack(client, brand, licence="Uso em marketplaces", platforms=["amazon", "walmart"])
    assert first["version"] == 1
    assert [p["gtin"] for p in first["products"]] == [GTIN_TEA_14, GTIN_SOAP_14]
    official(client, brand, GTIN_TEA, picture(21), facet="C1N1")  # the draft moves on …
    second = client.post("/v1/packs/spring/publish", headers=brand, json={"changelog": "new front"}).json()
    assert second["version"] == 2
    v1 = client.get(f"{PACK}/versions/1", headers=merchant).json()
    assert v1["products"] == first["products"]  # … version 1 does not
    assert v1["terms"]["licence"] == "Uso em marketplaces"
    assert v1["terms"]["platforms"] == ["amazon", "walmart"]
    assert _asset_of(second, GTIN_TEA_14) != _asset_of(first, GTIN_TEA_14)
    listed = client.get(PACK, headers=merchant).json()
    assert [(v["version"], v["changelog"]) for v in listed["versions"]] == [(2, "new front"), (1, "first")]


def test_publishing_needs_a_brand_its_own_products_and_good_terms(client: TestClient, brand: dict[str, str],
                                                                  merchant: dict[str, str]) -> None:
    assert client.put("/v1/packs/x", headers=merchant, json={"gtins": []}).status_code == 403
    assert client.put("/v1/packs/x", headers=brand, json={"gtins": [GTIN_TEA]}).status_code == 404
    assert client.put("/v1/packs/a b!", headers=brand, json={"gtins": []}).json()["code"] == "invalid_input"
    published_pack(client, brand)
    bad_platform = client.post("/v1/packs/spring/publish", headers=brand, json={"platforms": ["myspace"]})
    assert bad_platform.status_code == 422
    inverted = client.post("/v1/packs/spring/publish", headers=brand, json={
        "embargo_until": "2030-01-02T00:00:00Z", "expires_at": "2030-01-01T00:00:00Z"})
    assert inverted.status_code == 422
    naive = client.post("/v1/packs/spring/publish", headers=brand, json={"embargo_until": "2030-01-02T00:00:00"})
    assert naive.status_code == 422
    assert client.get(f"{PACK}/versions/2", headers=brand).status_code == 404  # nothing half-published


def test_embargo_hides_pictures_from_everyone_but_the_brand(client: TestClient, brand: dict[str, str],
                                                            merchant: dict[str, str], runtime: Runtime) -> None:
    later = datetime.now(UTC) + timedelta(days=3)
    version = published_pack(client, brand, embargo_until=later.isoformat())
    wait_for_jobs(runtime)
    asset_id = _asset_of(version, GTIN_TEA_14)
    media = client.get(f"/v1/media/{asset_id}", headers=brand).json()
    url = next(v["url"] for v in media["variants"] if v["profile"] == "taobao_main")
    alias = next(v["alias_url"] for v in media["variants"] if v["profile"] == "taobao_main")
    path, alias_path = re.sub(r"^https?://[^/]+", "", url), re.sub(r"^https?://[^/]+", "", alias)
    # the brand sees it, privately
    seen = client.get(path, headers=brand)
    assert seen.status_code == 200
    assert seen.headers["cache-control"] == "private, no-store"
    # nobody else: not by URL, alias, asset lookup, pack listing, search or a SKU listing of the same bytes
    assert client.get(path).status_code == 404
    assert client.get(path, headers=merchant).status_code == 404
    assert client.get(alias_path, follow_redirects=False).status_code == 404
    assert client.get(f"/v1/media/{asset_id}", headers=merchant).status_code == 404
    compliance = f"/v1/media/{asset_id}/compliance"
    assert client.get(compliance, headers=merchant, params={"platform": "taobao"}).status_code == 404
    assert client.get(compliance, headers=brand, params={"platform": "taobao"}).status_code == 200
    assert client.get(PACK, headers=merchant).status_code == 404
    assert client.get("/v1/packs", headers=merchant).json() == []
    assert client.get(f"{PACK}/versions/latest/zip", headers=merchant, params={"platform": "taobao"}).status_code == 404
    copied = upload(client, merchant, picture(11), sku="COPY", role="main").json()
    assert copied["asset_id"] == asset_id
    found = client.post("/v1/media/search", headers=merchant, files={"file": ("s.jpg", picture(11), "image/jpeg")})
    assert found.json()["matches"] == []
    listing = client.get("/v1/skus/COPY/listing", headers=merchant, params={"platform": "taobao"}).json()
    assert listing["slots"] == []
    # once the embargo has passed, everyone sees it, cached no longer than the terms allow
    _shift(client, runtime, embargo_until=datetime.now(UTC) - timedelta(seconds=1))
    released = client.get(path)
    assert released.status_code == 200
    assert "immutable" in released.headers["cache-control"]
    relisted = client.get("/v1/skus/COPY/listing", headers=merchant, params={"platform": "taobao"}).json()
    assert len(relisted["slots"]) == 1


def test_expiry_caps_cache_lifetimes_and_then_stops_serving(client: TestClient, brand: dict[str, str],
                                                            merchant: dict[str, str], runtime: Runtime) -> None:
    expires = datetime.now(UTC) + timedelta(hours=2)
    version = published_pack(client, brand, expires_at=expires.isoformat())
    asset_id = _asset_of(version, GTIN_TEA_14)
    media = client.get(f"/v1/media/{asset_id}", headers=merchant).json()
    path = re.sub(r"^https?://[^/]+", "", next(v["url"] for v in media["variants"] if v["profile"] == "web_thumb"))
    served = client.get(path)
    assert served.status_code == 200
    max_age = int(served.headers["cache-control"].split("max-age=")[1])
    assert 0 < max_age <= 7200
    assert "immutable" not in served.headers["cache-control"]
    _shift(client, runtime, expires_at=datetime.now(UTC) - timedelta(seconds=1))
    assert client.get(path).status_code == 404
    assert client.get(path, headers=brand).status_code == 200
    assert client.get(f"{PACK}/versions/1/zip", headers=merchant, params={"platform": "taobao"}).status_code == 403


def test_allowed_platforms_are_enforced_for_sellers(client: TestClient, brand: dict[str, str],
                                                    merchant: dict[str, str]) -> None:
    published_pack(client, brand, platforms=["walmart"])
    refused = client.get(f"{PACK}/versions/1/manifest", headers=merchant, params={"platform": "amazon"})
    assert refused.status_code == 403
    allowed = client.get(f"{PACK}/versions/1/manifest", headers=merchant, params={"platform": "walmart"})
    assert allowed.status_code == 200


def test_pictures_a_platform_would_reject_are_reported_not_produced(client: TestClient, brand: dict[str, str],
                                                                   merchant: dict[str, str]) -> None:
    # The pack's pictures are smaller than Walmart's 1500 px minimum: listed with the reason, no file made.
    published_pack(client, brand, size=640)
    manifest = client.get(f"{PACK}/versions/1/manifest", headers=merchant, params={"platform": "walmart"})
    assert manifest.status_code == 200, manifest.text
    body = manifest.json()
    assert body["files"] == []
    assert {r["code"] for r in body["rejected"]} == {"image_too_small_for_profile"}
    assert {r["gtin"] for r in body["rejected"]} == {GTIN_TEA_14, GTIN_SOAP_14}
    pulled = _zip(client, merchant, f"{PACK}/versions/1/zip", "walmart")
    assert sorted(pulled.namelist()) == ["manifest.csv", "manifest.json"]
    assert json.loads(pulled.read("manifest.json"))["rejected"] == body["rejected"]


def _zip(client: TestClient, headers: dict[str, str], url: str, platform: str) -> zipfile.ZipFile:
    answer = client.get(url, headers=headers, params={"platform": platform})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    assert int(answer.headers["content-length"]) == len(answer.content)
    return zipfile.ZipFile(io.BytesIO(answer.content))


@pytest.mark.parametrize(("platform", "names"), [
    # a pack serves every seller, so Amazon's <ID> is the GTIN; a seller's SKU ZIP uses its own SKU
    ("amazon", {f"{GTIN_TEA_14}.MAIN.jpg", f"{GTIN_TEA_14}.PT01.jpg", f"{GTIN_SOAP_14}.MAIN.jpg"}),
    ("walmart", {f"{GTIN_TEA_14}.jpg", f"{GTIN_TEA_14}_1.jpg", f"{GTIN_SOAP_14}.jpg"}),
    ("taobao", {f"{GTIN_TEA_14}_C1N1.jpg", f"{GTIN_TEA_14}_C7N1_s01.jpg", f"{GTIN_SOAP_14}_C1N1.jpg"}),
])
def test_pack_zip_is_named_by_the_platform_with_checked_manifests(
        client: TestClient, brand: dict[str, str], merchant: dict[str, str], platform: str, names: set[str]) -> None:
    published_pack(client, brand, size=WALMART_SIZE if platform == "walmart" else MARKETPLACE_SIZE)
    archive = _zip(client, merchant, f"{PACK}/versions/latest/zip", platform)
    assert set(archive.namelist()) == names | {"manifest.json", "manifest.csv"}
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["version"] == 1
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert {r["file"] for r in rows} == names
    for row in rows:
        data = archive.read(row["file"])
        assert hashlib.sha256(data).hexdigest() == row["sha256"]
        assert int(row["size"]) == len(data)
    tea_main = next(r for r in rows if r["gtin"] == GTIN_TEA_14 and r["slot"] == "main")
    assert tea_main["sku"] == "茶-绿-250g"


def test_a_seller_listing_follows_the_next_version_and_can_pin(client: TestClient, brand: dict[str, str],
                                                               merchant: dict[str, str],
                                                               other_merchant: dict[str, str]) -> None:
    first = published_pack(client, brand)
    _subscribe_and_link(client, merchant, "LOJA-CHÁ")
    _subscribe_and_link(client, other_merchant, "東京-茶", pinned=1)
    listing = client.get("/v1/skus/LOJA-CHÁ/listing", headers=merchant, params={"platform": "taobao"}).json()
    main = next(s for s in listing["slots"] if s["role"] == "main")
    assert main["asset_id"] == _asset_of(first, GTIN_TEA_14)
    alias = re.sub(r"^https?://[^/]+", "", main["alias_url"])
    before = client.get(alias, follow_redirects=False)
    assert before.status_code == 302
    official(client, brand, GTIN_TEA, picture(31), facet="C1N1")
    second = client.post("/v1/packs/spring/publish", headers=brand, json={"changelog": "v2"}).json()
    after = client.get(alias, follow_redirects=False)
    assert after.headers["location"] != before.headers["location"]
    assert _asset_of(second, GTIN_TEA_14) in after.headers["location"]
    assert client.get(after.headers["location"]).status_code == 200
    pinned = client.get("/v1/skus/東京-茶/listing", headers=other_merchant, params={"platform": "taobao"}).json()
    assert next(s for s in pinned["slots"] if s["role"] == "main")["asset_id"] == _asset_of(first, GTIN_TEA_14)
    assert client.get("/v1/links/LOJA-CHÁ", headers=merchant).json()["following_version"] == 2
    archive = _zip(client, merchant, "/v1/skus/LOJA-CHÁ/zip", "amazon")
    assert set(archive.namelist()) == {"LOJA-CHÁ.MAIN.jpg", "LOJA-CHÁ.PT01.jpg", "manifest.json", "manifest.csv"}


def test_a_seller_must_subscribe_and_cannot_link_a_gtin_the_pack_lacks(client: TestClient, brand: dict[str, str],
                                                                        merchant: dict[str, str]) -> None:
    published_pack(client, brand)
    body = {"sku": "X", "gtin": GTIN_TEA, "brand": BRAND_NAME, "pack": "spring"}
    assert client.post("/v1/links", headers=merchant, json=body).status_code == 409
    client.post(f"{PACK}/subscribe", headers=merchant, json={})
    assert client.post("/v1/links", headers=merchant, json={**body, "gtin": "96385074"}).status_code == 404
    assert client.post("/v1/links", headers=merchant, json={**body, "pinned_version": 7}).status_code == 404
    assert client.post(f"{PACK}/subscribe", headers=merchant,
                       json={"webhook_url": "ftp://x"}).status_code == 422


def test_a_brand_revocation_stops_serving_to_others(client: TestClient, brand: dict[str, str],
                                                    merchant: dict[str, str]) -> None:
    version = published_pack(client, brand)
    asset_id = _asset_of(version, GTIN_TEA_14)
    assert client.post(f"/v1/catalog/assets/{asset_id}/revoke", headers=merchant).status_code == 403
    assert client.post(f"/v1/catalog/assets/{asset_id}/revoke", headers=brand).json()["revoked"] == 1
    assert client.get(f"/v1/media/{asset_id}", headers=merchant).status_code == 404
    assert client.get(f"/v1/media/{asset_id}", headers=brand).status_code == 200


def test_an_own_sku_zip_uses_sku_names_and_refuses_gtin_naming(client: TestClient, merchant: dict[str, str]) -> None:
    upload(client, merchant, picture(71, WALMART_SIZE), sku="MINHA-1", role="main")
    archive = _zip(client, merchant, "/v1/skus/MINHA-1/zip", "walmart")
    assert set(archive.namelist()) == {"MINHA-1.MAIN.jpg", "manifest.json", "manifest.csv"}
    refused = client.get("/v1/skus/MINHA-1/zip", headers=merchant, params={"platform": "walmart", "naming": "gs1"})
    assert refused.status_code == 422


def test_a_linked_sku_shows_the_brand_slots_instead_of_its_own(client: TestClient, brand: dict[str, str],
                                                               merchant: dict[str, str]) -> None:
    version = published_pack(client, brand)
    own = upload(client, merchant, picture(72), sku="LOJA-CHÁ", role="main").json()
    _subscribe_and_link(client, merchant, "LOJA-CHÁ")
    listing = client.get("/v1/skus/LOJA-CHÁ/listing", headers=merchant, params={"platform": "web"}).json()
    shown = {s["asset_id"] for s in listing["slots"]}
    assert own["asset_id"] not in shown
    assert _asset_of(version, GTIN_TEA_14) in shown


def test_the_zip_is_produced_piece_by_piece_with_its_length_known(runtime: Runtime) -> None:
    from api.routes.packs import zip_chunks
    from registry.packs.service import Manifest, ManifestFile
    from registry.variants.service import VariantRef

    files = []
    for index in range(3):
        data = bytes([index]) * 3_000_000
        runtime.store.put_if_absent(f"variants/test/{index}.jpg", data, "image/jpeg")
        files.append(ManifestFile(sku="S", gtin=GTIN_TEA_14, role="gallery", position=index, file=f"{index}.jpg",
                                  asset_id="ast_x", profile="web_large",
                                  ref=VariantRef("ast_x", "web_large", "v1", "jpg"), size=len(data),
                                  sha256=hashlib.sha256(data).hexdigest(), blob_key=f"variants/test/{index}.jpg",
                                  content_type="image/jpeg"))
    stream = zip_chunks(runtime, "", Manifest(title="t", platform="web", version=1, files=tuple(files),
                                              not_after=None))
    total, largest, pieces = 0, 0, 0
    for chunk in stream:
        total, largest, pieces = total + len(chunk), max(largest, len(chunk)), pieces + 1
    assert total == len(stream)
    assert largest < 3_000_000  # never a whole file, let alone the whole archive, in one piece
    assert pieces > 10
