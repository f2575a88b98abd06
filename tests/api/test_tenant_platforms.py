"""Tenant platforms over HTTP: slot maps onto built-in, own or published profiles, private until published,
versioned, retired, and accepted by listings, compliance reports and manifests where the caller may see them."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry.runtime import Runtime
from tests.api.helpers import upload
from tests.conftest import make_key
from tests.fixtures.pictures import jpeg, product

SQUARE = {"width": 300, "height": 300, "fit": "pad", "fill": 0.8, "trim": True, "background": "#ffffff",
          "format": "JPEG", "quality": 85}
SELLER = "loja-são-paulo"  # the merchant fixture's tenant name


def _profile(client: TestClient, headers: dict[str, str], name: str = "tile") -> str:
    made = client.post("/v1/profiles", headers=headers, json={"name": name, "definition": SQUARE})
    assert made.status_code == 201, made.text
    return str(made.json()["name"])


def _platform(client: TestClient, headers: dict[str, str], roles: dict[str, Any], name: str = "loja",
              **extra: Any) -> Any:
    return client.post("/v1/platforms", headers=headers, json={"name": name, "roles": roles, **extra})


def _listed_sku(client: TestClient, merchant: dict[str, str], seed: int, sku: str = "TP-1") -> str:
    sent = upload(client, merchant, jpeg(product(seed, size=640)), sku=sku, role="main")
    assert sent.status_code == 201, sent.text
    return str(sent.json()["asset_id"])


def _same_answer(a: Any, b: Any, name_a: str, name_b: str) -> bool:
    return bool(a.status_code == b.status_code and a.json()["code"] == b.json()["code"]
                and a.json()["message"].replace(name_a, "X") == b.json()["message"].replace(name_b, "X"))


class TestDefining:
    def test_a_platform_maps_roles_to_built_in_and_own_profiles(self, client: TestClient,
                                                                  platform: dict[str, str]) -> None:
        tile = _profile(client, platform)
        made = _platform(client, platform, {"main": tile, "gallery": "web_large", "swatch": "swatch"},
                         display_name="Loja Própria · 自营")
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["platform"] == "marketplace~loja"
        assert body["roles"] == {"main": tile, "gallery": "web_large", "swatch": "swatch"}
        assert (body["display_name"], body["built_in"], body["yours"], body["published"], body["version"]) == (
            "Loja Própria · 自营", False, True, False, 1)
        assert body["history"] == [body["roles"]]
        listed = {p["platform"]: p for p in client.get("/v1/platforms", headers=platform).json()}
        assert listed["marketplace~loja"]["yours"] and listed["amazon"]["built_in"]

    def test_the_namespace_is_the_profiles_one(self, client: TestClient, brand: dict[str, str]) -> None:
        tile = _profile(client, brand)
        made = _platform(client, brand, {"main": tile}).json()
        assert made["platform"].partition("~")[0] == tile.partition("~")[0]  # 品牌官方 has a random namespace

    @pytest.mark.parametrize("roles", [
        {}, {"gallery": "web_large"}, {"main": "web_large", "hero": "web_large"}, {"main": 7}, {"main": None},
        {"main": "no_such_profile"}, {"main": "nobody~tile"}, {"main": "Web_Large/x"}, {"main": "x" * 200},
    ], ids=repr)
    def test_bad_slot_maps_are_refused_with_a_stable_code(self, client: TestClient, platform: dict[str, str],
                                                          roles: dict[str, Any]) -> None:
        before = client.get("/v1/platforms", headers=platform).json()
        made = _platform(client, platform, roles)
        assert made.status_code == 422, made.text
        assert made.json()["code"] in ("invalid_platform", "invalid_request")
        assert client.get("/v1/platforms", headers=platform).json() == before  # nothing half-written

    def test_another_tenants_unpublished_profile_reads_as_missing(self, client: TestClient, brand: dict[str, str],
                                                                  platform: dict[str, str]) -> None:
        theirs = _profile(client, brand)
        namespace = theirs.partition("~")[0]
        hidden = _platform(client, platform, {"main": theirs})
        missing = _platform(client, platform, {"main": f"{namespace}~nothing"})
        assert hidden.status_code == 422 and hidden.json()["code"] == "invalid_platform"
        assert _same_answer(hidden, missing, theirs, f"{namespace}~nothing")
        client.post(f"/v1/profiles/{theirs}/publish", headers=brand)
        assert _platform(client, platform, {"main": theirs}).status_code == 201  # published: anyone's to use

    def test_built_in_names_cannot_be_shadowed(self, client: TestClient, platform: dict[str, str],
                                               brand: dict[str, str]) -> None:
        made = _platform(client, platform, {"main": "web_thumb"}, name="amazon").json()
        assert made["platform"] == "marketplace~amazon"
        assert client.get("/v1/platforms/amazon", headers=platform).json()["roles"]["main"] == "amazon_main"
        foreign = _platform(client, brand, {"main": "web_thumb"}, name="marketplace~amazon")
        assert (foreign.status_code, foreign.json()["code"]) == (422, "invalid_input")
        again = _platform(client, platform, {"main": "web_large"}, name="amazon")
        assert (again.status_code, again.json()["code"]) == (409, "conflict")

    def test_merchants_may_not_define(self, client: TestClient, merchant: dict[str, str]) -> None:
        assert _platform(client, merchant, {"main": "web_thumb"}).json()["code"] == "forbidden"
        assert _platform(client, {}, {"main": "web_thumb"}).status_code == 401


class TestVisibility:
    def test_an_attacker_cannot_see_change_or_use_an_unpublished_platform(
            self, client: TestClient, runtime: Runtime, platform: dict[str, str], merchant: dict[str, str]) -> None:
        name = _platform(client, platform, {"main": "web_thumb"}).json()["platform"]
        attacker = {"Authorization": f"Bearer {make_key(runtime, 'Rival Shop', 'brand')}"}
        missing = "marketplace~nothing"
        for headers in (attacker, merchant, {}):
            assert name not in [p["platform"] for p in client.get("/v1/platforms", headers=headers).json()]
            assert _same_answer(client.get(f"/v1/platforms/{name}", headers=headers),
                                client.get(f"/v1/platforms/{missing}", headers=headers), name, missing)
        for action in ("publish", "retire"):
            assert client.post(f"/v1/platforms/{name}/{action}", headers=attacker).status_code == 404
        changed = client.post(f"/v1/platforms/{name}/versions", headers=attacker, json={"roles": {"main": "swatch"}})
        assert changed.status_code == 404
        # the consumers answer as for a platform that does not exist
        asset_id = _listed_sku(client, merchant, 1)
        for url in ("/v1/skus/TP-1/listing", f"/v1/media/{asset_id}/compliance", "/v1/skus/TP-1/manifest"):
            used = client.get(url, headers=merchant, params={"platform": name})
            unknown = client.get(url, headers=merchant, params={"platform": missing})
            assert used.status_code == 422 and _same_answer(used, unknown, name, missing), used.text
        assert client.get(f"/v1/platforms/{name}", headers=platform).json()["version"] == 1

    def test_publishing_needs_published_profiles_and_shares_it(self, client: TestClient, platform: dict[str, str],
                                                               merchant: dict[str, str]) -> None:
        tile = _profile(client, platform)
        name = _platform(client, platform, {"main": tile, "swatch": "swatch"}).json()["platform"]
        early = client.post(f"/v1/platforms/{name}/publish", headers=platform)
        assert (early.status_code, early.json()["code"]) == (409, "conflict")
        assert tile in early.json()["message"]
        client.post(f"/v1/profiles/{tile}/publish", headers=platform)
        published = client.post(f"/v1/platforms/{name}/publish", headers=platform)
        assert published.status_code == 200 and published.json()["published"]
        seen = client.get(f"/v1/platforms/{name}", headers=merchant).json()
        assert (seen["published"], seen["yours"], seen["roles"]["main"]) == (True, False, tile)
        # a published platform's next version may not name an unpublished profile either
        private = _profile(client, platform, "private")
        refused = client.post(f"/v1/platforms/{name}/versions", headers=platform, json={"roles": {"main": private}})
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_platform")


class TestConsumers:
    def test_a_platform_lists_a_granted_sellers_sku_with_its_own_map(self, client: TestClient,
                                                                     platform: dict[str, str],
                                                                     merchant: dict[str, str]) -> None:
        tile = _profile(client, platform)
        name = _platform(client, platform, {"main": tile}).json()["platform"]
        asset_id = _listed_sku(client, merchant, 2, sku="ÓCULOS-鏡-1")
        assert client.post("/v1/grants", headers=merchant, json={"platform": "marketplace"}).status_code == 201
        listing = client.get("/v1/skus/ÓCULOS-鏡-1/listing", headers=platform,
                             params={"platform": name, "seller": SELLER})
        assert listing.status_code == 200, listing.text
        (slot,) = listing.json()["slots"]
        assert (slot["profile"], slot["asset_id"], slot["role"]) == (tile, asset_id, "main")
        assert slot["file_name"] == "ÓCULOS-鏡-1.MAIN.jpg"
        served = client.get("/" + slot["url"].split("/", 3)[3])
        assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
        # the seller itself may not use the platform's private map
        assert client.get("/v1/skus/ÓCULOS-鏡-1/listing", headers=merchant, params={"platform": name}).status_code \
            == 422

    def test_a_published_platform_serves_listing_compliance_and_manifest(self, client: TestClient,
                                                                         brand: dict[str, str],
                                                                         merchant: dict[str, str]) -> None:
        tile = _profile(client, brand)
        client.post(f"/v1/profiles/{tile}/publish", headers=brand)
        name = _platform(client, brand, {"main": tile, "gallery": "web_large"}).json()["platform"]
        client.post(f"/v1/platforms/{name}/publish", headers=brand)
        asset_id = _listed_sku(client, merchant, 3)
        listing = client.get("/v1/skus/TP-1/listing", headers=merchant, params={"platform": name})
        assert listing.status_code == 200, listing.text
        assert [s["profile"] for s in listing.json()["slots"]] == [tile]
        report = client.get(f"/v1/media/{asset_id}/compliance", headers=merchant, params={"platform": name})
        assert report.status_code == 200, report.text
        assert {p["profile"]: p["roles"] for p in report.json()["profiles"]} == {tile: ["main"],
                                                                                "web_large": ["gallery"]}
        manifest = client.get("/v1/skus/TP-1/manifest", headers=merchant, params={"platform": name})
        assert manifest.status_code == 200, manifest.text
        assert [(f["file"], f["profile"]) for f in manifest.json()["files"]] == [("TP-1.MAIN.jpg", tile)]

    def test_an_unpublished_profile_reports_only_on_its_owners_pictures(self, client: TestClient,
                                                                       brand: dict[str, str],
                                                                       merchant: dict[str, str]) -> None:
        name = _platform(client, brand, {"main": _profile(client, brand)}).json()["platform"]
        theirs = _listed_sku(client, merchant, 4)
        refused = client.get(f"/v1/media/{theirs}/compliance", headers=brand, params={"platform": name})
        assert refused.status_code == 404, refused.text
        own = upload(client, brand, jpeg(product(5, size=640))).json()["asset_id"]
        assert client.get(f"/v1/media/{own}/compliance", headers=brand, params={"platform": name}).status_code == 200


class TestVersionsAndRetirement:
    def test_a_new_version_changes_the_listing_at_once(self, client: TestClient, brand: dict[str, str],
                                                       merchant: dict[str, str]) -> None:
        name = _platform(client, brand, {"main": "web_thumb"}).json()["platform"]
        client.post(f"/v1/platforms/{name}/publish", headers=brand)
        _listed_sku(client, merchant, 6)
        changed = client.post(f"/v1/platforms/{name}/versions", headers=brand,
                              json={"roles": {"main": "web_large"}, "display_name": "v2 · 二"})
        assert changed.status_code == 201, changed.text
        body = changed.json()
        assert (body["version"], body["display_name"], [h["main"] for h in body["history"]]) == (
            2, "v2 · 二", ["web_thumb", "web_large"])
        listing = client.get("/v1/skus/TP-1/listing", headers=merchant, params={"platform": name}).json()
        assert [s["profile"] for s in listing["slots"]] == ["web_large"]

    def test_a_retired_platform_serves_nothing_new(self, client: TestClient, brand: dict[str, str],
                                                   merchant: dict[str, str]) -> None:
        name = _platform(client, brand, {"main": "web_thumb"}).json()["platform"]
        client.post(f"/v1/platforms/{name}/publish", headers=brand)
        _listed_sku(client, merchant, 7)
        assert client.post(f"/v1/platforms/{name}/retire", headers=brand).json()["retired"]
        assert client.post(f"/v1/platforms/{name}/retire", headers=brand).status_code == 200  # idempotent
        gone = client.get("/v1/skus/TP-1/listing", headers=merchant, params={"platform": name})
        assert (gone.status_code, gone.json()["code"]) == (410, "platform_retired")
        assert name not in [p["platform"] for p in client.get("/v1/platforms", headers=merchant).json()]
        assert name in [p["platform"] for p in client.get("/v1/platforms", headers=brand).json()]
        again = client.post(f"/v1/platforms/{name}/versions", headers=brand, json={"roles": {"main": "swatch"}})
        assert (again.status_code, again.json()["code"]) == (409, "conflict")

    def test_a_retired_platform_cannot_be_published(self, client: TestClient, brand: dict[str, str]) -> None:
        name = _platform(client, brand, {"main": "web_thumb"}).json()["platform"]
        client.post(f"/v1/platforms/{name}/retire", headers=brand)
        assert client.post(f"/v1/platforms/{name}/publish", headers=brand).status_code == 409

    def test_a_retired_profile_stops_the_platform_and_new_maps(self, client: TestClient, brand: dict[str, str],
                                                               merchant: dict[str, str]) -> None:
        tile = _profile(client, brand)
        client.post(f"/v1/profiles/{tile}/publish", headers=brand)
        name = _platform(client, brand, {"main": tile}).json()["platform"]
        client.post(f"/v1/platforms/{name}/publish", headers=brand)
        _listed_sku(client, merchant, 8)
        client.post(f"/v1/profiles/{tile}/retire", headers=brand)
        gone = client.get("/v1/skus/TP-1/listing", headers=merchant, params={"platform": name})
        assert (gone.status_code, gone.json()["code"]) == (410, "profile_retired")
        refused = _platform(client, brand, {"main": tile}, name="other")
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_platform")
