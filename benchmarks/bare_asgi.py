"""The ceiling for any app answering through ASGI on this machine: a handler that answers every request
with one file's bytes from memory and the same headers as a variant, nothing else (benchmarks/hotlink.py
runs it under granian). `skupix serve`'s fast lane (api/fastlane.py) answers hits below the ASGI layer.
Set BARE_FILE to the file."""

from __future__ import annotations

import os
from typing import Any

_DATA = open(os.environ["BARE_FILE"], "rb").read()  # noqa: SIM115 - read once at import, for the process's life
_HEADERS = [
    (b"etag", b'"0123456789abcdef0123456789abcdef"'), (b"last-modified", b"Thu, 03 Dec 2026 13:00:00 GMT"),
    (b"cache-control", b"public, max-age=31536000, immutable"), (b"accept-ranges", b"bytes"),
    (b"x-content-type-options", b"nosniff"), (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"ETag, Content-Length, Content-Range, X-Request-ID"),
    (b"x-request-id", b"1a2b-abcdef-12345"), (b"content-type", b"image/jpeg"),
    (b"content-length", str(len(_DATA)).encode()),
]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer any HTTP request with the file."""
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _DATA})
