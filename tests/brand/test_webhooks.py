"""Change events: signed webhooks to a local receiver, retried with backoff, logged, redelivered, restart-proof."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from registry.jobs import service as jobs
from registry.packs.events import backoff
from registry.runtime import Runtime
from registry.settings import Settings
from tests.brand.helpers import BRAND_NAME, GTIN_TEA, official, picture, published_pack
from tests.conftest import wait_for_jobs
from workers.bootstrap import close_runtime, create_runtime

PACK = f"/v1/packs/{BRAND_NAME}/spring"


class Receiver:
    """An HTTP server on 127.0.0.1 that records webhook POSTs and fails the first `fail` of them."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/skupix"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(runtime: Runtime) -> Iterator[Receiver]:
    runtime.settings.webhook_allow_private_hosts = True  # the receiver is on 127.0.0.1
    server = Receiver()
    try:
        yield server
    finally:
        server.close()


def _subscribe(client: TestClient, seller: dict[str, str], url: str) -> dict[str, Any]:
    answer = client.post(f"{PACK}/subscribe", headers=seller, json={"webhook_url": url})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def _verify(secret: str, headers: dict[str, str], body: bytes) -> None:
    timestamp = headers["x-skupix-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-skupix-signature"], f"sha256={expected}")


def test_publish_sends_a_signed_webhook_with_immutable_urls(client: TestClient, brand: dict[str, str],
                                                            merchant: dict[str, str], runtime: Runtime,
                                                            receiver: Receiver) -> None:
    published_pack(client, brand)
    subscription = _subscribe(client, merchant, receiver.url)
    official(client, brand, GTIN_TEA, picture(51), facet="C1N1")
    assert client.post("/v1/packs/spring/publish", headers=brand, json={"changelog": "v2"}).status_code == 201
    wait_for_jobs(runtime)
    events = [(h, json.loads(b)) for h, b in receiver.received]
    published = [(h, e) for h, e in events if e["event"] == "pack.published"]
    assert len(published) == 1
    headers, event = published[0]
    _verify(subscription["webhook_secret"], headers, receiver.received[events.index(published[0])][1])
    assert event["version"] == 2
    assert event["pack"] == f"{BRAND_NAME}/spring"
    main = event["products"][0]["slots"][0]
    assert "/v/" in main["urls"]["amazon"]["main"]
    assert client.get(main["urls"]["taobao"]["main"]).status_code == 200
    log = client.get(f"/v1/subscriptions/{subscription['id']}/deliveries", headers=merchant).json()
    assert log[0]["status"] == "delivered"
    assert log[0]["attempts"] == 1


def test_a_failed_delivery_is_retried_with_backoff_and_can_be_redelivered(
        client: TestClient, brand: dict[str, str], merchant: dict[str, str], runtime: Runtime,
        receiver: Receiver) -> None:
    runtime.settings.webhook_backoff_seconds = 0
    published_pack(client, brand, name="spring")
    subscription = _subscribe(client, merchant, receiver.url)
    receiver.fail = 1
    client.post("/v1/packs/spring/publish", headers=brand, json={"changelog": "v2"})
    wait_for_jobs(runtime)
    log = client.get(f"/v1/subscriptions/{subscription['id']}/deliveries", headers=merchant).json()
    assert (log[0]["status"], log[0]["attempts"], log[0]["log"][0]["status_code"]) == ("pending", 1, 503)
    assert receiver.received == []
    assert jobs.sweep(runtime) >= 1  # the sweeper publishes the retry once it is due
    wait_for_jobs(runtime)
    log = client.get(f"/v1/subscriptions/{subscription['id']}/deliveries", headers=merchant).json()
    assert (log[0]["status"], log[0]["attempts"]) == ("delivered", 2)
    assert len(receiver.received) == 1
    again = client.post(f"/v1/subscriptions/{subscription['id']}/deliveries/{log[0]['id']}/redeliver",
                        headers=merchant)
    assert again.status_code == 200
    wait_for_jobs(runtime)
    assert len(receiver.received) == 2
    assert client.post(f"/v1/subscriptions/{subscription['id']}/deliveries/{log[0]['id']}/redeliver",
                       headers=brand).status_code == 404  # another tenant's subscription


def test_backoff_doubles_per_attempt(runtime: Runtime) -> None:
    runtime.settings.webhook_backoff_seconds = 30
    assert [backoff(runtime, n) for n in (1, 2, 3)] == [timedelta(seconds=30), timedelta(seconds=60),
                                                         timedelta(seconds=120)]


def test_a_delivery_survives_a_restart(client: TestClient, brand: dict[str, str], merchant: dict[str, str],
                                       runtime: Runtime, settings: Settings, receiver: Receiver) -> None:
    runtime.settings.webhook_backoff_seconds = 0
    settings.webhook_backoff_seconds = 0
    published_pack(client, brand)
    subscription = _subscribe(client, merchant, receiver.url)
    receiver.fail = 100
    client.post("/v1/packs/spring/publish", headers=brand, json={"changelog": "v2"})
    wait_for_jobs(runtime)
    receiver.fail = 0
    restarted = create_runtime(settings, role="test")  # a new process: only the rows remain
    try:
        jobs.sweep(restarted)
        wait_for_jobs(restarted)
    finally:
        close_runtime(restarted)
    log = client.get(f"/v1/subscriptions/{subscription['id']}/deliveries", headers=merchant).json()
    assert log[0]["status"] == "delivered"
    assert len(receiver.received) == 1


def test_revoking_and_promoting_notify_subscribers(client: TestClient, brand: dict[str, str],
                                                   merchant: dict[str, str], runtime: Runtime,
                                                   receiver: Receiver) -> None:
    from tests.brand.helpers import register
    from tests.fixtures.pictures import jpeg, product

    original = product(77, size=1600, label="ORIGINAL")
    register(client, brand, "TEA", GTIN_TEA)
    asset_id = official(client, brand, GTIN_TEA, jpeg(original.resize((500, 500))), facet="C1N1").json()["asset_id"]
    client.put("/v1/packs/spring", headers=brand, json={"gtins": [GTIN_TEA]})
    client.post("/v1/packs/spring/publish", headers=brand, json={})
    _subscribe(client, merchant, receiver.url)
    # the brand sends the full-size original of its front picture: the asset's master moves
    bigger = official(client, brand, GTIN_TEA, jpeg(original), facet="C1N1")
    assert bigger.json()["asset_id"] == asset_id
    client.post(f"/v1/catalog/assets/{asset_id}/revoke", headers=brand)
    wait_for_jobs(runtime)
    kinds = [json.loads(body)["event"] for _, body in receiver.received]
    assert "master.promoted" in kinds
    promoted = next(json.loads(body) for _, body in receiver.received if json.loads(body)["event"] == "master.promoted")
    assert promoted["asset_id"] == asset_id
    assert "/v/" in promoted["urls"]["walmart"]["main"]
    assert kinds[-1] == "asset.revoked"


def test_webhooks_to_private_addresses_are_refused_by_default(client: TestClient, brand: dict[str, str],
                                                              merchant: dict[str, str], runtime: Runtime) -> None:
    server = Receiver()
    try:
        published_pack(client, brand)
        subscription = _subscribe(client, merchant, server.url)
        client.post("/v1/packs/spring/publish", headers=brand, json={"changelog": "v2"})
        wait_for_jobs(runtime)
        log = client.get(f"/v1/subscriptions/{subscription['id']}/deliveries", headers=merchant).json()
        assert (log[0]["status"], log[0]["attempts"]) == ("failed", 1)
        assert "not a public address" in log[0]["log"][0]["error"]
        assert server.received == []
    finally:
        server.close()


def test_an_embargoed_version_is_announced_without_urls_and_released_with_them(
        client: TestClient, brand: dict[str, str], merchant: dict[str, str], runtime: Runtime,
        receiver: Receiver) -> None:
    from datetime import UTC, datetime

    from sqlalchemy import update

    from registry.models import Job, PackAsset, PackVersion

    published_pack(client, brand)
    subscription = _subscribe(client, merchant, receiver.url)
    embargo = datetime.now(UTC) + timedelta(days=2)
    client.post("/v1/packs/spring/publish", headers=brand, json={"embargo_until": embargo.isoformat()})
    wait_for_jobs(runtime)
    assert jobs.sweep(runtime) == 0  # the release is not due yet
    announced = [json.loads(body) for _, body in receiver.received]
    assert [e["event"] for e in announced] == ["pack.published"]
    assert all("urls" not in slot for product in announced[0]["products"] for slot in product["slots"])
    with runtime.db.unit_of_work() as session:  # two days pass
        past = datetime.now(UTC) - timedelta(minutes=1)
        session.execute(update(PackVersion).values(embargo_until=past))
        session.execute(update(PackAsset).values(embargo_until=past))
        session.execute(update(Job).where(Job.status == "pending").values(updated_at=past - timedelta(days=1)))
    assert jobs.sweep(runtime) == 1
    wait_for_jobs(runtime)
    released = json.loads(receiver.received[-1][1])
    assert released["event"] == "pack.released"
    url = released["products"][0]["slots"][0]["urls"]["web"]["main"]
    assert client.get(url).status_code == 200
    log = client.get(f"/v1/subscriptions/{subscription['id']}/deliveries", headers=merchant).json()
    assert [d["status"] for d in log] == ["delivered", "delivered"]
