"""A fast lane in the HTTP server for hotlink hits: uvicorn's httptools protocol, with a request for a known
variant URL (immutable or negotiated, or one known not to exist) answered as soon as its headers are
parsed, without the ASGI machinery.

The ASGI path costs a task, a scope, two messages and their checks per request, several times what a
cached hit itself costs; on a loopback benchmark that caps any ASGI app at about half of nginx's rate
(docs/serving.md). Here `Hotlink.answer_now` decides the answer (the same function, rules and counters
the ASGI path uses for the same request); the head and bytes go to the socket in one write, or the head
by send() and the file by sendfile(). Whenever it cannot decide at once — first request, rules not yet
read, a file to stream, a caller to identify, a proxy's X-Forwarded-* headers to apply, pipelined or
back-pressured connections — the request takes the ordinary uvicorn path, unchanged. `skupix serve`
(uvicorn, its default server) runs with it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections import OrderedDict
from typing import Any

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from api.hotlink import Reply, header_lines

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
        self._socket: socket.socket | None = None  # a duplicate of the connection's socket (connection_made)
        self._busy_at = 0.0  # when data last came in (loop time), for the keep-alive timer
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
                # counted before the write: whoever got the answer may read the count at once (tests do)
                self.skupix.hotlink.lane_answers += 1
                self._write(reply)
                self.cycle = _ANSWERED  # type: ignore[assignment]
                # What uvicorn's on_response_complete does after an answer, for a connection with nothing
                # queued and reading on (the lane's conditions): count it, and keep a keep-alive timer armed.
                self.server_state.total_requests += 1
                if self.timeout_keep_alive_task is None and not self.transport.is_closing():
                    self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                        self.timeout_keep_alive_handler)
                return
        self._to_asgi()

    def _unset_keepalive_if_required(self) -> None:
        """uvicorn cancels the keep-alive timer on every read and arms a new one after every answer (1.5 µs
        of a 10 µs hit); here an armed timer stays, and learns when the connection was last busy."""
        self._busy_at = self.loop.time()

    def on_response_complete(self) -> None:
        """As uvicorn, which arms a fresh keep-alive timer: the one armed before is cancelled first."""
        self._cancel_keep_alive()
        super().on_response_complete()

    def timeout_keep_alive_handler(self) -> None:
        """Close an idle connection; one busy since the timer was armed gets the rest of its idle time."""
        self.timeout_keep_alive_task = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is in flight: its answer arms the timer again
        idle = self.loop.time() - self._busy_at
        if idle < self.timeout_keep_alive:
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive - idle,
                                                                self.timeout_keep_alive_handler)
            return
        super().timeout_keep_alive_handler()

    def _cancel_keep_alive(self) -> None:
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

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
            self._defaults = header_lines(defaults)
        head = reply.head
        if head is None:
            head = header_lines(reply.headers)
        head = STATUS_LINE[reply.status] + self._defaults + head + b"\r\n"
        if reply.file is not None and self._socket is not None and not self.transport.get_write_buffer_size():
            fd = _open_files.get(reply.file)
            if fd is not None and self._send_file(head, fd, reply.body):
                self.skupix.hotlink.zero_copy_sends += 1
                return
        self.transport.writelines((head, reply.body) if reply.body else (head,))

    def _send_file(self, head: bytes, fd: int, body: bytes) -> bool:
        """Head by send() held for more (MSG_MORE), body by sendfile(): the kernel sends the page-cache pages,
        where a write from memory costs a copy (on loopback: sys time per 50 KB hit 22 → 13 µs, nginx's).
        What the socket does not take now goes by the transport, from the same bytes in memory."""
        assert self._socket is not None
        try:
            sent = self._socket.send(head, socket.MSG_MORE)
        except OSError:
            return False  # nothing written: the transport writes it all (or reports the broken connection)
        if sent < len(head):
            self.transport.writelines((head[sent:], body))
            return True
        offset, size = 0, len(body)
        try:
            while offset < size:
                done = os.sendfile(self._socket.fileno(), fd, offset, size - offset)
                if not done:
                    break  # the file is shorter than the bytes held: those are the verified ones
                offset += done
        except OSError:
            pass  # full socket buffer (or a broken connection): the transport takes over
        if offset < size:
            self.transport.write(memoryview(body)[offset:])
        return True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """As uvicorn; and a duplicate of the socket for sendfile (closing it leaves uvicorn's open)."""
        super().connection_made(transport)
        raw = transport.get_extra_info("socket")
        if self.lane_open and raw is not None:
            try:
                self._socket = socket.fromfd(raw.fileno(), raw.family, raw.type)
                self._socket.setblocking(False)
            except OSError:
                self._socket = None

    def connection_lost(self, exc: Exception | None) -> None:
        """As uvicorn; and close the duplicate socket and the keep-alive timer."""
        self._cancel_keep_alive()
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        super().connection_lost(exc)


class _OpenFiles:
    """Read-only descriptors of recently sent files, least recently used closed first (as nginx's
    open_file_cache): opening a file per hit would cost two system calls and a path walk."""

    def __init__(self, size: int = 256) -> None:
        self.fds: OrderedDict[str, int] = OrderedDict()
        self.size = size

    def get(self, path: str) -> int | None:
        """A descriptor of `path`, opened on first use; None if it cannot be opened."""
        fd = self.fds.get(path)
        if fd is not None:
            self.fds.move_to_end(path)
            return fd
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        self.fds[path] = fd
        if len(self.fds) > self.size:
            os.close(self.fds.popitem(last=False)[1])
        return fd


_open_files = _OpenFiles()


# What the lane reads of uvicorn's protocol; another uvicorn without them runs the app without the lane.
_PROTOCOL_PARTS = ("headers", "parser", "pipeline", "flow", "cycle", "transport", "client", "config",
                   "expect_100_continue", "on_response_complete", "timeout_keep_alive_task", "timeout_keep_alive",
                   "timeout_keep_alive_handler", "_unset_keepalive_if_required", "server_state", "loop")
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
