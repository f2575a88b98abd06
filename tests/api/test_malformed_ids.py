"""Ids, cursors and URLs no registry would make: a clear 4xx with a code, never a 500, on both engines.

PostgreSQL answers a NUL byte in a text parameter with an error instead of a miss, so these run on
both engines (the `client` fixture is parametrised).
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from registry.media.repository import MediaRepository
from registry.runtime import Runtime
from registry.variants.repository import VariantRepository
from tests.api.helpers import row_counts, upload
from tests.fixtures.pictures import jpeg, product

NUL_URLS = [
    "/v1/uploads/upl_%00",
    "/v1/media/ast_%00",
    "/v1/uploads?before=%00",
    "/v1/skus?after=%00",
    "/v1/skus/%00/listing?platform=amazon",
    "/v/ast_%00/web_thumb.webp",
    "/v/ast_%00/web_thumb/abc.webp",
    "/v/ast_01aaaaaaaaaaaaaaaaaaaaaaaa/web_thumb/%00abc.webp",
    "/v1/media?x=%00",
]


@pytest.mark.parametrize("url", NUL_URLS)
def test_a_nul_byte_anywhere_in_the_url_is_a_bad_request(client: TestClient, merchant: dict[str, str],
                                                         url: str) -> None:
    response = client.get(url, headers=merchant)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "bad_request"


@pytest.mark.parametrize("path", ["split", "merge"])
@pytest.mark.parametrize("bad_id", ["upl_\x00", "\x00", "ast_\u2028", "ast_" + "é" * 36, "ast_' OR '1'='1", ""])
def test_malformed_ids_in_split_and_merge_bodies_are_invalid_requests(
    client: TestClient, merchant: dict[str, str], runtime: Runtime, path: str, bad_id: str
) -> None:
    asset = upload(client, merchant, jpeg(product(81, size=300))).json()["asset_id"]
    before = row_counts(runtime)
    field = "upload_id" if path == "split" else "duplicate_asset_id"
    response = client.post(f"/v1/media/{asset}/{path}", headers=merchant, json={field: bad_id})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"
    assert row_counts(runtime) == before


@pytest.mark.parametrize("bad_id", ["ast_%E2%80%A8", "ast_%C3%A9t%C3%A9", "ast_'%20OR%20'1'='1", "AST_01X", "x" * 300])
def test_ids_of_the_wrong_shape_name_nothing(client: TestClient, merchant: dict[str, str], bad_id: str) -> None:
    for url in (f"/v1/media/{bad_id}", f"/v1/uploads/{bad_id}", f"/v/{bad_id}/web_thumb.webp"):
        response = client.get(url, headers=merchant)
        assert response.status_code == 404, (url, response.text)
        assert response.json()["code"] == "not_found"


def test_cursors_are_checked(client: TestClient, merchant: dict[str, str]) -> None:
    before = client.get("/v1/uploads", params={"before": "upl_é"}, headers=merchant)
    assert before.status_code == 422 and before.json()["code"] == "invalid_request"
    after = client.get("/v1/skus", params={"after": "A\x01B"}, headers=merchant)
    assert after.status_code == 422 and after.json()["code"] == "invalid_input"
    fine = client.get("/v1/skus", params={"after": "靴-23"}, headers=merchant)
    assert fine.status_code == 200
    decomposed = client.get("/v1/skus", params={"after": "e\u0301" * 150}, headers=merchant)  # 150 characters in NFC
    assert decomposed.status_code == 200


def test_repositories_answer_none_for_ids_they_never_made(runtime: Runtime) -> None:
    """The guard below the HTTP layer, for the CLI and the workers: a miss, not a database error."""
    with runtime.db.read_only() as session:
        media = MediaRepository(session)
        assert media.asset("ast_\x00") is None
        assert media.asset_exact("ast_\x00") is None
        assert media.upload("upl_\x00") is None
        assert VariantRepository(session).get("ast_\x00", "web_thumb", "abc") is None
        assert VariantRepository(session).get("ast_01abc", "web_thumb", "ab\x00c") is None
