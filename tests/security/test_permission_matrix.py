"""Every route, every kind of caller: the answer each gets is written down here, one line per route.

A route missing from ROUTES fails `test_the_table_covers_every_route`, so a new endpoint cannot ship
without a decision on who may call it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import Route

from api.hotlink import ROUTES as HOTLINK_ROUTES
from registry.runtime import Runtime
from tests.api.helpers import upload
from tests.conftest import make_key
from tests.fixtures.pictures import jpeg, product

CALLERS = ("none", "other", "brand", "platform", "stranger_platform", "owner")  # owner last: it may change state
OWNER, PLATFORM, STRANGER = "Loja Dona", "Marketplace Sócio", "Marketplace Alheio"


@dataclass
class World:
    """Tenants and what the owner (a merchant) has registered."""

    client: TestClient
    runtime: Runtime
    keys: dict[str, dict[str, str]]
    asset_id: str
    upload_id: str
    counter: list[int] = field(default_factory=lambda: [100])

    def owner_upload(self, sku: str | None = None) -> dict[str, Any]:
        """A fresh picture uploaded by the owner."""
        self.counter[0] += 1
        response = upload(self.client, self.keys["owner"], jpeg(product(self.counter[0], size=240)), sku=sku,
                          role="main" if sku else None)
        assert response.status_code == 201, response.text
        return dict(response.json())


@dataclass(frozen=True)
class Req:
    """One request: method, URL and optional body."""

    method: str
    url: str
    json: dict[str, Any] | None = None
    files: dict[str, Any] | None = None


OK_READ = {200}
DENIED = {403, 404}
Expect = dict[str, set[int]]


def _anyone(codes: set[int]) -> Expect:
    return dict.fromkeys(CALLERS, codes)


def _keys(codes: set[int], none: set[int] | None = None) -> Expect:
    return {**dict.fromkeys(CALLERS, codes), "none": none or {401}}


def _sellers(codes: set[int]) -> Expect:
    return {"none": {401}, "owner": codes, "other": codes, "brand": codes, "platform": {403},
            "stranger_platform": {403}}


def _owner_only(codes: set[int]) -> Expect:
    return {"none": {401}, "owner": codes, "other": DENIED, "brand": DENIED, "platform": DENIED,
            "stranger_platform": DENIED}


def _owner_and_grantee(codes: set[int]) -> Expect:
    return {**_owner_only(codes), "platform": codes, "stranger_platform": {404}}


# A seller's listings: itself and the platforms it granted; other sellers may not name it (403).
SHARED_LISTING: Expect = {**_owner_and_grantee(OK_READ), "other": {403}, "brand": {403}}


def _picture(world: World) -> dict[str, Any]:
    return {"file": ("p.jpg", jpeg(product(7, size=240)), "image/jpeg")}


def _merge(world: World) -> Req:
    first, second = world.owner_upload(), world.owner_upload()
    return Req("POST", f"/v1/media/{first['asset_id']}/merge", json={"duplicate_asset_id": second["asset_id"]})


def _fresh_key(world: World, action: str) -> Req:
    made = world.client.post("/v1/keys", headers=world.keys["owner"], json={"label": action}).json()
    return Req("POST", f"/v1/keys/{made['key_id']}/{action}", json={})


def _grant_to_withdraw(world: World) -> Req:
    made = world.client.post("/v1/grants", headers=world.keys["owner"], json={"platform": STRANGER}).json()
    return Req("DELETE", f"/v1/grants/{made['grant_id']}")


def _variant(world: World, alias: bool) -> str:
    asset = world.client.get(f"/v1/media/{world.asset_id}", headers=world.keys["owner"]).json()
    thumb = next(v for v in asset["variants"] if v["profile"] == "web_thumb")
    url = thumb["alias_url"] if alias else thumb["url"]
    return "/" + url.split("/", 3)[3]


def _sign_with_owner_key(world: World) -> Req:
    world.client.post("/v1/hotlink/keys", headers=world.keys["owner"], json={"grace_seconds": 0})
    return Req("POST", "/v1/hotlink/sign", json={"path": _variant(world, False)})


Build = Callable[[World], Req]

# Brand packs (issue 13): the world's brand keeps product GTIN_PM in pack "p", published once.
BRAND_NAME, GTIN_PM = "Marca Oficial", "04006381333931"


def _brand_only(codes: set[int]) -> Expect:
    return {**dict.fromkeys(CALLERS, {403}), "none": {401}, "brand": codes}


def _brand_pack(world: World) -> None:
    brand = world.keys["brand"]
    if world.client.get(f"/v1/packs/{BRAND_NAME}/p", headers=brand).status_code == 200:
        return
    world.client.post("/v1/catalog/products", headers=brand, json={"sku": "PM", "gtin": GTIN_PM})
    sent = world.client.post(f"/v1/catalog/products/{GTIN_PM}/media", headers=brand, data={"facet": "C1N1"},
                             files={"file": ("f.jpg", jpeg(product(91, size=240)), "image/jpeg")})
    assert sent.status_code == 201, sent.text
    world.client.put("/v1/packs/p", headers=brand, json={"gtins": [GTIN_PM]})
    assert world.client.post("/v1/packs/p/publish", headers=brand, json={}).status_code == 201


def _in_pack(build: Callable[[World], Req]) -> Build:
    def prepared(world: World) -> Req:
        _brand_pack(world)
        return build(world)
    return prepared


PACK = f"/v1/packs/{BRAND_NAME}/p"

# Tenant profiles: the platform the owner shares with defines one per row; only it may see or change it,
# merchants may define none (403 before any lookup), and everyone else gets the 404 of a missing profile.
TILE = {"width": 120, "height": 120, "fit": "pad", "format": "JPEG"}


def _platform_profile(short: str, then: Callable[[str], Req]) -> Build:
    def prepared(world: World) -> Req:
        made = world.client.post("/v1/profiles", headers=world.keys["platform"],
                                 json={"name": short, "definition": TILE})
        assert made.status_code in (201, 409), made.text
        return then(made.json().get("name") or f"marketplace-socio~{short}")
    return prepared


def _platform_map(short: str, then: Callable[[str], Req]) -> Build:
    """A tenant platform (slot map) the sharing platform defines, like `_platform_profile`."""
    def prepared(world: World) -> Req:
        made = world.client.post("/v1/platforms", headers=world.keys["platform"],
                                 json={"name": short, "roles": {"main": "web_thumb"}})
        assert made.status_code in (201, 409), made.text
        return then(made.json().get("platform") or f"marketplace-socio~{short}")
    return prepared


def _profile_managers(codes: set[int]) -> Expect:
    return {"none": {401}, "owner": {403}, "other": {403}, "brand": {404}, "platform": codes,
            "stranger_platform": {404}}
OWN_SKU: Expect = {**_keys({404}), "owner": OK_READ}

# (method, path) → how to build the request in a world, and what each caller must get.
ROUTES: dict[tuple[str, str], tuple[Build, Expect]] = {
    ("GET", "/healthz"): (lambda w: Req("GET", "/healthz"), _anyone(OK_READ)),
    ("GET", "/openapi.json"): (lambda w: Req("GET", "/openapi.json"), _anyone(OK_READ)),
    ("GET", "/docs"): (lambda w: Req("GET", "/docs"), _anyone(OK_READ)),
    ("GET", "/docs/oauth2-redirect"): (lambda w: Req("GET", "/docs/oauth2-redirect"), _anyone(OK_READ)),
    ("GET", "/redoc"): (lambda w: Req("GET", "/redoc"), _anyone(OK_READ)),
    ("HEAD", "/openapi.json"): (lambda w: Req("HEAD", "/openapi.json"), _anyone(OK_READ)),
    ("HEAD", "/docs"): (lambda w: Req("HEAD", "/docs"), _anyone(OK_READ)),
    ("HEAD", "/docs/oauth2-redirect"): (lambda w: Req("HEAD", "/docs/oauth2-redirect"), _anyone(OK_READ)),
    ("HEAD", "/redoc"): (lambda w: Req("HEAD", "/redoc"), _anyone(OK_READ)),
    ("GET", "/"): (lambda w: Req("GET", "/"), _anyone({307})),
    ("GET", "/console"): (lambda w: Req("GET", "/console"), _anyone(OK_READ)),
    ("GET", "/v1/profiles"): (lambda w: Req("GET", "/v1/profiles"), _anyone(OK_READ)),
    ("GET", "/v1/platforms"): (lambda w: Req("GET", "/v1/platforms"), _anyone(OK_READ)),
    ("POST", "/v1/profiles"): (lambda w: Req("POST", "/v1/profiles", json={"name": "mine", "definition": TILE}),
                               {**_keys({201}), "owner": {403}, "other": {403}}),
    ("GET", "/v1/profiles/{name}"): (
        _platform_profile("seen", lambda name: Req("GET", f"/v1/profiles/{name}")),
        {**_anyone({404}), "platform": OK_READ}),
    ("POST", "/v1/profiles/{name}/versions"): (
        _platform_profile("changed", lambda name: Req("POST", f"/v1/profiles/{name}/versions",
                                                      json={"definition": TILE})), _profile_managers({201})),
    ("POST", "/v1/profiles/{name}/publish"): (
        _platform_profile("shared", lambda name: Req("POST", f"/v1/profiles/{name}/publish")),
        _profile_managers(OK_READ)),
    ("POST", "/v1/profiles/{name}/retire"): (
        _platform_profile("ended", lambda name: Req("POST", f"/v1/profiles/{name}/retire")),
        _profile_managers(OK_READ)),
    ("POST", "/v1/platforms"): (
        lambda w: Req("POST", "/v1/platforms", json={"name": "mine", "roles": {"main": "web_thumb"}}),
        {**_keys({201}), "owner": {403}, "other": {403}}),
    ("GET", "/v1/platforms/{name}"): (
        _platform_map("seen", lambda name: Req("GET", f"/v1/platforms/{name}")),
        {**_anyone({404}), "platform": OK_READ}),
    ("POST", "/v1/platforms/{name}/versions"): (
        _platform_map("changed", lambda name: Req("POST", f"/v1/platforms/{name}/versions",
                                                  json={"roles": {"main": "swatch"}})), _profile_managers({201})),
    ("POST", "/v1/platforms/{name}/publish"): (
        _platform_map("shared", lambda name: Req("POST", f"/v1/platforms/{name}/publish")),
        _profile_managers(OK_READ)),
    ("POST", "/v1/platforms/{name}/retire"): (
        _platform_map("ended", lambda name: Req("POST", f"/v1/platforms/{name}/retire")),
        _profile_managers(OK_READ)),
    ("GET", "/v/{asset_id}/{profile}/{filename}"): (lambda w: Req("GET", _variant(w, False)), _anyone(OK_READ)),
    ("HEAD", "/v/{asset_id}/{profile}/{filename}"): (lambda w: Req("HEAD", _variant(w, False)), _anyone(OK_READ)),
    ("GET", "/v/{asset_id}/{filename}"): (lambda w: Req("GET", _variant(w, True)), _anyone({302})),
    ("HEAD", "/v/{asset_id}/{filename}"): (lambda w: Req("HEAD", _variant(w, True)), _anyone({302})),
    ("POST", "/v1/media"): (lambda w: Req("POST", "/v1/media", files=_picture(w)), _sellers({200, 201})),
    ("GET", "/v1/media/{asset_id}"): (lambda w: Req("GET", f"/v1/media/{w.asset_id}"), _keys(OK_READ)),
    ("POST", "/v1/media/search"): (lambda w: Req("POST", "/v1/media/search", files=_picture(w)), _sellers(OK_READ)),
    ("POST", "/v1/media/{asset_id}/split"): (
        lambda w: Req("POST", f"/v1/media/{w.asset_id}/split", json={"upload_id": w.upload_id}),
        _owner_only({409})),  # the owner is let through; splitting the master itself is a conflict
    ("POST", "/v1/media/{asset_id}/merge"): (_merge, _owner_only(OK_READ)),
    ("GET", "/v1/media/{asset_id}/master-history"): (
        lambda w: Req("GET", f"/v1/media/{w.asset_id}/master-history"), _owner_only(OK_READ)),
    ("POST", "/v1/media/{asset_id}/restore-master"): (
        lambda w: Req("POST", f"/v1/media/{w.asset_id}/restore-master"),
        _owner_only({409})),  # let through; a master that never changed has nothing to restore
    ("GET", "/v1/media/{asset_id}/compliance"): (
        lambda w: Req("GET", f"/v1/media/{w.asset_id}/compliance?platform=amazon"), _keys(OK_READ)),
    ("GET", "/v1/uploads"): (lambda w: Req("GET", "/v1/uploads"), _keys(OK_READ)),
    ("GET", "/v1/uploads/{upload_id}"): (lambda w: Req("GET", f"/v1/uploads/{w.upload_id}"), _owner_only(OK_READ)),
    ("GET", "/v1/me"): (lambda w: Req("GET", "/v1/me"), _keys(OK_READ)),
    ("GET", "/v1/skus"): (lambda w: Req("GET", f"/v1/skus?seller={OWNER}"), SHARED_LISTING),
    ("GET", "/v1/skus/{sku:path}/listing"): (
        lambda w: Req("GET", f"/v1/skus/S-1/listing?platform=amazon&seller={OWNER}"), SHARED_LISTING),
    ("GET", "/v1/keys"): (lambda w: Req("GET", "/v1/keys"), _keys(OK_READ)),
    ("POST", "/v1/keys"): (lambda w: Req("POST", "/v1/keys", json={"label": "x"}), _keys({201})),
    ("POST", "/v1/keys/{key_id}/revoke"): (lambda w: _fresh_key(w, "revoke"), _owner_only({200})),
    ("POST", "/v1/keys/{key_id}/rotate"): (lambda w: _fresh_key(w, "rotate"), _owner_only({201})),
    ("GET", "/v1/grants"): (lambda w: Req("GET", "/v1/grants"), _keys(OK_READ)),
    ("POST", "/v1/grants"): (lambda w: Req("POST", "/v1/grants", json={"platform": STRANGER}), _sellers({201})),
    ("DELETE", "/v1/grants/{grant_id}"): (_grant_to_withdraw, _owner_only({204})),
    ("GET", "/console/brands"): (lambda w: Req("GET", "/console/brands"), _anyone(OK_READ)),
    ("GET", "/l/{link_id}/{platform}/{filename}"): (
        lambda w: Req("GET", "/l/lnk_0/amazon/main-0.jpg"), _anyone({404})),
    ("GET", "/v1/catalog/products"): (lambda w: Req("GET", "/v1/catalog/products"), _brand_only(OK_READ)),
    ("GET", "/v1/catalog/products/{gtin}"): (
        _in_pack(lambda w: Req("GET", f"/v1/catalog/products/{GTIN_PM}")), _brand_only(OK_READ)),
    ("POST", "/v1/catalog/import"): (lambda w: Req("POST", "/v1/catalog/import"), _brand_only({422})),
    ("POST", "/v1/catalog/products"): (
        lambda w: Req("POST", "/v1/catalog/products", json={"sku": "PM-2", "gtin": "96385074"}),
        _brand_only(OK_READ)),
    ("POST", "/v1/catalog/products/{gtin}/media"): (
        _in_pack(lambda w: Req("POST", f"/v1/catalog/products/{GTIN_PM}/media", files=_picture(w))),
        _brand_only({201})),
    ("POST", "/v1/catalog/assets/{asset_id}/revoke"): (
        lambda w: Req("POST", f"/v1/catalog/assets/{w.asset_id}/revoke"), _brand_only({404})),
    ("PUT", "/v1/packs/{name}"): (lambda w: Req("PUT", "/v1/packs/pm", json={"gtins": []}), _brand_only(OK_READ)),
    ("POST", "/v1/packs/{name}/publish"): (
        _in_pack(lambda w: Req("POST", "/v1/packs/p/publish", json={})), _brand_only({201})),
    ("GET", "/v1/packs"): (lambda w: Req("GET", "/v1/packs"), _keys(OK_READ)),
    ("GET", "/v1/packs/{brand}/{name}"): (_in_pack(lambda w: Req("GET", PACK)), _keys(OK_READ)),
    ("GET", "/v1/packs/{brand}/{name}/versions/{version}"): (
        _in_pack(lambda w: Req("GET", f"{PACK}/versions/latest")), _keys(OK_READ)),
    ("GET", "/v1/packs/{brand}/{name}/versions/{version}/manifest"): (
        _in_pack(lambda w: Req("GET", f"{PACK}/versions/1/manifest?platform=web")), _keys(OK_READ)),
    ("GET", "/v1/packs/{brand}/{name}/versions/{version}/zip"): (
        _in_pack(lambda w: Req("GET", f"{PACK}/versions/1/zip?platform=web")), _keys(OK_READ)),
    ("POST", "/v1/packs/{brand}/{name}/subscribe"): (
        _in_pack(lambda w: Req("POST", f"{PACK}/subscribe", json={})), _sellers(OK_READ)),
    ("GET", "/v1/subscriptions"): (lambda w: Req("GET", "/v1/subscriptions"), _keys(OK_READ)),
    ("GET", "/v1/subscriptions/{subscription_id}/deliveries"): (
        lambda w: Req("GET", "/v1/subscriptions/sub_0/deliveries"), _keys({404})),
    ("POST", "/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver"): (
        lambda w: Req("POST", "/v1/subscriptions/sub_0/deliveries/dlv_0/redeliver"), _keys({404})),
    ("POST", "/v1/links"): (  # a seller must subscribe first (409), whichever row ran before
        _in_pack(lambda w: Req("POST", "/v1/links", json={"sku": "L-1", "gtin": GTIN_PM, "brand": BRAND_NAME,
                                                          "pack": "p"})), _sellers({200, 409})),
    ("GET", "/v1/links/{sku:path}"): (lambda w: Req("GET", "/v1/links/NONE"), _keys({404})),
    ("GET", "/v1/skus/{sku:path}/manifest"): (
        lambda w: Req("GET", "/v1/skus/S-1/manifest?platform=web"), OWN_SKU),
    ("GET", "/v1/skus/{sku:path}/zip"): (lambda w: Req("GET", "/v1/skus/S-1/zip?platform=web"), OWN_SKU),
    # hotlink serving (api/hotlink.py, answered ahead of FastAPI), operations and usage
    ("GET", "/readyz"): (lambda w: Req("GET", "/readyz"), _anyone(OK_READ)),
    ("GET", "/metrics"): (lambda w: Req("GET", "/metrics"), _anyone(OK_READ)),
    ("GET", "/v/{asset_id}/{profile}"): (lambda w: Req("GET", f"/v/{w.asset_id}/web_thumb"), _anyone(OK_READ)),
    ("HEAD", "/v/{asset_id}/{profile}"): (lambda w: Req("HEAD", f"/v/{w.asset_id}/web_thumb"), _anyone(OK_READ)),
    ("GET", "/console/usage"): (lambda w: Req("GET", "/console/usage"), _anyone(OK_READ)),
    ("GET", "/v1/stats"): (lambda w: Req("GET", "/v1/stats"), _keys(OK_READ)),
    ("GET", "/v1/hotlink/policy"): (lambda w: Req("GET", "/v1/hotlink/policy"), _keys(OK_READ)),
    ("PUT", "/v1/hotlink/policy"): (lambda w: Req("PUT", "/v1/hotlink/policy", json={"signed": False}),
                                    _sellers(OK_READ)),
    ("POST", "/v1/hotlink/keys"): (lambda w: Req("POST", "/v1/hotlink/keys", json={"grace_seconds": 0}),
                                   _sellers(OK_READ)),
    ("POST", "/v1/hotlink/sign"): (_sign_with_owner_key, _owner_only(OK_READ)),
    ("POST", "/v1/hotlink/revoke/{asset_id}"): (
        lambda w: Req("POST", f"/v1/hotlink/revoke/{w.owner_upload()['asset_id']}"), _owner_only(OK_READ)),
}


def _walk(routes: list[Any], prefix: str = "") -> set[tuple[str, str]]:
    found = set()
    for route in routes:
        original = getattr(route, "original_router", None)  # FastAPI >= 0.165 includes routers lazily
        if original is not None:
            found |= _walk(original.routes, prefix + getattr(getattr(route, "include_context", None), "prefix", ""))
        elif isinstance(route, APIRoute | Route):
            found |= {(method, prefix + route.path) for method in route.methods or ()}
    return found


def _app_routes(client: TestClient) -> set[tuple[str, str]]:
    return _walk(list(client.app.routes)) | set(HOTLINK_ROUTES)  # type: ignore[attr-defined]


@pytest.fixture
def world(runtime: Runtime, client: TestClient) -> World:
    """The owner merchant with one SKU, a platform it shares with, and the other callers."""
    keys = {
        "none": {},
        "owner": {"Authorization": f"Bearer {make_key(runtime, OWNER, 'merchant')}"},
        "other": {"Authorization": f"Bearer {make_key(runtime, 'Outra Loja', 'merchant')}"},
        "brand": {"Authorization": f"Bearer {make_key(runtime, 'Marca Oficial', 'brand')}"},
        "platform": {"Authorization": f"Bearer {make_key(runtime, PLATFORM, 'platform')}"},
        "stranger_platform": {"Authorization": f"Bearer {make_key(runtime, STRANGER, 'platform')}"},
    }
    first = upload(client, keys["owner"], jpeg(product(1, size=240)), sku="S-1", role="main").json()
    assert client.post("/v1/grants", headers=keys["owner"], json={"platform": PLATFORM}).status_code == 201
    return World(client=client, runtime=runtime, keys=keys, asset_id=first["asset_id"], upload_id=first["upload_id"])


def test_the_table_covers_every_route(client: TestClient) -> None:
    missing = _app_routes(client) - set(ROUTES)
    stale = set(ROUTES) - _app_routes(client)
    assert not missing, f"routes without a permission row: {sorted(missing)}"
    assert not stale, f"rows for routes that no longer exist: {sorted(stale)}"


def test_every_route_answers_every_caller_as_written(world: World) -> None:
    wrong = []
    for (method, path), (build, expect) in ROUTES.items():
        request = build(world)
        for caller in CALLERS:
            response = world.client.request(request.method, request.url, headers=world.keys[caller],
                                            json=request.json, files=request.files, follow_redirects=False)
            if response.status_code not in expect[caller]:
                wrong.append(f"{method} {path} as {caller}: {response.status_code} {response.text[:120]}")
            if response.status_code >= 400 and method != "HEAD":
                assert response.json()["code"], (method, path, caller)
    assert not wrong, "\n".join(wrong)
