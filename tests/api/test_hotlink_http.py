"""HTTP semantics of variant URLs and aliases (RFC 9110/9111), one table of requests and answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from registry.runtime import Runtime
from tests.api.helpers import upload, variant_paths
from tests.api.test_variants import _DroppedJobs
from tests.fixtures.pictures import jpeg, product

CACHING = ("etag", "cache-control", "last-modified")


@dataclass(frozen=True)
class Case:
    """One request and what its answer must be; `{etag}`, `{lm}`, `{size}` … are filled in per asset."""

    name: str
    url: str  # "immutable" or "alias"
    method: str = "GET"
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    body: str = "full"  # full | empty | a slice "start:end" of the bytes
    content_range: str | None = None
    same_caching_as_200: bool = False


CASES = [
    Case("plain GET", "immutable"),
    Case("If-None-Match equal", "immutable", headers={"If-None-Match": "{etag}"}, status=304, body="empty",
         same_caching_as_200=True),
    Case("If-None-Match weak form of ours", "immutable", headers={"If-None-Match": "W/{etag}"}, status=304,
         body="empty", same_caching_as_200=True),
    Case("If-None-Match in a list", "immutable", headers={"If-None-Match": '"x", {etag}'}, status=304, body="empty"),
    Case("If-None-Match star", "immutable", headers={"If-None-Match": "*"}, status=304, body="empty"),
    Case("If-None-Match other: full", "immutable", headers={"If-None-Match": '"other"'}),
    Case("If-Modified-Since ignored when If-None-Match is present", "immutable",
         headers={"If-None-Match": '"other"', "If-Modified-Since": "{future}"}),
    Case("If-Modified-Since at Last-Modified", "immutable", headers={"If-Modified-Since": "{lm}"}, status=304,
         body="empty", same_caching_as_200=True),
    Case("If-Modified-Since before Last-Modified", "immutable", headers={"If-Modified-Since": "{past}"}),
    Case("If-Modified-Since not a date", "immutable", headers={"If-Modified-Since": "yesterday"}),
    Case("HEAD", "immutable", method="HEAD", body="empty"),
    Case("HEAD If-None-Match", "immutable", method="HEAD", headers={"If-None-Match": "{etag}"}, status=304,
         body="empty"),
    Case("HEAD ignores Range", "immutable", method="HEAD", headers={"Range": "bytes=0-9"}, body="empty"),
    Case("Range first bytes", "immutable", headers={"Range": "bytes=0-9"}, status=206, body="0:10",
         content_range="bytes 0-9/{size}"),
    Case("Range open end", "immutable", headers={"Range": "bytes=10-"}, status=206, body="10:",
         content_range="bytes 10-{last}/{size}"),
    Case("Range suffix", "immutable", headers={"Range": "bytes=-5"}, status=206, body="-5:",
         content_range="bytes {last5}-{last}/{size}"),
    Case("Range end past the size is clipped", "immutable", headers={"Range": "bytes=0-99999999"}, status=206,
         body=":", content_range="bytes 0-{last}/{size}"),
    Case("Range past the end", "immutable", headers={"Range": "bytes={size}-"}, status=416, body="empty",
         content_range="bytes */{size}"),
    Case("Range with If-Range equal ETag", "immutable", headers={"Range": "bytes=0-3", "If-Range": "{etag}"},
         status=206, body="0:4", content_range="bytes 0-3/{size}"),
    Case("Range with If-Range other ETag: full", "immutable",
         headers={"Range": "bytes=0-3", "If-Range": '"other"'}),
    Case("Range with If-Range weak ETag: full", "immutable",
         headers={"Range": "bytes=0-3", "If-Range": "W/{etag}"}),
    Case("Range with If-Range at Last-Modified", "immutable", headers={"Range": "bytes=0-3", "If-Range": "{lm}"},
         status=206, body="0:4", content_range="bytes 0-3/{size}"),
    Case("Range with If-Range older date: full", "immutable",
         headers={"Range": "bytes=0-3", "If-Range": "{past}"}),
    Case("several ranges: full", "immutable", headers={"Range": "bytes=0-1,4-5"}),
    Case("other range unit: full", "immutable", headers={"Range": "items=0-1"}),
    Case("malformed Range: full", "immutable", headers={"Range": "bytes=x-y"}),
    Case("alias GET", "alias", status=302, body="empty"),
    Case("alias HEAD", "alias", method="HEAD", status=302, body="empty"),
]


def _fill(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def test_variant_urls_follow_http_semantics(client: TestClient, merchant: dict[str, str], runtime: Runtime) -> None:
    runtime.publisher = _DroppedJobs()
    _asset, immutable, alias = variant_paths(client, merchant, jpeg(product(82, size=600)), sku="HTTP-1")
    paths = {"immutable": immutable, "alias": alias}
    full = client.get(paths["immutable"])  # the first request renders it
    assert full.status_code == 200
    data = full.content
    modified = parsedate_to_datetime(full.headers["last-modified"])
    values = {
        "etag": full.headers["etag"], "lm": full.headers["last-modified"], "size": str(len(data)),
        "last": str(len(data) - 1), "last5": str(len(data) - 5),
        "future": format_datetime(modified + timedelta(days=1), usegmt=True),
        "past": format_datetime(modified - timedelta(days=1), usegmt=True),
    }
    assert values["etag"].startswith('"') and len(values["etag"]) > 10
    assert modified <= datetime.now(UTC)

    for case in CASES:
        headers = {key: _fill(value, values) for key, value in case.headers.items()}
        answer = client.request(case.method, paths[case.url], headers=headers, follow_redirects=False)
        where = f"{case.name}: {answer.status_code} {dict(answer.headers)}"
        assert answer.status_code == case.status, where
        # Images and redirects alike: CORS, no sniffing, a request id, and no Vary (nothing negotiated here).
        assert answer.headers["access-control-allow-origin"] == "*", where
        assert answer.headers["x-content-type-options"] == "nosniff", where
        assert answer.headers["x-request-id"], where
        assert "vary" not in answer.headers, where
        if case.url == "alias":
            assert answer.headers["location"] == "http://testserver" + paths["immutable"], where
            assert answer.headers["cache-control"] == "public, max-age=60", where
            assert answer.content == b"", where
            continue
        for name in CACHING:
            assert answer.headers[name] == full.headers[name], where
        if case.body == "empty":
            assert answer.content == b"", where
        elif case.body == "full":
            assert answer.content == data, where
        else:
            start, _, end = case.body.partition(":")
            assert answer.content == data[int(start) if start else None:int(end) if end else None], where
        if case.status in (200, 206):
            expected = len(data) if case.body in ("full", "empty") else len(answer.content)
            assert answer.headers["content-length"] == str(expected), where
            assert answer.headers["accept-ranges"] == "bytes", where
            assert answer.headers["content-type"] == "image/jpeg", where
        if case.content_range is not None:
            assert answer.headers["content-range"] == _fill(case.content_range, values), where
        else:
            assert "content-range" not in answer.headers, where

    # A request id sent in comes back out; one that could forge log lines is replaced.
    assert client.get(paths["immutable"], headers={"X-Request-ID": "abc-123"}).headers["x-request-id"] == "abc-123"
    assert client.get(paths["immutable"], headers={"X-Request-ID": 'a"b'}).headers["x-request-id"] != 'a"b'
    # Methods: a CORS preflight is answered, anything else is a JSON 405.
    preflight = client.options(paths["immutable"])
    assert preflight.status_code == 204 and "GET" in preflight.headers["access-control-allow-methods"]
    post = client.post(paths["immutable"])
    assert post.status_code == 405 and post.json()["code"] == "method_not_allowed"
    assert post.headers["allow"] == "GET, HEAD"


def test_a_missing_blob_answers_head_and_get_alike(client: TestClient, merchant: dict[str, str],
                                                   runtime: Runtime) -> None:
    runtime.publisher = _DroppedJobs()
    asset_id, path, _alias = variant_paths(client, merchant, jpeg(product(83, size=600)), sku="HTTP-2")
    assert client.get(path).status_code == 200
    root = Path(runtime.settings.resolved_storage_url.removeprefix("file://"))
    blob = next(root.glob(f"variants/{asset_id}/swatch/*"))
    blob.unlink()
    # The process that served it holds the bytes and looks at the file at most once per recheck interval:
    # within it, the copy in memory (verified against the ETag) still answers; once it is due, the process
    # says so too, HEAD and GET alike (the interval's passing is simulated, not waited for).
    hotlink = client.app.hotlink  # type: ignore[attr-defined]
    assert client.get(path).status_code == 200
    hotlink.rows[path].file_seen_at -= hotlink.limits.file_recheck_seconds
    assert client.head(path).status_code == client.get(path).status_code == 503
    # A fresh process has not seen the variant yet: its row is there, its bytes are not.
    with TestClient(create_app(runtime=runtime)) as fresh:
        head, get = fresh.head(path), fresh.get(path)
    assert head.status_code == get.status_code == 503
    assert get.json()["code"] == "storage_unavailable"
    assert head.content == b""
    for name in ("content-type", "content-length", "cache-control"):
        assert head.headers.get(name) == get.headers.get(name), name


def test_hotlinks_are_rate_limited_per_client_address(client: TestClient, runtime: Runtime,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime.settings, "hotlink_rate_per_client", 0.5)
    monkeypatch.setattr(runtime.settings, "hotlink_burst_per_client", 3)
    path = "/v/ast_00000000000000000000000000/swatch.jpg"  # limits come before any lookup
    assert [client.get(path).status_code for _ in range(3)] == [404, 404, 404]
    limited = client.get(path)
    assert limited.status_code == 429
    assert limited.json()["code"] == "too_many_requests"
    assert int(limited.headers["retry-after"]) == 2
    assert "cache-control" not in limited.headers  # an edge must not keep it
    # Another address has its own allowance.
    other = TestClient(client.app, client=("203.0.113.9", 5000))
    assert other.get(path).status_code == 404


def test_hotlinks_are_rate_limited_per_owning_tenant(client: TestClient, merchant: dict[str, str],
                                                     other_merchant: dict[str, str], runtime: Runtime,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    runtime.publisher = _DroppedJobs()
    paths = []
    for headers, seed in ((merchant, 92), (other_merchant, 93)):
        asset_id = upload(client, headers, jpeg(product(seed, size=600))).json()["asset_id"]
        paths.append(f"/v/{asset_id}/swatch.jpg")
    monkeypatch.setattr(runtime.settings, "hotlink_rate_per_tenant", 1.0)
    monkeypatch.setattr(runtime.settings, "hotlink_burst_per_tenant", 2)
    mine, theirs = paths
    assert [client.get(mine, follow_redirects=False).status_code for _ in range(2)] == [302, 302]
    limited = client.get(mine, follow_redirects=False)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    # One tenant's popularity does not use up another's allowance, whoever the client is.
    assert client.get(theirs, follow_redirects=False).status_code == 302
