"""The filler header that page-aligns an nginx edge's cached copy: only for bodies where it pays."""

from __future__ import annotations

from api.hotlink import _NGINX_CACHE_HEADER, _NGINX_KEY_LINE, _SERVER_ADDED, _STATUS_LINE, edge_padding

REPLY = [(b"etag", b'"0123456789abcdef0123456789abcdef"'), (b"cache-control", b"public, max-age=31536000, immutable"),
         (b"content-type", b"image/webp"), (b"content-length", b"70000")]
KEY = b"http://cdn.exemplo.com.br/v/ast_1/web_large/v1.webp"


def _head(reply: list[tuple[bytes, bytes]]) -> int:
    """Bytes before the body in nginx's cache file."""
    return (_NGINX_CACHE_HEADER + _NGINX_KEY_LINE + len(KEY) + _STATUS_LINE + _SERVER_ADDED
            + sum(len(name) + len(value) + 4 for name, value in reply))


def test_a_cached_file_within_fifteen_pages_gets_no_filler() -> None:
    body = 15 * 4096 - _head(REPLY)
    assert edge_padding(REPLY, KEY, body) is None
    assert edge_padding(REPLY, KEY, 100) is None


def test_a_larger_body_starts_on_a_page_boundary() -> None:
    body = 15 * 4096 - _head(REPLY) + 1
    pad = edge_padding(REPLY, KEY, body)
    assert pad is not None and pad[0] == b"x-skupix-pad" and set(pad[1]) == {ord("0")}
    assert _head([*REPLY, pad]) % 4096 == 0
    for size in (200_000, 5_000_000):
        pad = edge_padding(REPLY, KEY, size)
        assert pad is not None and _head([*REPLY, pad]) % 4096 == 0
