"""A fast lane in the HTTP server for hotlink hits: uvicorn's httptools protocol, with a request for a known
immutable variant URL answered as soon as its headers are parsed, without the ASGI machinery.

The ASGI path costs a task, a scope, two messages and their checks per request, several times what a
cached hit itself costs; on a loopback benchmark that caps any ASGI app at about half of nginx's rate
(docs/serving.md). Here `Hotlink.answer_now` decides the answer (the same function, rules and counters
the ASGI path uses for the same request) and the bytes go to the transport in one write. Whenever it
cannot decide at once — first request, rules not yet read, a file to stream, a caller to identify, a
proxy's X-Forwarded-* headers to apply, pipelined or back-pressured connections — the request takes the
ordinary uvicorn path, unchanged. `skupix serve --server uvicorn` runs with it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from api.hotlink import Reply

log = logging.getLogger(__name__)


class _NoWaiter:
    def set(self) -> None:
        """Nothing waits on an answer already written."""


class _Answered:
    """Stands for the request cycle of an answer the fast lane wrote: complete, nothing left to wait for."""

    response_complete = True
    more_body = False
    message_event = _NoWaiter()


_ANSWERED = _Answered()
_FORWARDED = (b"x-forwarded-for", b"x-forwarded-proto")


class FastLaneProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, answering known immutable variant URLs from the parser callback."""

    def __init__(self, config: Config, server_state: ServerState, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._defaults_of: list[tuple[bytes, bytes]] | None = None
        self._defaults = b""
        self.skupix = _find_skupix_app(self.app)
        self.lane_open = self.skupix is not None and not self.root_path and _fits_this_uvicorn(self)
        if self.skupix is not None:
            # what this server adds to each answer head, for the edge's page alignment (api/hotlink.py)
            self.skupix.hotlink.server_added = 2 + sum(len(name) + len(value) + 4
                                                       for name, value in server_state.default_headers)

    def on_message_begin(self) -> None:
        """A new request: its ASGI scope is made only if the lane passes it on (`_to_asgi`)."""
        self.url = b""
        self.expect_100_continue = False
        self.headers = []

    def _to_asgi(self) -> None:
        """Make the scope as uvicorn's own on_message_begin does, keeping what the parser has read."""
        url, headers, expect = self.url, self.headers, self.expect_100_continue
        super().on_message_begin()
        self.url, self.expect_100_continue = url, expect
        self.headers.extend(headers)  # the scope holds this same list
        super().on_headers_complete()

    def on_headers_complete(self) -> None:
        """Answer a hit here when possible; otherwise start the ASGI cycle as uvicorn does."""
        if (self.lane_open and self.url.startswith(b"/v/") and not self.pipeline and not self.flow.write_paused
                and (self.cycle is None or self.cycle.response_complete)):
            reply = self._answer_now()
            if reply is not None:
                self._write(reply)
                self.skupix.hotlink.lane_answers += 1
                self.cycle = _ANSWERED  # type: ignore[assignment]
                self.on_response_complete()  # keep-alive timer, pipelined requests: as after any answer
                return
        self._to_asgi()

    def _answer_now(self) -> Reply | None:
        parser = self.parser
        method = parser.get_method()
        if (method not in (b"GET", b"HEAD") or parser.get_http_version() != "1.1" or not parser.should_keep_alive()
                or self.expect_100_continue or parser.should_upgrade()):
            return None
        if self.config.proxy_headers:
            for name, _value in self.headers:
                if name in _FORWARDED:
                    return None  # the client address and scheme come from the proxy: uvicorn's middleware applies them
        url = httptools.parse_url(self.url)
        if b"%" in url.path or not url.path.isascii():
            return None  # uvicorn decodes such paths; the ASGI path sees what it made of them
        assert self.skupix is not None
        return self.skupix.hotlink.answer_now(self.skupix.state.runtime, method.decode(), url.path.decode(),
                                              url.query or b"", self.headers, self.client)

    def _write(self, reply: Reply) -> None:
        defaults = self.server_state.default_headers  # a new list each second (the date)
        if defaults is not self._defaults_of:
            self._defaults_of = defaults
            self._defaults = b"".join(name + b": " + value + b"\r\n" for name, value in defaults)
        head = reply.head
        if head is None:
            head = b"".join(name + b": " + value + b"\r\n" for name, value in reply.headers)
        head = STATUS_LINE[reply.status] + self._defaults + head + b"\r\n"
        self.transport.writelines((head, reply.body) if reply.body else (head,))


# What the lane reads of uvicorn's protocol; another uvicorn without them runs the app without the lane.
_PROTOCOL_PARTS = ("headers", "parser", "pipeline", "flow", "cycle", "transport", "client", "config",
                   "expect_100_continue", "on_response_complete")
_warned: list[str] = []


def _fits_this_uvicorn(protocol: HttpToolsProtocol) -> bool:
    missing = [name for name in _PROTOCOL_PARTS if not hasattr(protocol, name)]
    if missing and not _warned:
        _warned.append("yes")
        log.warning("hotlink fast lane off: this uvicorn's protocol lacks %s", ", ".join(missing))
    return not missing


def _find_skupix_app(app: Any) -> Any:
    """The SkupixApp under uvicorn's wrappers (proxy headers, message logger), or None."""
    from api.app import SkupixApp

    for _depth in range(8):
        if isinstance(app, SkupixApp):
            return app
        app = getattr(app, "app", None)
    return None
