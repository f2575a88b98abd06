"""Tenant profiles over HTTP: defined with the built-ins' rules, private until published, versioned, retired,
and rendered on the hot path only for pictures their owner has to do with."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from registry.runtime import Runtime
from tests.api.helpers import upload
from tests.conftest import make_key
from tests.fixtures.pictures import jpeg, product

SQUARE = {"width": 300, "height": 300, "fit": "pad", "fill": 0.8, "trim": True, "background": "#ffffff",
          "format": "JPEG", "quality": 85, "max_bytes": 500_000, "source": "our shop's tile"}


def _create(client: TestClient, headers: dict[str, str], name: str = "square", **extra: Any) -> Any:
    body = {"name": name, "definition": extra.pop("definition", SQUARE), **extra}
    return client.post("/v1/profiles", headers=headers, json=body)


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3] if url.startswith("http") else url


def _asset(client: TestClient, headers: dict[str, str], seed: int, sku: str | None = None) -> str:
    sent = upload(client, headers, jpeg(product(seed, size=640)), sku=sku, role="main" if sku else None)
    assert sent.status_code == 201, sent.text
    return str(sent.json()["asset_id"])


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


class TestDefining:
    def test_a_brand_defines_a_profile_in_its_namespace(self, client: TestClient, platform: dict[str, str]) -> None:
        made = _create(client, platform, display_name="Vitrine quadrada · 方形")
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["name"] == "marketplace~square"  # the namespace comes from the tenant's name
        assert (body["display_name"], body["version"], body["built_in"], body["yours"]) == (
            "Vitrine quadrada · 方形", 1, False, True)
        assert (body["published"], body["retired"]) == (False, False)
        assert body["definition"]["width"] == 300 and body["definition"]["fit"] == "pad"
        assert [v["version"] for v in body["history"]] == [1]

    def test_a_tenant_name_without_latin_letters_gets_a_random_namespace(self, client: TestClient,
                                                                          brand: dict[str, str]) -> None:
        first = _create(client, brand).json()["name"]
        namespace, _, short = first.partition("~")
        assert short == "square" and namespace.startswith("t") and len(namespace) == 9
        second = _create(client, brand, name="tile").json()["name"]
        assert second == f"{namespace}~tile"  # one namespace per tenant

    def test_a_chosen_namespace_is_claimed_once(self, client: TestClient, runtime: Runtime,
                                                platform: dict[str, str]) -> None:
        assert _create(client, platform, namespace="shop-7").json()["name"] == "shop-7~square"
        changed = _create(client, platform, name="b", namespace="other")
        assert (changed.status_code, changed.json()["code"]) == (409, "conflict")
        rival = {"Authorization": f"Bearer {make_key(runtime, 'Rival', 'brand')}"}
        taken = _create(client, rival, namespace="shop-7")
        assert (taken.status_code, taken.json()["code"]) == (409, "conflict")
        bad = _create(client, rival, namespace="Shop_7")
        assert (bad.status_code, bad.json()["code"]) == (422, "invalid_input")

    def test_the_same_short_name_in_two_tenants_never_collides(self, client: TestClient, platform: dict[str, str],
                                                                 brand: dict[str, str]) -> None:
        names = {_create(client, platform).json()["name"], _create(client, brand).json()["name"]}
        assert len(names) == 2
        again = _create(client, platform)
        assert (again.status_code, again.json()["code"]) == (409, "conflict")

    def test_a_built_in_name_cannot_be_shadowed(self, client: TestClient, platform: dict[str, str]) -> None:
        made = _create(client, platform, name="amazon_main").json()
        assert made["name"] == "marketplace~amazon_main"
        builtin = client.get("/v1/profiles/amazon_main").json()
        assert builtin["built_in"] and builtin["width"] == 2000
        foreign = _create(client, platform, name="acme~square")
        assert (foreign.status_code, foreign.json()["code"]) == (422, "invalid_input")

    @pytest.mark.parametrize("name", ["Square", "a/b", "a.b", "", "x" * 40, "sq uare", "-x", "名前"])
    def test_names_are_url_and_file_safe(self, client: TestClient, platform: dict[str, str], name: str) -> None:
        made = _create(client, platform, name=name)
        assert made.status_code == 422, made.text
        assert made.json()["code"] in ("invalid_input", "invalid_request")

    def test_merchants_and_anonymous_callers_may_not_define(self, client: TestClient,
                                                            merchant: dict[str, str]) -> None:
        assert _create(client, merchant).json()["code"] == "forbidden"
        assert _create(client, {}).status_code == 401


class TestBounds:
    @pytest.mark.parametrize("change", [
        {"width": 20_000}, {"width": 9000, "height": 9000}, {"width": 0}, {"height": -5}, {"width": "big"},
        {"quality": 0}, {"quality": 101}, {"max_bytes": 10**12}, {"max_bytes": -1}, {"fill": 0.01},
        {"fill": 1.5}, {"fit": "stretch"}, {"background": "red"}, {"format": "GIF"}, {"format": "AVIF"},
        {"max_upscale": 50}, {"max_side": 100_000}, {"max_pixels": 10**12}, {"colour_space": "CMYK"},
        {"min_side": 5000}, {"trim": "yes"}, {"version": 7}, {"name": "x"}, {"fallback": "web_thumb"},
        {"zoom": 2}, {"description": "x" * 5000}, {"description": "bell\x07"}, {"source": 12},
    ], ids=repr)
    def test_out_of_bounds_fields_are_refused_with_a_stable_code(self, client: TestClient, runtime: Runtime,
                                                                 platform: dict[str, str],
                                                                 change: dict[str, Any]) -> None:
        made = _create(client, platform, definition={**SQUARE, **change})
        assert made.status_code == 422, made.text
        assert made.json()["code"] in ("invalid_profile", "invalid_input")
        assert client.get("/v1/profiles", headers=platform).json()[-1]["built_in"]  # nothing half-written

    def test_the_largest_allowed_box_is_accepted(self, client: TestClient, platform: dict[str, str]) -> None:
        made = _create(client, platform, definition={**SQUARE, "width": 5000, "height": 5000, "max_bytes": 0})
        assert made.status_code == 201, made.text


class TestVisibility:
    def test_unpublished_profiles_are_the_owners_only(self, client: TestClient, platform: dict[str, str],
                                                      merchant: dict[str, str], brand: dict[str, str]) -> None:
        name = _create(client, platform).json()["name"]
        assert name in [p["name"] for p in client.get("/v1/profiles", headers=platform).json()]
        for headers in (merchant, brand, {}):
            assert name not in [p["name"] for p in client.get("/v1/profiles", headers=headers).json()]
            hidden = client.get(f"/v1/profiles/{name}", headers=headers)
            missing = client.get("/v1/profiles/marketplace~nothing", headers=headers)
            assert hidden.status_code == missing.status_code == 404
            assert hidden.json()["message"].replace(name, "X") == missing.json()["message"].replace(
                "marketplace~nothing", "X")  # the same answer: nothing says it exists
        rival = brand
        for action in ("publish", "retire"):
            answer = client.post(f"/v1/profiles/{name}/{action}", headers=rival)
            assert answer.status_code == 404, answer.text
        changed = client.post(f"/v1/profiles/{name}/versions", headers=rival, json={"definition": SQUARE})
        assert changed.status_code == 404
        assert client.get(f"/v1/profiles/{name}", headers=platform).json()["version"] == 1

    def test_a_bad_key_on_the_public_catalogue_is_refused(self, client: TestClient) -> None:
        assert client.get("/v1/profiles", headers={"Authorization": "Bearer skx_nope"}).status_code == 401

    def test_publishing_shares_it_with_every_tenant(self, client: TestClient, platform: dict[str, str],
                                                    merchant: dict[str, str]) -> None:
        name = _create(client, platform).json()["name"]
        published = client.post(f"/v1/profiles/{name}/publish", headers=platform)
        assert published.status_code == 200 and published.json()["published"]
        assert client.post(f"/v1/profiles/{name}/publish", headers=platform).status_code == 200  # idempotent
        seen = client.get(f"/v1/profiles/{name}", headers=merchant).json()
        assert (seen["published"], seen["yours"]) == (True, False)
        assert name in [p["name"] for p in client.get("/v1/profiles").json()]


class TestRendering:
    def test_the_owner_renders_its_profile_on_its_pictures(self, client: TestClient, brand: dict[str, str]) -> None:
        name = _create(client, brand).json()["name"]
        asset_id = _asset(client, brand, 3)
        alias = client.get(f"/v/{asset_id}/{name}.jpg", follow_redirects=False)
        assert alias.status_code == 302, alias.text
        served = client.get(_path(alias.headers["location"]))
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        assert _size(served.content) == (300, 300)
        negotiated = client.get(f"/v/{asset_id}/{name}", headers={"Accept": "image/avif,image/webp"})
        assert negotiated.status_code == 200 and negotiated.headers["content-type"] == "image/jpeg"

    def test_nobody_renders_an_unpublished_profile_on_other_pictures(self, client: TestClient,
                                                                     brand: dict[str, str],
                                                                     merchant: dict[str, str]) -> None:
        name = _create(client, brand).json()["name"]
        theirs = _asset(client, merchant, 4)
        for url in (f"/v/{theirs}/{name}.jpg", f"/v/{theirs}/{name}"):
            refused = client.get(url, headers=merchant, follow_redirects=False)
            unknown = client.get(url.replace(name, name + "x"), headers=merchant, follow_redirects=False)
            assert refused.status_code == unknown.status_code == 404, refused.text
        client.post(f"/v1/profiles/{name}/publish", headers=brand)
        assert client.get(f"/v/{theirs}/{name}.jpg", follow_redirects=False).status_code == 302

    def test_a_platform_renders_on_listings_shared_with_it(self, client: TestClient, platform: dict[str, str],
                                                           merchant: dict[str, str]) -> None:
        name = _create(client, platform).json()["name"]
        listed = _asset(client, merchant, 5, sku="TP-1")
        assert client.get(f"/v/{listed}/{name}.jpg", follow_redirects=False).status_code == 404
        assert client.post("/v1/grants", headers=merchant, json={"platform": "marketplace"}).status_code == 201
        assert client.get(f"/v/{listed}/{name}.jpg", follow_redirects=False).status_code == 302


class TestVersionsAndRetirement:
    def test_a_new_version_moves_the_urls_and_old_ones_keep_working(self, client: TestClient,
                                                                     brand: dict[str, str]) -> None:
        name = _create(client, brand).json()["name"]
        asset_id = _asset(client, brand, 6)
        old = _path(client.get(f"/v/{asset_id}/{name}.jpg", follow_redirects=False).headers["location"])
        wider = {**SQUARE, "width": 400, "format": "WEBP"}
        changed = client.post(f"/v1/profiles/{name}/versions", headers=brand,
                              json={"definition": wider, "display_name": "Mosaico 2"})
        assert changed.status_code == 201, changed.text
        body = changed.json()
        assert (body["version"], body["versions"], body["display_name"]) == (2, 2, "Mosaico 2")
        assert body["history"][0]["digest"] != body["history"][1]["digest"]
        new = _path(client.get(f"/v/{asset_id}/{name}.webp", follow_redirects=False).headers["location"])
        assert new != old and new.endswith(".webp")
        assert _size(client.get(new).content) == (400, 300)
        # the old URL was handed out but never fetched: it is rendered from version 1 now
        first = client.get(old)
        assert first.status_code == 200 and _size(first.content) == (300, 300)
        assert client.get(f"/v/{asset_id}/{name}.jpg", follow_redirects=False).status_code == 404

    def test_a_retired_profile_serves_what_exists_and_renders_nothing_new(self, client: TestClient,
                                                                          brand: dict[str, str],
                                                                          merchant: dict[str, str]) -> None:
        name = _create(client, brand).json()["name"]
        client.post(f"/v1/profiles/{name}/publish", headers=brand)
        shown, later = _asset(client, brand, 7), _asset(client, brand, 8)
        stored = _path(client.get(f"/v/{shown}/{name}.jpg", follow_redirects=False).headers["location"])
        assert client.get(stored).status_code == 200
        retired = client.post(f"/v1/profiles/{name}/retire", headers=brand)
        assert retired.status_code == 200 and retired.json()["retired"]
        assert client.get(stored).status_code == 200
        gone = client.get(f"/v/{later}/{name}.jpg", follow_redirects=False)
        assert (gone.status_code, gone.json()["code"]) == (410, "profile_retired")
        assert name not in [p["name"] for p in client.get("/v1/profiles", headers=merchant).json()]
        assert name in [p["name"] for p in client.get("/v1/profiles", headers=brand).json()]
        again = client.post(f"/v1/profiles/{name}/versions", headers=brand, json={"definition": SQUARE})
        assert (again.status_code, again.json()["code"]) == (409, "conflict")

    def test_a_retired_profile_cannot_be_published(self, client: TestClient, brand: dict[str, str]) -> None:
        name = _create(client, brand).json()["name"]
        client.post(f"/v1/profiles/{name}/retire", headers=brand)
        assert client.post(f"/v1/profiles/{name}/retire", headers=brand).status_code == 200  # idempotent
        assert client.post(f"/v1/profiles/{name}/publish", headers=brand).status_code == 409
