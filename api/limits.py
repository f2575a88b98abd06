"""Hostile-request bounds: request bodies are limited before anything reads them, and picture
decodes run at most N at a time, giving freed memory back to the system when a burst ends."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import error_response
from workers.memory import release_memory

log = logging.getLogger(__name__)

# Form fields, boundaries and part headers around the file itself.
MULTIPART_MARGIN = 64 * 1024


class BodyTooLarge(Exception):
    """Raised inside `receive` once a request body passes its limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


def _too_large(limit: int, multipart: bool) -> JSONResponse:
    what = "an upload" if multipart else "a JSON or form body"
    return error_response(413, "request_too_large", f"{what} may have at most {limit} bytes", limit=limit)


class BodyLimit:
    """ASGI middleware: refuse a request body over its limit, declared or streamed, before the app
    (authentication, form and JSON parsing) sees more than the limit.

    Multipart bodies may carry one upload (the upload limit plus a margin for the form); every other
    body is small JSON. A declared Content-Length over the limit is answered at once without reading;
    a chunked body is counted as it streams and cut off where it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, upload_limit: int | None = None, json_limit: int | None = None) -> None:
        self.app = app
        self.upload_limit = upload_limit
        self.json_limit = json_limit

    def _limits(self, scope: Scope) -> tuple[int, int]:
        if self.upload_limit is not None and self.json_limit is not None:
            return self.upload_limit, self.json_limit
        settings = scope["app"].state.runtime.settings
        return settings.max_upload_bytes + MULTIPART_MARGIN, settings.max_json_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting `receive`; answer 413 where the body is too large."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        content_type = headers.get(b"content-type", b"").decode("latin-1").lower()
        multipart = content_type.startswith("multipart/form-data")
        upload_limit, json_limit = self._limits(scope)
        limit = upload_limit if multipart else json_limit
        declared = headers.get(b"content-length")
        if declared is not None:
            text = declared.decode("latin-1").strip()
            # Bounded before int(): a 5,000-digit length must not reach the integer parser.
            if not text.isdigit() or len(text) > 18 or int(text) > limit:
                await _too_large(limit, multipart)(scope, receive, send)
                return
        received = 0
        exceeded = False
        started = False

        async def counted_receive() -> Message:
            nonlocal received, exceeded
            if exceeded:
                raise BodyTooLarge(limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise BodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded:
                return  # whatever the app made of a cut-off body is replaced by the 413 below
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            exceeded = True
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await _too_large(limit, multipart)(scope, receive, send)


class Busy(Exception):
    """Every decode slot is taken; the client should retry after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__("the server is decoding as many pictures as it may; retry shortly")
        self.retry_after = retry_after


class DecodeGate:
    """At most `limit` picture decodes at once; the rest are refused at once with a retry hint.

    Refusing beats queueing: a queued upload holds its body in memory while it waits, which is what
    the cap exists to bound. When the last decode of a burst that handled `trim_after_bytes` or more
    finishes, freed memory is returned to the system.
    """

    def __init__(self, limit: int, retry_after: int = 2, trim_after_bytes: int = 32 * 1024 * 1024) -> None:
        self.limit = limit
        self.retry_after = retry_after
        self.trim_after_bytes = trim_after_bytes
        self.active = 0
        self.trims = 0
        self._bytes_since_trim = 0
        self._lock = threading.Lock()

    def acquire(self, size: int) -> None:
        """Take a slot or raise Busy."""
        with self._lock:
            if self.active >= self.limit:
                raise Busy(self.retry_after)
            self.active += 1
            self._bytes_since_trim += size

    def release(self) -> bool:
        """Give a slot back; True when the caller should trim memory (the burst is over)."""
        with self._lock:
            self.active -= 1
            if self.active == 0 and self._bytes_since_trim >= self.trim_after_bytes:
                self._bytes_since_trim = 0
                self.trims += 1
                return True
            return False

    @asynccontextmanager
    async def slot(self, size: int) -> AsyncIterator[None]:
        """Hold a decode slot for the body of the `async with`."""
        self.acquire(size)
        try:
            yield
        finally:
            if self.release():
                await run_in_threadpool(release_memory)


def decode_gate(request: Request) -> DecodeGate:
    """The app's decode gate, built from settings on first use."""
    state = request.app.state
    gate: DecodeGate | None = getattr(state, "decode_gate", None)
    if gate is None:
        settings = state.runtime.settings
        gate = DecodeGate(settings.max_concurrent_decodes, settings.busy_retry_after_seconds)
        state.decode_gate = gate
    return gate


def install_limits(app: FastAPI) -> None:
    """Add the body limit (outermost of the app's own middleware) and the Busy answer."""

    @app.exception_handler(Busy)
    async def _busy(_request: Request, exc: Busy) -> JSONResponse:
        response = error_response(503, "busy", str(exc), retry_after=exc.retry_after)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response

    app.add_middleware(BodyLimit)
