"""API keys: required, hashed at rest, and scoped by tenant kind."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from registry.models import ApiKey
from registry.runtime import Runtime
from tests.api.helpers import upload
from tests.fixtures.pictures import jpeg, product


class TestAuthentication:
    def test_missing_key_is_401_with_code(self, client: TestClient) -> None:
        response = client.get("/v1/skus")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"

    def test_wrong_key_is_401(self, client: TestClient) -> None:
        response = client.get("/v1/skus", headers={"Authorization": "Bearer skx_not-a-real-key"})
        assert response.status_code == 401
        assert response.json()["code"] == "unauthenticated"

    def test_wrong_scheme_is_401(self, client: TestClient, merchant: dict[str, str]) -> None:
        token = merchant["Authorization"].split(" ", 1)[1]
        response = client.get("/v1/skus", headers={"Authorization": f"Basic {token}"})
        assert response.status_code == 401

    def test_valid_key_is_accepted(self, client: TestClient, merchant: dict[str, str]) -> None:
        assert client.get("/v1/skus", headers=merchant).status_code == 200

    def test_keys_are_stored_hashed(self, runtime: Runtime, merchant: dict[str, str]) -> None:
        plain = merchant["Authorization"].split(" ", 1)[1]
        with runtime.db.read_only() as session:
            stored = session.scalars(select(ApiKey.key_hash)).all()
        assert stored and plain not in stored
        assert all(len(value) == 64 for value in stored)

    def test_platform_keys_cannot_upload(self, client: TestClient, platform: dict[str, str]) -> None:
        response = upload(client, platform, jpeg(product(1, size=400)))
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"


class TestMe:
    def test_me_names_the_tenant_and_permissions_not_thresholds(self, client: TestClient,
                                                               merchant: dict[str, str]) -> None:
        body = client.get("/v1/me", headers=merchant).json()
        assert (body["tenant_name"], body["kind"], body["can_upload"]) == ("loja-são-paulo", "merchant", True)
        assert "upload" in body["permissions"] and "publish_official" not in body["permissions"]
        assert "dedup_limits" not in body  # thresholds would let an attacker tune edits that pass


class TestOpenApi:
    def test_schema_builds_without_warnings(self, client: TestClient) -> None:
        schema = client.get("/openapi.json").json()
        operation_ids = [op["operationId"] for path in schema["paths"].values() for op in path.values()]
        assert len(operation_ids) == len(set(operation_ids))
        assert "/v1/media" in schema["paths"]
