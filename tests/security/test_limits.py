"""Bounded before parsed: body limits before authentication, a decode cap, memory returned."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

from api.limits import BodyLimit, Busy, DecodeGate, decode_gate
from registry.runtime import Runtime
from tests.api.helpers import row_counts, upload
from tests.fixtures.pictures import jpeg, product
from workers.memory import release_memory


def _run_limited(body_chunks: list[bytes], headers: list[tuple[bytes, bytes]], limit: int) -> tuple[int, int, int]:
    """Drive BodyLimit with a chunked body; answer (status, bytes the app read, chunks the client sent)."""
    sent: list[Message] = []
    pulled = 0
    read_by_app = 0

    async def receive() -> Message:
        nonlocal pulled
        chunk = body_chunks[pulled] if pulled < len(body_chunks) else b""
        pulled += 1
        return {"type": "http.request", "body": chunk, "more_body": pulled < len(body_chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        nonlocal read_by_app
        more = True
        while more:
            message = await receive()
            read_by_app += len(message.get("body", b""))
            more = message.get("more_body", False)
        await send({"type": "http.response.start", "status": 401, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    scope: Scope = {"type": "http", "method": "POST", "path": "/v1/media/x/split", "headers": headers}
    asyncio.run(BodyLimit(app, upload_limit=10_000, json_limit=limit)(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, read_by_app, pulled


class TestBodyLimit:
    def test_chunked_json_stops_at_the_limit_before_the_app_answers(self) -> None:
        # 200 chunks of 64 KiB = 12.5 MiB offered; the app (which would say 401) never gets past 64 KiB.
        chunks = [b"x" * 65536] * 200
        status, read, pulled = _run_limited(chunks, [(b"content-type", b"application/json")], 65536)
        assert status == 413
        assert read <= 65536
        assert pulled <= 2

    def test_declared_length_over_the_limit_is_refused_unread(self) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"209715200")]
        status, read, pulled = _run_limited([b"x"] * 3, headers, 65536)
        assert (status, read, pulled) == (413, 0, 0)

    def test_absurd_content_length_is_refused_not_parsed(self) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", b"9" * 5000)]
        status, _read, pulled = _run_limited([b"x"], headers, 65536)
        assert (status, pulled) == (413, 0)

    def test_small_body_passes(self) -> None:
        status, read, _pulled = _run_limited([b'{"a":1}'], [(b"content-type", b"application/json")], 65536)
        assert (status, read) == (401, 7)

    def test_multipart_gets_the_upload_limit(self) -> None:
        headers = [(b"content-type", b"multipart/form-data; boundary=x")]
        status, read, _pulled = _run_limited([b"x" * 5000, b"x" * 4000], headers, 1000)
        assert (status, read) == (401, 9000)


class TestBodyLimitThroughTheApp:
    def test_json_body_without_key_is_413_not_read(self, client: TestClient) -> None:
        body = json.dumps({"upload_id": "upl_" + "a" * 30, "pad": "x" * 200_000})
        response = client.post("/v1/media/ast_x/split", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["code"] == "request_too_large"

    def test_chunked_json_without_key_is_413(self, client: TestClient) -> None:
        def chunks():  # type: ignore[no-untyped-def]
            for _ in range(50):
                yield b"x" * 65536

        response = client.post("/v1/media/ast_x/split", content=chunks(), headers={"content-type": "application/json"})
        assert response.status_code == 413

    def test_upload_over_the_limit_is_413_before_the_key_is_checked(self, runtime: Runtime,
                                                                   client: TestClient) -> None:
        big = b"\xff\xd8\xff" + b"\0" * (runtime.settings.max_upload_bytes + 100_000)
        response = client.post("/v1/media", files={"file": ("big.jpg", big, "image/jpeg")})
        assert response.status_code == 413
        assert response.json()["code"] == "request_too_large"

    def test_platform_key_is_refused_before_the_form_is_read(self, client: TestClient,
                                                            platform: dict[str, str]) -> None:
        # A body that is not even multipart: a 403, not a 415, proves the form was never looked at.
        response = client.post("/v1/media", headers={**platform, "content-type": "text/plain"}, content=b"hello")
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"


class TestDecodeGate:
    def test_beyond_the_cap_is_503_with_retry_after_and_nothing_written(
        self, runtime: Runtime, client: TestClient, merchant: dict[str, str]
    ) -> None:
        client.get("/healthz")
        gate = DecodeGate(limit=1, retry_after=7)
        client.app.state.decode_gate = gate  # type: ignore[attr-defined]
        gate.acquire(0)  # another request is decoding
        before = row_counts(runtime)
        response = upload(client, merchant, jpeg(product(3, size=300)))
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert response.json()["code"] == "busy"
        search = client.post("/v1/media/search", headers=merchant,
                             files={"file": ("a.jpg", jpeg(product(3, size=300)), "image/jpeg")})
        assert search.status_code == 503
        assert row_counts(runtime) == before
        gate.release()
        assert upload(client, merchant, jpeg(product(3, size=300))).status_code == 201

    def test_slots_are_given_back_after_errors(self, client: TestClient, merchant: dict[str, str]) -> None:
        client.get("/healthz")
        for _ in range(3):
            assert upload(client, merchant, b"not a picture").status_code == 415
        gate = client.app.state.decode_gate  # type: ignore[attr-defined]
        assert gate.active == 0

    def test_a_finished_burst_trims_memory(self) -> None:
        gate = DecodeGate(limit=2, trim_after_bytes=100)
        gate.acquire(80)
        gate.acquire(80)
        assert gate.release() is False  # one decode still running
        assert gate.release() is True
        gate.acquire(10)
        assert gate.release() is False  # a small burst is not worth a trim

    def test_busy_when_full(self) -> None:
        gate = DecodeGate(limit=1)
        gate.acquire(0)
        with pytest.raises(Busy) as refused:
            gate.acquire(0)
        assert refused.value.retry_after == gate.retry_after

    def test_release_memory_runs(self) -> None:
        assert release_memory() in (True, False)

    def test_gate_is_built_from_settings(self, runtime: Runtime, client: TestClient) -> None:
        client.get("/healthz")

        class _Req:
            app = client.app

        gate = decode_gate(_Req())  # type: ignore[arg-type]
        assert gate.limit == runtime.settings.max_concurrent_decodes
