"""Tenant rules on hotlinks: signed URLs with key rotation, referrer allow-lists, revocation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

import httpx
from fastapi.testclient import TestClient

from api.app import create_app
from registry.runtime import Runtime
from tests.api.helpers import variant_paths
from tests.api.test_variants import _DroppedJobs
from tests.fixtures.pictures import jpeg, product


def _urls(client: TestClient, headers: dict[str, str], seed: int) -> tuple[str, str, str]:
    return variant_paths(client, headers, jpeg(product(seed, size=600)))


def _sign(secret: str, path: str, exp: int | None = None) -> str:
    message = path if exp is None else f"{path}?exp={exp}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    sig = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return f"{path}?sig={sig}" if exp is None else f"{path}?exp={exp}&sig={sig}"


def test_signed_urls_and_key_rotation(client: TestClient, merchant: dict[str, str],
                                      other_merchant: dict[str, str], runtime: Runtime) -> None:
    runtime.publisher = _DroppedJobs()
    _asset, path, alias = _urls(client, merchant, 88)
    _theirs, their_path, _ = _urls(client, other_merchant, 89)
    refused = client.put("/v1/hotlink/policy", headers=merchant, json={"signed": True})
    assert refused.status_code == 422 and refused.json()["code"] == "invalid_input"  # no key yet
    first = client.post("/v1/hotlink/keys", headers=merchant, json={"grace_seconds": 3600}).json()["secret"]
    policy = client.put("/v1/hotlink/policy", headers=merchant, json={"signed": True}).json()
    assert policy == {"signed": True, "referrers": [], "has_key": True, "previous_key_valid_until": None}

    unsigned = client.get(path)
    assert unsigned.status_code == 403 and unsigned.json()["code"] == "signature_invalid"
    assert "cache-control" not in unsigned.headers
    assert client.get(_sign(first, path)).status_code == 200
    assert client.get(_sign(first, path) + "x").status_code == 403  # tampered
    assert client.get(_sign("not-the-key", path)).status_code == 403
    assert client.get(_sign(first, path, int(time.time()) - 5)).status_code == 403  # expired
    expiring = client.get(_sign(first, path, int(time.time()) + 600))
    assert expiring.status_code == 200
    max_age = int(expiring.headers["cache-control"].removeprefix("public, max-age="))
    assert 590 <= max_age <= 600  # not cached past its expiry, and not "immutable"
    made = client.post("/v1/hotlink/sign", headers=merchant, json={"path": path, "expires_in": 60}).json()["url"]
    assert client.get(httpx.URL(made).raw_path.decode()).status_code == 200
    # The alias redirects to a signed immutable URL with the same expiry.
    exp = int(time.time()) + 300
    moved = client.get(_sign(first, alias, exp), follow_redirects=False)
    assert moved.status_code == 302
    assert client.get(httpx.URL(moved.headers["location"]).raw_path.decode()).status_code == 200
    assert client.get(alias, follow_redirects=False).status_code == 403
    # Another tenant's rules do not touch these URLs, nor these rules theirs.
    assert client.get(their_path).status_code == 200

    # Rotation: the previous key keeps working for its grace period, then not.
    second = client.post("/v1/hotlink/keys", headers=merchant, json={"grace_seconds": 3600}).json()["secret"]
    assert client.get(_sign(first, path)).status_code == 200
    assert client.get(_sign(second, path)).status_code == 200
    assert client.get("/v1/hotlink/policy", headers=merchant).json()["previous_key_valid_until"]
    client.post("/v1/hotlink/keys", headers=merchant, json={"grace_seconds": 0})
    assert client.get(_sign(first, path)).status_code == 403
    assert client.get(_sign(second, path)).status_code == 403  # its grace was zero


def test_referrer_allow_list(client: TestClient, merchant: dict[str, str], runtime: Runtime) -> None:
    runtime.publisher = _DroppedJobs()
    _asset, path, _alias = _urls(client, merchant, 90)
    bad = client.put("/v1/hotlink/policy", headers=merchant, json={"referrers": ["shop example"]})
    assert bad.status_code == 422
    client.put("/v1/hotlink/policy", headers=merchant, json={"referrers": ["loja.example.com.br", ".example.cn"]})
    for referer, status in [("https://loja.example.com.br/p/1", 200), ("https://m.shop.example.cn/x", 200),
                            ("https://evil.example/", 403), ("https://loja.example.com.br.evil.example/", 403),
                            (None, 200)]:
        answer = client.get(path, headers={"Referer": referer} if referer else {})
        assert answer.status_code == status, referer
        if status == 200:
            assert answer.headers["cache-control"].startswith("private")  # no shared cache serves other sites
        else:
            assert answer.json()["code"] == "referrer_not_allowed"


def test_a_revoked_asset_leaves_every_url(client: TestClient, merchant: dict[str, str],
                                          other_merchant: dict[str, str], runtime: Runtime) -> None:
    runtime.publisher = _DroppedJobs()
    asset_id, path, alias = _urls(client, merchant, 91)
    assert client.get(path).status_code == 200
    assert client.post(f"/v1/hotlink/revoke/{asset_id}", headers=other_merchant).status_code == 403
    assert client.get(path).status_code == 200
    assert client.post("/v1/hotlink/revoke/ast_missing", headers=merchant).status_code == 404
    revoked = client.post(f"/v1/hotlink/revoke/{asset_id}", headers=merchant)
    assert revoked.status_code == 200 and revoked.json()["purge_job"] is None  # no edge or CDN to tell
    assert path in revoked.json()["paths"] and alias in revoked.json()["paths"]
    for url in (path, alias):
        gone = client.get(url, follow_redirects=False)
        assert gone.status_code == 410 and gone.json()["code"] == "revoked"
        assert client.head(url).status_code == 410
    # Another process (its own caches) sees it too.
    with TestClient(create_app(runtime=runtime)) as other_process:
        assert other_process.get(path).status_code == 410


def test_the_owner_cannot_revoke_a_picture_other_tenants_use(client: TestClient, merchant: dict[str, str],
                                                             other_merchant: dict[str, str], runtime: Runtime) -> None:
    # A's asset, reused by B (exact copy in B's SKU): A revoking it would empty B's listing and URLs.
    runtime.publisher = _DroppedJobs()
    data = jpeg(product(97, size=600))
    asset_id, path, alias = variant_paths(client, merchant, data)
    reused = client.post("/v1/media", headers=other_merchant, files={"file": ("p.jpg", data, "image/jpeg")},
                         data={"sku": "B-1", "role": "main"})
    assert reused.status_code == 200 and reused.json()["asset_id"] == asset_id
    refused = client.post(f"/v1/hotlink/revoke/{asset_id}", headers=merchant)
    assert refused.status_code == 409 and refused.json()["code"] == "conflict"
    for url in (path, alias):
        assert client.get(url, follow_redirects=False).status_code in (200, 302)
    listing = client.get("/v1/skus/B-1/listing", headers=other_merchant, params={"platform": "web"}).json()
    assert [slot["asset_id"] for slot in listing["slots"]] == [asset_id]
