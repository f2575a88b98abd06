"""The HTTP server's fast lane for hotlink hits (api/fastlane.py), run in a real uvicorn on loopback.

A request for a known immutable URL is answered from the parser's callback; the same request with an
X-Forwarded-Proto header (which the lane leaves to uvicorn's proxy middleware) takes the ASGI path.
Every answer must be the same both ways, rules must bind in the lane, and a connection's answers must
keep their order whatever path each request takes.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.app import create_app
from api.fastlane import FastLaneProtocol
from registry.runtime import Runtime
from tests.api.helpers import variant_paths
from tests.api.test_hotlink_http import CASES, _fill
from tests.api.test_hotlink_rules import _sign
from tests.api.test_variants import _DroppedJobs
from tests.fixtures.pictures import jpeg, product
from tests.scaleout.conftest import free_port

ASGI_PATH = {"X-Forwarded-Proto": "http"}  # the lane declines proxied requests: uvicorn's middleware applies them
_VARYING = ("date", "x-request-id")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The lane decides from memory only: one database backend is enough here."""
    return f"sqlite:///{tmp_path / 'registry.sqlite3'}"


class Served:
    """The app under a real uvicorn with the fast lane, in a thread."""

    def __init__(self, runtime: Runtime, protocol: type[FastLaneProtocol] = FastLaneProtocol,
                 keep_alive: int = 5) -> None:
        self.app: Any = create_app(runtime=runtime)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self.port = port
        self.server = uvicorn.Server(uvicorn.Config(
            self.app, host="127.0.0.1", port=port, http=protocol, lifespan="on", log_level="warning",
            proxy_headers=True, forwarded_allow_ips="*", access_log=False, timeout_keep_alive=keep_alive))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    @property
    def lane(self) -> int:
        """How many answers the fast lane has written."""
        return int(self.app.hotlink.lane_answers)


@pytest.fixture
def served(runtime: Runtime) -> Iterator[Served]:
    """uvicorn with the fast lane, on the test's runtime; render jobs dropped (the first request renders)."""
    runtime.publisher = _DroppedJobs()
    with Served(runtime) as server:
        yield server


def _same(lane: httpx.Response, asgi: httpx.Response, where: str) -> None:
    assert lane.status_code == asgi.status_code, where
    assert ([(k, v) for k, v in lane.headers.multi_items() if k not in _VARYING]
            == [(k, v) for k, v in asgi.headers.multi_items() if k not in _VARYING]), where
    assert lane.content == asgi.content, where


def test_the_lane_answers_every_http_case_as_the_asgi_path_does(served: Served, merchant: dict[str, str]) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        asset_id, path, _alias = variant_paths(client, merchant, jpeg(product(91, size=600)), sku="LANE-1")
        first = client.get(path)  # rendered and remembered by the ASGI path
        assert first.status_code == 200 and served.lane == 0
        modified = parsedate_to_datetime(first.headers["last-modified"])
        values = {"etag": first.headers["etag"], "lm": first.headers["last-modified"],
                  "size": str(len(first.content)), "last": str(len(first.content) - 1),
                  "last5": str(len(first.content) - 5),
                  "future": format_datetime(modified + timedelta(days=1), usegmt=True),
                  "past": format_datetime(modified - timedelta(days=1), usegmt=True)}
        cases = [case for case in CASES if case.url == "immutable"]
        for case in cases:
            headers = {key: _fill(value, values) for key, value in case.headers.items()}
            before = served.lane
            lane = client.request(case.method, path, headers=headers)
            assert served.lane == before + 1, f"{case.name}: not answered by the lane"
            asgi = client.request(case.method, path, headers=headers | ASGI_PATH)
            assert served.lane == before + 1, f"{case.name}: the proxied request was answered by the lane"
            _same(lane, asgi, case.name)
            assert lane.status_code == case.status, case.name
        # Known misses too, without a database query: an unknown profile, a remembered unknown asset.
        for missing in (path.replace("/swatch/", "/no_such_profile/"), f"/v/ast_{'0' * 26}/swatch/v1.jpg",
                        path.rsplit(".", 1)[0]):
            client.get(missing)  # the first unknown-asset request asks the database once
            before = served.lane
            lane, asgi = client.get(missing), client.get(missing, headers=ASGI_PATH)
            assert served.lane == before + 1 and lane.status_code == 404, (missing, lane.text)
            assert lane.json()["code"] == "not_found"
            _same(lane, asgi, missing)
        # The negotiated URL of a profile (the choice of format from Accept, Vary: Accept when there is one).
        for profile in ("swatch", "web_thumb"):
            negotiated = f"/v/{asset_id}/{profile}"
            for accept in ("image/avif,image/webp,*/*", "image/jpeg", ""):
                ask = {"Accept": accept} if accept else {}
                client.get(negotiated, headers=ask)  # the formats on offer and the chosen file are read once
                before = served.lane
                lane = client.get(negotiated, headers=ask)
                assert served.lane == before + 1, (negotiated, accept)
                assert lane.status_code == 200 and lane.headers["content-location"].startswith(f"/v/{asset_id}/")
                _same(lane, client.get(negotiated, headers=ask | ASGI_PATH), f"{negotiated} {accept}")
        # Whole answers of a file on local disk went zero-copy (sendfile), and arrived whole (compared above).
        assert served.app.hotlink.zero_copy_sends >= 1
        # A request id comes back; one that could forge log lines is replaced.
        assert client.get(path, headers={"X-Request-ID": "lane-42"}).headers["x-request-id"] == "lane-42"
        assert client.get(path, headers={"X-Request-ID": "a b"}).headers["x-request-id"] != "a b"
        # Counted like any hit (the usage counter and the route's metrics).
        assert served.app.hotlink.usage.hits[(asset_id, "swatch")] >= len(cases)
        metrics = client.get("/metrics").text
        assert re.search(rf"skupix_hotlink_fast_lane_answers_total {served.lane}\.0", metrics), metrics[-2000:]
        assert 'route="/v/{asset}/{profile}/{version}.{ext}"' in metrics


def test_owner_rules_bind_in_the_lane(served: Served, merchant: dict[str, str]) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        asset_id, path, _alias = variant_paths(client, merchant, jpeg(product(92, size=600)), sku="LANE-2")
        assert client.get(path).status_code == 200
        secret = client.post("/v1/hotlink/keys", headers=merchant, json={}).json()["secret"]
        assert client.put("/v1/hotlink/policy", headers=merchant, json={"signed": True}).status_code == 200
        client.get(path)  # the rules are read again (the policy change dropped them)
        before = served.lane
        unsigned, signed = client.get(path), client.get(_sign(secret, path))
        assert served.lane == before + 2
        assert unsigned.status_code == 403 and unsigned.json()["code"] == "signature_invalid"
        assert signed.status_code == 200 and signed.content
        _same(unsigned, client.get(path, headers=ASGI_PATH), "unsigned")

        allow = {"signed": False, "referrers": ["shop.example.com.br"]}
        assert client.put("/v1/hotlink/policy", headers=merchant, json=allow).status_code == 200
        client.get(path, headers={"Referer": "https://shop.example.com.br/p/1"})
        before = served.lane
        mine = client.get(path, headers={"Referer": "https://shop.example.com.br/p/1"})
        theirs = client.get(path, headers={"Referer": "https://copycat.example.net/"})
        assert served.lane == before + 2
        assert mine.status_code == 200 and mine.headers["cache-control"] == "private, max-age=86400"
        assert theirs.status_code == 403 and theirs.json()["code"] == "referrer_not_allowed"

        assert client.post(f"/v1/hotlink/revoke/{asset_id}", headers=merchant).status_code == 200
        client.get(path)
        before = served.lane
        gone = client.get(path)
        assert served.lane == before + 1
        assert gone.status_code == 410 and gone.json()["code"] == "revoked"


def _read_answers(sock: socket.socket, count: int) -> list[tuple[int, bytes]]:
    """Read `count` HTTP/1.1 answers (Content-Length framed) from a socket: status and body each."""
    buffer, answers = b"", list[tuple[int, bytes]]()
    sock.settimeout(30)
    while len(answers) < count:
        while b"\r\n\r\n" not in buffer:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(answers)} answers"
            buffer += chunk
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        status = int(head.split(b" ", 2)[1])
        found = re.search(rb"\r\ncontent-length: (\d+)", head, re.I)
        length = int(found.group(1)) if found else 0
        while len(buffer) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside a body"
            buffer += chunk
        answers.append((status, buffer[:length]))
        buffer = buffer[length:]
    return answers


def test_pipelined_requests_keep_their_order_across_both_paths(served: Served, merchant: dict[str, str]) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        _asset, path, _alias = variant_paths(client, merchant, jpeg(product(93, size=600)), sku="LANE-3")
        image = client.get(path).content
    get = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    health = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    unknown = b"GET /v1/no-such-route HTTP/1.1\r\nHost: x\r\n\r\n"
    before = served.lane
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(get + health + get + unknown + get)  # one write: the server parses them together
        answers = _read_answers(sock, 5)
    assert [status for status, _body in answers] == [200, 200, 200, 404, 200]
    assert answers[0][1] == answers[2][1] == answers[4][1] == image
    assert b'"ok"' in answers[1][1]
    assert served.lane > before  # at least the first, answered before any ASGI request was in flight


def test_a_closing_connection_takes_the_asgi_path_and_closes(served: Served, merchant: dict[str, str]) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as client:
        _asset, path, _alias = variant_paths(client, merchant, jpeg(product(94, size=600)), sku="LANE-4")
        image = client.get(path).content
    before = served.lane
    for request in (f"GET {path} HTTP/1.0\r\n\r\n", f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"):
        with socket.create_connection(("127.0.0.1", served.port)) as sock:
            sock.sendall(request.encode())
            (status, body), = _read_answers(sock, 1)
            assert status == 200 and body == image
            assert sock.recv(1) == b""  # closed by the server
    # An upgrade request is uvicorn's to handle (there is no WebSocket route: it is refused), not the lane's.
    upgrade = (f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n")
    with socket.create_connection(("127.0.0.1", served.port)) as sock:
        sock.sendall(upgrade.encode())
        sock.settimeout(30)
        assert sock.recv(65536).startswith(b"HTTP/1.1 403")
    assert served.lane == before
    assert httpx.get(served.url + path, timeout=30).content == image  # and the server goes on


class _SlowSocket:
    """The lane's socket, taking less than asked: `head_takes` bytes of the head (None: all; 0: would block)."""

    head_takes: int | None = None

    def __init__(self, real: socket.socket) -> None:
        self.real = real

    def send(self, data: bytes, flags: int = 0) -> int:
        if self.head_takes == 0:
            raise BlockingIOError
        return self.real.send(data[:self.head_takes] if self.head_takes is not None else data, flags)

    def fileno(self) -> int:
        return self.real.fileno()

    def close(self) -> None:
        self.real.close()


class _SlowLane(FastLaneProtocol):
    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if self._socket is not None:
            self._socket = _SlowSocket(self._socket)  # type: ignore[assignment]


@pytest.mark.parametrize(("head_takes", "file_takes"), [
    (None, 1000),  # the socket buffer fills inside the body
    (None, 0),  # the file is shorter than the bytes held (or fills at once): all of the body from memory
    (0, None),  # the head would block: the transport sends everything
    (10, None),  # part of the head: the transport sends the rest of it and the body
])
def test_what_the_socket_does_not_take_goes_by_the_transport(runtime: Runtime, merchant: dict[str, str],
                                                             monkeypatch: pytest.MonkeyPatch,
                                                             head_takes: int | None, file_takes: int | None) -> None:
    runtime.publisher = _DroppedJobs()
    real_sendfile = os.sendfile
    calls = []

    def sendfile(out_fd: int, in_fd: int, offset: int, count: int) -> int:
        calls.append((offset, count))
        if file_takes is None:
            return real_sendfile(out_fd, in_fd, offset, count)
        if len(calls) > 1:
            raise BlockingIOError
        return real_sendfile(out_fd, in_fd, offset, file_takes) if file_takes else 0

    with Served(runtime, _SlowLane) as served, httpx.Client(base_url=served.url, timeout=30) as client:
        _asset, path, _alias = variant_paths(client, merchant, jpeg(product(95, size=900)), profile="web_large",
                                             sku="LANE-5")
        image = client.get(path).content
        _SlowSocket.head_takes = head_takes
        monkeypatch.setattr(os, "sendfile", sendfile)
        try:
            before = served.app.hotlink.zero_copy_sends
            with socket.create_connection(("127.0.0.1", served.port)) as sock:
                request = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
                sock.sendall(request + request)  # two answers on one connection: framing must hold
                answers = _read_answers(sock, 2)
        finally:
            _SlowSocket.head_takes = None
    assert len(image) > 1000
    assert answers == [(200, image), (200, image)]
    if head_takes is None:
        assert calls and served.app.hotlink.zero_copy_sends > before
    else:
        assert served.app.hotlink.zero_copy_sends > before or head_takes == 0


def test_open_files_are_bounded_and_closed_when_evicted(tmp_path: Path) -> None:
    from api.fastlane import _OpenFiles

    files = [tmp_path / f"{n}.jpg" for n in range(3)]
    for file in files:
        file.write_bytes(b"x")
    opened = _OpenFiles(size=2)
    first = opened.get(str(files[0]))
    assert first is not None and opened.get(str(files[0])) == first  # kept, not reopened
    opened.get(str(files[1]))
    opened.get(str(files[2]))
    assert list(opened.fds) == [str(files[1]), str(files[2])]
    with pytest.raises(OSError):
        os.fstat(first)  # the least recently used was closed
    assert opened.get(str(tmp_path / "missing.jpg")) is None
    for fd in opened.fds.values():
        os.close(fd)


def test_keep_alive_closes_idle_connections_and_keeps_busy_ones(runtime: Runtime, merchant: dict[str, str]) -> None:
    runtime.publisher = _DroppedJobs()
    with Served(runtime, keep_alive=1) as served:
        with httpx.Client(base_url=served.url, timeout=30) as client:
            _asset, path, _alias = variant_paths(client, merchant, jpeg(product(96, size=600)), sku="LANE-6")
            image = client.get(path).content
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
        before = served.lane
        with socket.create_connection(("127.0.0.1", served.port)) as busy:
            for _ in range(8):  # 2.4 s of requests 0.3 s apart on one connection: it stays open
                busy.sendall(request)
                assert _read_answers(busy, 1) == [(200, image)]
                time.sleep(0.3)
            busy.sendall(request + b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")  # and after an ASGI answer
            assert [status for status, _body in _read_answers(busy, 2)] == [200, 200]
            asked = time.monotonic()
            busy.settimeout(30)
            assert busy.recv(1) == b""  # then idle: closed once the keep-alive time has passed
            assert time.monotonic() - asked >= 0.9
        assert served.lane >= before + 8
