"""Keys have a life cycle: list, issue, revoke, rotate, expire; last use is throttled; pull keeps the key home."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from api.cli import cli
from api.client import SkupixClient
from registry.models import ApiKey, utcnow
from registry.runtime import Runtime
from registry.settings import Settings
from tests.conftest import make_key


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class TestKeysByApi:
    def test_list_shows_prefixes_only(self, client: TestClient, merchant: dict[str, str]) -> None:
        body = client.get("/v1/keys", headers=merchant).json()
        plain = merchant["Authorization"].split(" ", 1)[1]
        assert len(body) == 1 and body[0]["active"] is True
        assert plain not in str(body) and plain.startswith(body[0]["prefix"])

    def test_revoked_key_fails_at_once(self, client: TestClient, merchant: dict[str, str]) -> None:
        created = client.post("/v1/keys", headers=merchant, json={"label": "ci"})
        assert created.status_code == 201
        second = _bearer(created.json()["key"])
        assert client.get("/v1/me", headers=second).status_code == 200
        revoked = client.post(f"/v1/keys/{created.json()['key_id']}/revoke", headers=merchant)
        assert revoked.status_code == 200 and revoked.json()["active"] is False
        assert client.get("/v1/me", headers=second).status_code == 401
        assert client.get("/v1/me", headers=merchant).status_code == 200

    def test_revocation_reaches_another_process_without_restart(self, runtime: Runtime, client: TestClient,
                                                                merchant: dict[str, str]) -> None:
        # A second app on the same database stands for a second API process.
        from api.app import create_app

        key_id = client.get("/v1/keys", headers=merchant).json()[0]["key_id"]
        with TestClient(create_app(runtime=runtime)) as other:
            assert other.get("/v1/me", headers=merchant).status_code == 200
            assert client.post(f"/v1/keys/{key_id}/revoke", headers=merchant).status_code == 200
            assert other.get("/v1/me", headers=merchant).status_code == 401

    def test_rotate_gives_a_new_key_and_revokes_the_old(self, client: TestClient, merchant: dict[str, str]) -> None:
        key_id = client.get("/v1/keys", headers=merchant).json()[0]["key_id"]
        rotated = client.post(f"/v1/keys/{key_id}/rotate", headers=merchant, json={})
        assert rotated.status_code == 201
        assert client.get("/v1/me", headers=merchant).status_code == 401
        assert client.get("/v1/me", headers=_bearer(rotated.json()["key"])).status_code == 200

    def test_another_tenants_key_cannot_be_touched(self, client: TestClient, merchant: dict[str, str],
                                                    other_merchant: dict[str, str]) -> None:
        key_id = client.get("/v1/keys", headers=merchant).json()[0]["key_id"]
        for action in ("revoke", "rotate"):
            response = client.post(f"/v1/keys/{key_id}/{action}", headers=other_merchant, json={})
            assert response.status_code == 404
        assert client.get("/v1/me", headers=merchant).status_code == 200

    def test_expired_key_is_401(self, runtime: Runtime, client: TestClient, merchant: dict[str, str]) -> None:
        soon = utcnow() + timedelta(seconds=30)
        created = client.post("/v1/keys", headers=merchant, json={"expires_at": soon.isoformat()}).json()
        assert client.get("/v1/me", headers=_bearer(created["key"])).status_code == 200
        with runtime.db.unit_of_work() as session:
            session.get(ApiKey, created["key_id"]).expires_at = utcnow() - timedelta(seconds=1)  # type: ignore[union-attr]
        response = client.get("/v1/me", headers=_bearer(created["key"]))
        assert response.status_code == 401 and "expired" in response.json()["message"]

    def test_expiry_in_the_past_is_refused(self, client: TestClient, merchant: dict[str, str]) -> None:
        past = (utcnow() - timedelta(days=1)).isoformat()
        assert client.post("/v1/keys", headers=merchant, json={"expires_at": past}).status_code == 422

    def test_last_used_is_written_once_per_window(self, runtime: Runtime, client: TestClient,
                                                  merchant: dict[str, str]) -> None:
        client.get("/v1/me", headers=merchant)
        with runtime.db.read_only() as session:
            first = session.scalars(select(ApiKey.last_used_at)).one()
        assert first is not None
        client.get("/v1/me", headers=merchant)
        with runtime.db.read_only() as session:
            assert session.scalars(select(ApiKey.last_used_at)).one() == first


class TestKeysByCli:
    def test_list_revoke_rotate(self, runtime: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        make_key(runtime, "Loja Verde", "merchant")
        monkeypatch.setenv("SKUPIX_DATA_DIR", str(settings.data_dir))
        monkeypatch.setenv("SKUPIX_DATABASE_URL", settings.database_url)
        runner = CliRunner()
        listed = runner.invoke(cli, ["keys", "list", "--tenant", "Loja Verde"])
        assert listed.exit_code == 0, listed.output
        with runtime.db.read_only() as session:
            key_id = session.scalars(select(ApiKey.id)).one()
        assert key_id in listed.output
        rotated = runner.invoke(cli, ["keys", "rotate", key_id, "--expires-in-days", "30"])
        assert rotated.exit_code == 0, rotated.output
        new_plain = rotated.output.strip().splitlines()[-1]
        assert new_plain.startswith("skx_")
        with runtime.db.read_only() as session:
            rows = {k.id: k for k in session.scalars(select(ApiKey))}
        assert rows[key_id].revoked_at is not None
        new_id = next(k for k in rows if k != key_id)
        assert rows[new_id].expires_at is not None
        revoked = runner.invoke(cli, ["keys", "revoke", new_id])
        assert revoked.exit_code == 0, revoked.output
        assert runner.invoke(cli, ["keys", "revoke", "key_doesnotexist"]).exit_code == 2


class TestPullKeepsTheKeyHome:
    def test_credentials_go_only_to_the_api_origin(self) -> None:
        seen: list[tuple[str, str | None]] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append((request.url.host, request.headers.get("authorization")))
            return httpx.Response(200, content=b"img")

        client = SkupixClient("https://api.example", "skx_secret")
        transport = httpx.MockTransport(handler)
        client.http = httpx.Client(base_url=client.base_url, transport=transport,
                                   headers=client.http.headers)
        client.anonymous = httpx.Client(transport=transport)
        client.download("https://cdn.example/v/ast_1/amazon_main/abc.jpg")
        client.download("https://api.example/v/ast_1/amazon_main/abc.jpg")
        client.download("/v/ast_1/amazon_main/abc.jpg")
        client.download("http://api.example/v/x.jpg")  # another scheme is another origin
        assert seen == [("cdn.example", None), ("api.example", "Bearer skx_secret"),
                        ("api.example", "Bearer skx_secret"), ("api.example", None)]
        client.close()
