"""Hotlink serving: a lean raw-ASGI handler for /v/... in front of FastAPI.

Platforms embed variant URLs in their pages, so this path carries most of the traffic. It skips
FastAPI's routing, dependency injection and validation; an immutable variant's row never changes,
so once seen it is answered from memory (a bounded LRU) without a database round trip, and its
bytes are sent from memory (small hot files, under a byte budget), by the server's zero-copy
`http.response.pathsend` extension, or in chunks.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import math
import os
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache, partial
from pathlib import Path
from typing import Generic, TypeVar
from urllib.parse import parse_qsl, unquote_to_bytes, urlsplit

import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import ops
from api.deps import bearer_key
from api.errors import status_for
from api.urls import variant_path
from processing import errors as image_errors
from processing.profiles import Profile, is_tenant_name
from registry import errors as registry_errors
from registry.hotlink import service as hotlink_rules
from registry.packs.terms import CachedTerms, asset_terms, visibility_of_rows
from registry.runtime import Runtime
from registry.tenants.service import authenticate
from registry.usage import service as usage
from registry.variants import service as variants
from storage import StorageError
from storage.local import LocalBlobStore

log = logging.getLogger(__name__)
T = TypeVar("T")
access_log = logging.getLogger("skupix.access")


IMMUTABLE = b"public, max-age=31536000, immutable"
_CHUNK = 256 * 1024
_NEGATIVE_TTL = 10.0
_RULES_TTL = 5.0  # how long a process trusts what it read of an owner's rules and revocations
_OPS = frozenset({"/healthz", "/readyz", "/metrics"})
_IMMUTABLE_ROUTE = "/v/{asset}/{profile}/{version}.{ext}"
_NEGOTIATED_ROUTE = "/v/{asset}/{profile}"
# What this handler answers instead of FastAPI routes, as (method, path template): for route inventories
# such as the permission matrix (tests/security).
ROUTES = frozenset({(method, path) for method in ("GET", "HEAD") for path in (
    "/v/{asset_id}/{profile}/{filename}", "/v/{asset_id}/{filename}", "/v/{asset_id}/{profile}")}
    | {("GET", path) for path in _OPS})
_PATHSEND = os.environ.get("HOTLINK_PATHSEND", "1") == "1"
# Edge alignment. nginx stores a cached answer as [its header][key line][the API's raw answer head][body]
# and serves the body with sendfile from that offset. A cached file that ends past 16 pages, sent from an
# offset off a page boundary, costs twice the kernel time per hit or stalls each answer for 40 ms; one
# that ends within 15 pages costs no more, and a filler header costs nginx ~9 instructions a byte to
# parse on every hit (measured: docs/serving.md). The edge tells the API its cache key
# (X-Skupix-Cache-Key); the API then pads the answer head of larger bodies so that they start on a page.
_PAGE = 4096
_UNPADDED_MAX_FILE = 15 * _PAGE
_NGINX_CACHE_HEADER = 336  # sizeof(ngx_http_file_cache_header_t), nginx 1.x on 64-bit
_NGINX_KEY_LINE = 7  # "\nKEY: " and the line feed after the key
_STATUS_LINE = len(b"HTTP/1.1 200 OK\r\n")
# What the HTTP server adds to an answer head: granian a "server:" and an IMF-fixdate "date:" line, then the
# blank line; api/fastlane.py tells the exact figure of the uvicorn it runs in.
_SERVER_ADDED = len(b"server: granian\r\n") + len(b"date: Thu, 03 Dec 2026 13:52:16 GMT\r\n") + 2
_PAD_NAME = b"x-skupix-pad"
_COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", b"ETag, Content-Length, Content-Range, X-Request-ID"),
]


def header_lines(headers: list[tuple[bytes, bytes]]) -> bytes:
    """Headers as HTTP/1.1 header lines, for servers that write answer heads themselves (api/fastlane.py)."""
    return b"".join(name + b": " + value + b"\r\n" for name, value in headers)


@dataclass(frozen=True)
class HotlinkLimits:
    """How much the hot path may keep in memory, and how long it trusts a file it has seen to be there."""

    rows: int = 20_000
    body_budget: int = 64 * 1024 * 1024
    body_max: int = 512 * 1024
    negatives: int = 10_000
    # A stat() per hit cost 1.7 µs here, about 6% of a hit; skupix never deletes a variant's blob, so one
    # going missing is an operator's accident, said (503) within this long.
    file_recheck_seconds: float = 1.0


@dataclass
class Entry:
    """What an immutable variant URL answers, prepared once: headers, and where its bytes are."""

    asset_id: str
    profile: str
    etag: bytes
    last_modified: datetime
    size: int
    content_type: bytes
    blob_key: str
    path: str | None  # the file, when the store is a local folder
    headers: list[tuple[bytes, bytes]]  # shared by 200, 206 and 304
    body: bytes | None = None
    redirect: bytes | None = None  # a CDN copy: stable, so cached with the row
    full: list[tuple[bytes, bytes]] = field(default_factory=list)  # a whole 200: headers + type + length
    full_head: bytes = b""  # `full` as header lines, for servers that write them as they are (api/fastlane.py)
    file_seen_at: float = -math.inf  # when the file was last found on disk (time.monotonic)

    def __post_init__(self) -> None:
        self.full = [*self.headers, (b"content-type", self.content_type),
                     (b"content-length", str(self.size).encode())]
        self.full_head = header_lines(self.full)


@dataclass
class _Bodies:
    """Bytes of small hot files, least recently used evicted first, under a byte budget."""

    budget: int
    used: int = 0
    order: OrderedDict[str, Entry] = field(default_factory=OrderedDict)

    def keep(self, key: str, entry: Entry, data: bytes) -> None:
        """Hold `data` for `entry` if it fits the budget, evicting older bodies."""
        if len(data) > self.budget:
            return
        while self.used + len(data) > self.budget and self.order:
            _, old = self.order.popitem(last=False)
            self.used -= len(old.body or b"")
            old.body = None
        entry.body = data
        self.order[key] = entry
        self.used += len(data)

    def forget(self, key: str) -> None:
        """Stop counting a body whose row is dropped (a request still holding the entry may send it)."""
        old = self.order.pop(key, None)
        if old is not None:
            self.used -= len(old.body or b"")

    def touch(self, key: str) -> None:
        """Mark a body as recently used."""
        if key in self.order:
            self.order.move_to_end(key)


class AccessLog:
    """Structured access lines (JSON), written in batches so logging costs less than the response.

    A request only appends a tuple; the lines are formatted when a batch is written.
    """

    def __init__(self, batch: int = 256, interval: float = 1.0) -> None:
        self.lines: list[tuple[float, bytes, str, str, int, int, float]] = []
        self.batch, self.interval = batch, interval
        self._flush_at = time.monotonic() + interval
        self._timer: asyncio.TimerHandle | None = None

    def add(self, rid: bytes, method: str, path: str, status: int, sent: int, seconds: float) -> None:
        """Queue one line; flush when the batch is full or the interval has passed."""
        self.lines.append((time.time(), rid, method, path, status, sent, seconds))
        if len(self.lines) >= self.batch or time.monotonic() >= self._flush_at:
            self.flush()
        elif self._timer is None:
            # a quiet spell must not hold the last lines back
            self._timer = asyncio.get_running_loop().call_later(self.interval, self.flush)

    def flush(self) -> None:
        """Write the queued lines as one log record (one JSON object per line)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._flush_at = time.monotonic() + self.interval
        if self.lines:
            lines, self.lines = self.lines, []
            access_log.info("\n".join(map(_access_line, lines)))


def _access_line(line: tuple[float, bytes, str, str, int, int, float]) -> str:
    when, rid, method, path, status, sent, seconds = line
    # Paths are almost always plain ASCII: JSON-escape only the ones that need it.
    quoted = (f'"{path}"' if path.isascii() and path.isprintable() and '"' not in path and "\\" not in path
              else json.dumps(path, ensure_ascii=False))
    return (f'{{"ts":{when:.3f},"rid":"{rid.decode("latin-1")}","method":"{method}","path":{quoted},'
            f'"status":{status},"bytes":{sent},"ms":{seconds * 1000:.3f}}}')


def enable_access_log() -> None:
    """Send access lines to stderr unless logging is already configured for them."""
    if not access_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


class UsageCounter:
    """Hotlink hits added up in memory and written in one transaction now and then, never per request."""

    def __init__(self, keys: int = 50_000) -> None:
        self.hits: Counter[tuple[str, str]] = Counter()
        self.referrers: Counter[tuple[str, bytes]] = Counter()
        self.keys = keys
        self._timer: asyncio.TimerHandle | None = None
        self._runtime: Runtime | None = None

    def count(self, asset_id: str, profile: str, referer: bytes | None) -> None:
        """One hit of an asset's variant, from a page of `referer` if sent."""
        self.hits[(asset_id, profile)] += 1
        if referer:
            self.referrers[(asset_id, referer)] += 1

    def schedule(self, rt: Runtime) -> None:
        """Make sure a flush is due within the configured interval."""
        self._runtime = rt
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(rt.settings.usage_flush_seconds, lambda: loop.create_task(self.flush()))
        if len(self.hits) + len(self.referrers) > self.keys:
            self._timer.cancel()
            self._timer = None
            asyncio.get_running_loop().create_task(self.flush())

    def take(self) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], int]]:
        """The counts so far, emptied: hits by (asset, profile) and by (asset, referring host)."""
        hits, raw = dict(self.hits), self.referrers
        self.hits, self.referrers = Counter(), Counter()
        sites: Counter[tuple[str, str]] = Counter()
        for (asset_id, referer), count in raw.items():
            host = urlsplit(referer.decode("latin-1")).hostname
            if host:
                sites[(asset_id, host[:255])] += count
        return hits, dict(sites)

    async def flush(self) -> None:
        """Write the counts so far (in a thread); on failure they are put back for the next flush."""
        self._timer = None
        if self._runtime is not None:
            await anyio.to_thread.run_sync(self.flush_now, self._runtime)

    def flush_now(self, rt: Runtime) -> None:
        """Write the counts so far, blocking."""
        hits, sites = self.take()
        try:
            usage.record_hits(rt, datetime.now(UTC).date(), hits, sites)
        except Exception:
            log.exception("hotlink usage not written; kept for the next flush")
            self.hits.update(hits)


class RateLimiter:
    """Token buckets per client address, the least recently seen forgotten first."""

    def __init__(self, clients: int = 100_000) -> None:
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, when counted
        self.clients = clients

    def take(self, client: tuple[str, int] | None, rate: float, burst: int) -> int:
        """Spend one token; 0 when allowed, else the whole seconds until one is there (Retry-After)."""
        key = client[0] if client else "-"
        now = time.monotonic()
        tokens, then = self.buckets.pop(key, (float(burst), now))
        tokens = min(float(burst), tokens + (now - then) * rate)
        allowed = tokens >= 1.0
        self.buckets[key] = (tokens - 1.0 if allowed else tokens, now)
        if len(self.buckets) > self.clients:
            self.buckets.popitem(last=False)
        return 0 if allowed else max(1, math.ceil((1.0 - tokens) / rate))


# What a process knows of an asset's rules: the owner's policy, revoked, pack terms.
_Rules = tuple[hotlink_rules.Policy, bool, tuple[CachedTerms, ...]]
# An answer decided from memory, to be made once the request is let through (rate limit).
_Plan = Callable[["_Headers", bytes], "Reply"]


def _rules_of(rt: Runtime, asset_id: str) -> _Rules:
    """The owner's policy, whether revoked, and the pack terms of an asset (blocking)."""
    policy, revoked = hotlink_rules.rules_for_asset(rt, asset_id)
    return policy, revoked, asset_terms(rt, asset_id)


class TtlTable(Generic[T]):
    """What a process read from the database, trusted for a while (TTL), bounded (LRU).

    Each key is read by one caller at a time: concurrent first requests wait for that one read, and
    once stale a value is still answered while a single background read refreshes it, so a herd of
    requests never queries the database together. `forget` drops values at once (a revocation in
    this process); a read begun before it does not put back what it read.
    """

    def __init__(self, size: int, ttl: float) -> None:
        self.values: OrderedDict[str, tuple[float, T]] = OrderedDict()
        self.size, self.ttl = size, ttl
        self.generation = 0
        self.loads: dict[str, asyncio.Future[T]] = {}
        self.refreshes: dict[str, asyncio.Future[T]] = {}

    async def get(self, key: str, read: Callable[[], T]) -> T:
        """The value for `key`, read in a worker thread by `read` when not known or stale."""
        found = self.values.get(key)
        if found is None:
            loading = self.loads.get(key)
            if loading is None:
                loading = self.loads[key] = asyncio.ensure_future(self._read(key, read, self.loads, self.generation))
            return await asyncio.shield(loading)
        self._refresh_if_stale(key, found, read)
        return found[1]

    def known(self, key: str, read: Callable[..., T], *args: object) -> tuple[T] | None:
        """The value for `key` if one was read (a stale one starts its background refresh by `read(*args)`);
        never waits."""
        found = self.values.get(key)
        if found is None:
            return None
        if found[0] < time.monotonic():
            self._refresh_if_stale(key, found, partial(read, *args))
        return (found[1],)

    def _refresh_if_stale(self, key: str, found: tuple[float, T], read: Callable[[], T]) -> None:
        if found[0] < time.monotonic() and key not in self.refreshes:
            self.refreshes[key] = asyncio.ensure_future(
                self._read(key, read, self.refreshes, self.generation, found[1]))

    def forget(self, key: str | None = None) -> None:
        """Drop one key (or all): the next request reads it again, never joining a read begun before."""
        self.generation += 1
        for table in (self.values, self.loads, self.refreshes):
            if key is None:
                table.clear()
            else:
                table.pop(key, None)

    def __len__(self) -> int:
        return len(self.values)

    def __contains__(self, key: object) -> bool:
        return key in self.values

    async def _read(self, key: str, read: Callable[[], T], pending: dict[str, asyncio.Future[T]],
                    generation: int, *stale: T) -> T:
        try:
            value = await anyio.to_thread.run_sync(read)
        except Exception:
            if not stale:
                raise
            log.exception("%s not refreshed; the last value read is kept", key)
            return stale[0]
        finally:
            if pending.get(key) is asyncio.current_task():  # not a read begun after a forget
                del pending[key]
        if generation == self.generation:
            self.values[key] = (time.monotonic() + self.ttl, value)
            self.values.move_to_end(key)
            while len(self.values) > self.size:
                self.values.popitem(last=False)
        return value


class _NotFound(Exception):
    """An error answer of the hot path (not only 404s)."""

    def __init__(self, status: int, code: str, message: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra


@dataclass
class Reply:
    """An answer decided without waiting: status, headers and body, or a byte range of the entry to send."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""
    stream: tuple[int, int] | None = None  # (first, last) byte of the entry's file or blob, sent by the caller
    head: bytes | None = None  # `headers` as header lines already, when at hand
    file: str | None = None  # a local file holding exactly `body`, for servers that send files zero-copy


@lru_cache(maxsize=4096)  # the same few errors repeat (unknown profile, remembered miss): made once each
def _error_parts(status: int, code: str, message: str,
                 extra: tuple[tuple[bytes, bytes], ...]) -> tuple[bytes, list[tuple[bytes, bytes]], bytes]:
    """An error answer's JSON body, its headers (but the request id) and those as header lines."""
    body = json.dumps({"code": code, "message": message, "status": status}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *_COMMON,
               *extra]
    return body, headers, header_lines(headers)


def _error_reply(rid: bytes, method: str, status: int, code: str, message: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> Reply:
    """A JSON error answer; a missing blob answers HEAD and GET alike (same headers, HEAD without the body)."""
    body, headers, head = _error_parts(status, code, message, tuple(extra or ()))
    ops.errors[code] += 1
    return Reply(status, [*headers, (b"x-request-id", rid)], b"" if method == "HEAD" else body,
                 head=head + b"x-request-id: " + rid + b"\r\n")


def _redirect_reply(status: int, location: bytes, cache: bytes, rid: bytes) -> Reply:
    """An empty redirect with the hot path's common headers."""
    return Reply(status, [(b"location", location), (b"cache-control", cache), (b"content-length", b"0"),
                          *_COMMON, (b"x-request-id", rid)])


def http_date(moment: datetime) -> bytes:
    """An IMF-fixdate (RFC 9110 5.6.7) for a UTC-aware time."""
    return format_datetime(moment, usegmt=True).encode()


def etag_matches(header: bytes, etag: bytes) -> bool:
    """RFC 9110 weak comparison for If-None-Match: any listed tag (or *) equal to ours."""
    for candidate in header.split(b","):
        tag = candidate.strip()
        if tag == b"*":
            return True
        if tag.startswith(b"W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


def _not_modified_since(header: bytes, last_modified: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header.decode("latin-1"))
    except (TypeError, ValueError, IndexError):
        return False  # an invalid date is ignored (RFC 9110 13.1.3)
    if since.tzinfo is None:
        return False
    return last_modified.replace(microsecond=0) <= since


def parse_range(header: bytes, size: int) -> tuple[int, int] | None | bool:
    """One byte range (start, end inclusive); None to ignore the header; False when unsatisfiable."""
    unit, _, spec = header.partition(b"=")
    if unit.strip().lower() != b"bytes" or b"," in spec:
        return None  # other units and multiple ranges: the full representation (RFC 9110 14.2)
    first, dash, last = spec.strip().partition(b"-")
    if not dash:
        return None
    try:
        if first:
            start = int(first)
            end = int(last) if last else size - 1
            if start >= size:
                return False
            if start < 0 or end < start:
                return None
            return start, min(end, size - 1)
        suffix = int(last)
    except ValueError:
        return None
    if suffix <= 0 or size == 0:
        return False
    return max(0, size - suffix), size - 1


class Hotlink:
    """The /v/ handler; everything else goes to the wrapped app."""

    def __init__(self, app: ASGIApp, limits: HotlinkLimits | None = None) -> None:
        self.app = app
        self.limits = limits or HotlinkLimits()
        self.rows: OrderedDict[str, Entry] = OrderedDict()
        self.bodies = _Bodies(self.limits.body_budget)
        self.negatives: OrderedDict[str, tuple[float, int, bytes]] = OrderedDict()
        self.inflight: dict[str, asyncio.Future[Entry]] = {}
        self.lane_answers = 0  # hits the HTTP server answered itself (api/fastlane.py)
        self.zero_copy_sends = 0  # of those, bodies sent by sendfile()
        self.server_added = _SERVER_ADDED  # bytes the HTTP server adds to each answer head (edge alignment)
        self._ids = itertools.count(1)
        self._id_prefix = f"{os.getpid():x}-{os.urandom(3).hex()}-"
        self.log = AccessLog()
        self.stats = ops.HttpStats()
        self.cache_results: Counter[str] = Counter()
        self.limiter = RateLimiter()
        self.tenant_limiter = RateLimiter()
        self.usage = UsageCounter()
        self.rules: TtlTable[_Rules] = TtlTable(self.limits.rows, _RULES_TTL)
        self.choices: TtlTable[list[tuple[str, str, bool, bool]]] = TtlTable(self.limits.rows, _RULES_TTL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve /v/ URLs; pass everything else on; one access-log line per request either way."""
        if scope["type"] == "lifespan":
            await self.app(scope, self._flush_at_shutdown(scope, receive), send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path: str = scope["path"]
        if path.startswith("/v/"):
            known = self.answer_now(scope["app"].state.runtime, scope["method"], path, scope.get("query_string", b""),
                                    scope["headers"], scope.get("client"))
            if known is not None:
                await _send_reply(send, known)
                return
        headers = _Headers(scope["headers"])
        rid = self._request_id(headers)
        if path.startswith("/v/"):
            status, sent = await self._serve(scope, path, headers, rid, send)
            route = (_IMMUTABLE_ROUTE if path.count("/") == 4
                     else "/v/{asset}/{profile}.{ext}" if "." in path.rsplit("/", 1)[1] else _NEGOTIATED_ROUTE)
        elif path in _OPS:
            (status, sent), route = await ops.answer(self, path, scope, send, rid), path
        else:
            status, sent = await self._pass(scope, receive, send, rid)
            route = getattr(scope.get("route"), "path", None) or "unmatched"
        self._done(route, scope["method"], path, rid, status, sent, started)

    def answer_now(self, rt: Runtime | None, method: str, path: str, query: bytes,
                   raw_headers: list[tuple[bytes, bytes]], client: tuple[str, int] | None) -> Reply | None:
        """A request for a known variant URL (immutable or negotiated, or one known not to exist) answered
        from memory, without waiting.

        None, before anything is counted, when the request must wait (its first request, rules not read
        yet, a file to stream, a caller to identify): the async path then answers it. Both paths decide
        with the same `_check` and `_reply`, so they answer alike; HTTP servers may call this directly
        (api/fastlane.py) to skip the ASGI machinery.
        """
        if rt is None or method not in ("GET", "HEAD"):
            return None
        if "\x00" in path or (query and b"\x00" in unquote_to_bytes(query)):
            return None
        headers = _Headers(raw_headers)
        slashes = path.count("/")
        if slashes == 4:
            plan, route = self._plan_immutable(rt, method, path, query), _IMMUTABLE_ROUTE
        elif slashes == 3 and "." not in path.rsplit("/", 1)[1]:
            plan, route = self._plan_negotiated(rt, method, path, query, headers), _NEGOTIATED_ROUTE
        else:
            return None
        if plan is None:
            return None
        started = time.perf_counter()
        rid = self._request_id(headers)
        try:
            reply = self._limit_client(rt, client, rid, method) or plan(headers, rid)
        except _NotFound as exc:
            reply = _error_reply(rid, method, exc.status, exc.code, exc.message, exc.extra)
        except Exception:
            log.exception("unhandled error on %s", path)
            reply = _error_reply(rid, method, 500, "internal_error",
                                 "something went wrong on our side; it has been logged")
        self._done(route, method, path, rid, reply.status, len(reply.body), started)
        return reply

    def _plan_immutable(self, rt: Runtime, method: str, path: str, query: bytes) -> _Plan | None:
        """How to answer an immutable URL from memory, or None if that needs waiting; nothing counted yet."""
        entry = self.rows.get(path)
        if entry is None:
            missing = self._known_missing(rt, path)
            if missing is None:
                return None

            def refuse(_headers: _Headers, rid: bytes) -> Reply:
                self.cache_results["negative"] += missing[2]
                return _error_reply(rid, method, missing[0], "not_found", missing[1])

            return refuse
        rules = self._known_rules(rt, entry.asset_id)
        if rules is None or not self._ready(entry):
            return None

        def serve(headers: _Headers, rid: bytes) -> Reply:
            self.cache_results["hit"] += 1
            self.rows.move_to_end(path)
            _policy, cache = self._check(rt, path, entry.asset_id, rules, headers, query, None)
            return self._reply(rt, method, path, entry, headers, rid, cache)

        return serve

    def _plan_negotiated(self, rt: Runtime, method: str, path: str, query: bytes, headers: _Headers) -> _Plan | None:
        """How to answer /v/{asset}/{profile} from memory (see `_negotiated`), or None if that needs waiting."""
        asset_id, profile = path[3:].split("/")
        if profile not in rt.catalog.profiles:
            return None
        rules = self._known_rules(rt, asset_id)
        options = self.choices.known(f"{asset_id}/{profile}", _format_options, rt, asset_id, profile)
        if rules is None or options is None:
            return None
        target = pick_format(options[0], headers.accept)
        entry = self.rows.get(target)
        if entry is None or not self._ready(entry):
            return None
        vary = b"Accept" if len(options[0]) > 1 else b""

        def serve(headers: _Headers, rid: bytes) -> Reply:
            _policy, cache = self._check(rt, path, asset_id, rules, headers, query, None)
            self.cache_results["hit"] += 1
            self.rows.move_to_end(target)
            return self._reply(rt, method, target, entry, headers, rid, cache or _alias_cache(rt), (vary, cache))

        return serve

    def _known_rules(self, rt: Runtime, asset_id: str) -> _Rules | None:
        """An asset's rules if this process has read them and they bind alike whoever asks."""
        known = self.rules.known(asset_id, _rules_of, rt, asset_id)
        return None if known is None or _needs_viewer(known[0][2]) else known[0]

    def _ready(self, entry: Entry) -> bool:
        """Whether an entry's answer is at hand: bytes in memory (their file still there) or a CDN redirect."""
        if entry.body is None and entry.redirect is None:
            return False
        return self._file_there(entry)  # a missing file: the async path says so

    def _file_there(self, entry: Entry) -> bool:
        """Whether the entry's file (if it has one) is on disk, looked at most once per `file_recheck_seconds`."""
        if entry.path is None:
            return True
        now = time.monotonic()
        if now - entry.file_seen_at < self.limits.file_recheck_seconds:
            return True
        if not os.path.exists(entry.path):
            return False
        entry.file_seen_at = now
        return True

    def _request_id(self, headers: _Headers) -> bytes:
        return headers.request_id or (self._id_prefix + str(next(self._ids))).encode()

    def _done(self, route: str, method: str, path: str, rid: bytes, status: int, sent: int, started: float) -> None:
        """Count one answered request and queue its access-log line."""
        elapsed = time.perf_counter() - started
        self.stats.observe(route, method, status, elapsed)
        if access_log.isEnabledFor(logging.INFO):
            self.log.add(rid, method, path, status, sent, elapsed)

    def _limit_client(self, rt: Runtime, client: tuple[str, int] | None, rid: bytes, method: str) -> Reply | None:
        """A 429 when this client address is over its hotlink rate (a token is spent otherwise)."""
        if rt.settings.hotlink_rate_per_client <= 0:
            return None
        wait = self.limiter.take(client, rt.settings.hotlink_rate_per_client, rt.settings.hotlink_burst_per_client)
        if not wait:
            return None
        return _error_reply(rid, method, 429, "too_many_requests", "too many requests from this address; slow down",
                            [(b"retry-after", str(wait).encode())])

    def _flush_at_shutdown(self, scope: Scope, receive: Receive) -> Receive:
        """Write the hits counted so far before the app closes its runtime."""

        async def receiving() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                rt: Runtime | None = scope["app"].state.runtime
                if rt is not None:
                    await anyio.to_thread.run_sync(self.usage.flush_now, rt)
            return message

        return receiving

    async def _pass(self, scope: Scope, receive: Receive, send: Send, rid: bytes) -> tuple[int, int]:
        """The rest of the API, with the request id added to its answers."""
        seen = [500, 0]

        async def tagged(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen[0] = message["status"]
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", rid)]
            elif message["type"] == "http.response.body":
                seen[1] += len(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, tagged)
        return seen[0], seen[1]

    async def _serve(self, scope: Scope, path: str, headers: _Headers, rid: bytes, send: Send) -> tuple[int, int]:
        method = scope["method"]
        if method not in ("GET", "HEAD"):
            if method == "OPTIONS":
                return await _send(send, 204, [*_COMMON, (b"access-control-allow-methods", b"GET, HEAD"),
                                               (b"access-control-allow-headers", b"Range, If-None-Match, If-Range"),
                                               (b"access-control-max-age", b"86400"), (b"x-request-id", rid)], b"")
            return await self._error(send, rid, method, 405, "method_not_allowed",
                                     "variant URLs answer GET and HEAD", [(b"allow", b"GET, HEAD")])
        query = scope.get("query_string", b"")
        if "\x00" in path or (query and b"\x00" in unquote_to_bytes(query)):
            # as RejectNulInUrl does for the rest of the API: no id holds one, and PostgreSQL errs on it
            return await self._error(send, rid, method, 400, "bad_request", "URLs may not contain NUL characters")
        rt: Runtime = scope["app"].state.runtime
        limited = self._limit_client(rt, scope.get("client"), rid, method)
        if limited is not None:
            return await _send_reply(send, limited)
        parts = path[3:].split("/")
        try:
            if len(parts) == 3:
                return await self._immutable(scope, path, parts, headers, rid, send)
            if len(parts) == 2 and "." not in parts[1]:
                return await self._negotiated(scope, parts, headers, rid, send)
            if len(parts) == 2:
                return await self._alias(scope, parts, headers, rid, send)
            raise _NotFound(404, "not_found", "not a variant URL: /v/{asset}/{profile}.{ext} or "
                                              "/v/{asset}/{profile}/{version}.{ext}")
        except _NotFound as exc:
            return await self._error(send, rid, method, exc.status, exc.code, exc.message, exc.extra)
        except (registry_errors.RegistryError, image_errors.ImageError) as exc:
            return await self._error(send, rid, method, status_for(exc), exc.code, exc.message)
        except StorageError as exc:
            log.error("blob store error on %s: %s", path, exc)
            return await self._error(send, rid, method, 503, "storage_unavailable",
                                     "the blob store is unavailable; try again shortly")
        except Exception:
            log.exception("unhandled error on %s", path)
            return await self._error(send, rid, method, 500, "internal_error",
                                     "something went wrong on our side; it has been logged")

    async def _error(self, send: Send, rid: bytes, method: str, status: int, code: str, message: str,
                     extra: list[tuple[bytes, bytes]] | None = None) -> tuple[int, int]:
        reply = _error_reply(rid, method, status, code, message, extra)
        return await _send_reply(send, reply)

    # ---------------------------------------------------------------- tenant rules

    async def _guard(self, rt: Runtime, scope: Scope, path: str, asset_id: str,
                     headers: _Headers) -> tuple[hotlink_rules.Policy, bytes | None]:
        """Read the owner's rules (once per process and TTL), who asks when that matters, and apply them."""
        rules = await self.rules.get(asset_id, partial(_rules_of, rt, asset_id))
        viewer = None
        if _needs_viewer(rules[2]):  # only the brand may see it now: who is asking decides
            viewer = await anyio.to_thread.run_sync(_viewer_tenant, rt, headers.authorization)
        return self._check(rt, path, asset_id, rules, headers, scope.get("query_string", b""), viewer)

    def _check(self, rt: Runtime, path: str, asset_id: str, rules: _Rules, headers: _Headers, query_string: bytes,
               viewer: str | None) -> tuple[hotlink_rules.Policy, bytes | None]:
        """Apply the owner's rules (revocation, signature, referrers); a narrower Cache-Control when they bind."""
        policy, revoked, terms = rules
        if rt.settings.hotlink_rate_per_tenant > 0 and policy.owner:
            wait = self.tenant_limiter.take(("tenant:" + policy.owner, 0), rt.settings.hotlink_rate_per_tenant,
                                            rt.settings.hotlink_burst_per_tenant)
            if wait:
                raise _NotFound(429, "too_many_requests", "this picture's owner is over its hotlink rate; slow down",
                                [(b"retry-after", str(wait).encode())])
        if revoked:
            # cacheable on purpose: a purge request through the edge replaces its copy with this answer
            raise _NotFound(410, "revoked", "its owner withdrew this picture",
                            [(b"cache-control", b"public, max-age=31536000")])
        terms_cache = _brand_terms(asset_id, terms, viewer) if terms else None
        cache: bytes | None = None
        if policy.signed:
            query = _query(query_string)
            exp = query.get("exp")
            if not policy.signature_valid(path, exp, query.get("sig"), datetime.now(UTC)):
                raise _NotFound(403, "signature_invalid",
                                "this picture needs a signed URL (sig, and exp if given, unexpired)")
            if exp is not None:
                left = max(0, int(exp) - int(datetime.now(UTC).timestamp()))
                cache = f"public, max-age={min(left, 31536000)}".encode()
        if policy.referrers:
            host = urlsplit(headers.referer.decode("latin-1")).hostname if headers.referer else None
            if not policy.referrer_allowed(host):
                raise _NotFound(403, "referrer_not_allowed", "this site may not show this picture")
            cache = b"private, max-age=86400"  # shared caches would serve it to any site
        return policy, _stricter(cache, terms_cache)

    def forget_rules(self, asset_id: str | None = None) -> None:
        """Drop what this process knows of one asset's rules (or all): the next request reads them again."""
        self.rules.forget(asset_id)

    # ---------------------------------------------------------------- format negotiation

    async def _negotiated(self, scope: Scope, parts: list[str], headers: _Headers, rid: bytes,
                          send: Send) -> tuple[int, int]:
        """/v/{asset}/{profile}: the profile's picture in the best format the client accepts (Vary: Accept).

        The candidates are the profile and its format siblings (same geometry, another encoding, e.g.
        web_thumb and avif_thumb); a sibling is offered only once stored (AVIF is rendered in the
        background, never on a request), the profile itself always (rendered on first request).
        """
        rt: Runtime = scope["app"].state.runtime
        asset_id, profile = parts
        if profile not in rt.catalog.profiles:
            raise _NotFound(404, "not_found", f"no profile {profile!r}")
        _policy, cache = await self._guard(rt, scope, f"/v/{asset_id}/{profile}", asset_id, headers)
        key = f"{asset_id}/{profile}"
        options = await self.choices.get(key, partial(_format_options, rt, asset_id, profile))
        path = pick_format(options, headers.accept)
        vary = b"Accept" if len(options) > 1 else b""
        return await self._immutable(scope, path, path[3:].split("/"), headers, rid, send, (vary, cache))

    # ---------------------------------------------------------------- aliases

    async def _alias(self, scope: Scope, parts: list[str], headers: _Headers, rid: bytes,
                     send: Send) -> tuple[int, int]:
        """A stable alias per asset and profile: a short-lived redirect to the current immutable URL."""
        rt: Runtime = scope["app"].state.runtime
        asset_id, filename = parts
        profile, dot, extension = filename.rpartition(".")
        if not dot or not profile or not extension:
            raise _NotFound(404, "not_found", "variant URLs end in an image extension, e.g. .jpg")
        if profile not in rt.catalog.profiles:
            raise _NotFound(404, "not_found", f"no profile {profile!r}")
        policy, cache = await self._guard(rt, scope, f"/v/{asset_id}/{filename}", asset_id, headers)
        ref = await anyio.to_thread.run_sync(variants.alias_target, rt, asset_id, profile, extension)
        if ref.asset_id != asset_id:
            await self._guard(rt, scope, f"/v/{asset_id}/{filename}", ref.asset_id, headers)
        target = variant_path(ref)
        if policy.signed:  # the immutable URL it points at needs a signature of its own, with the same expiry
            exp = _query(scope.get("query_string", b"")).get("exp")
            signature = hotlink_rules.sign(policy.secrets[0], target, exp)
            target += ("?" if exp is None else f"?exp={exp}&") + f"sig={signature}"
        location = (_public_base(scope, rt, headers) + target).encode()
        return await _redirect(send, 302, location, cache or _alias_cache(rt), rid)

    # ---------------------------------------------------------------- immutable URLs

    async def _immutable(self, scope: Scope, path: str, parts: list[str], headers: _Headers, rid: bytes,
                         send: Send, negotiated: tuple[bytes, bytes | None] | None = None) -> tuple[int, int]:
        entry = self.rows.get(path)
        if entry is None:
            try:
                entry = await self._entry(scope, path, parts)
            except registry_errors.RenderPending as pending:
                return await self._pending(scope, parts[0], pending.fallback, headers, rid, send)
        else:
            self.cache_results["hit"] += 1
            self.rows.move_to_end(path)
        rt: Runtime = scope["app"].state.runtime
        if not self._file_there(entry):
            # the blob went missing after it was seen: say so (HEAD and GET alike), even with bytes in memory
            self.rows.pop(path, None)
            self.bodies.forget(path)
            raise StorageError(f"{entry.blob_key}: the stored variant is missing")
        if negotiated is None:
            _policy, cache = await self._guard(rt, scope, path, entry.asset_id, headers)
        else:  # the negotiated URL was checked; its answer may change, so it is cached briefly
            cache = negotiated[1] or _alias_cache(rt)
        presigned = await self._store_redirect(rt, entry) if entry.redirect is None and not entry.path else None
        reply = self._reply(rt, scope["method"], path, entry, headers, rid, cache, negotiated, presigned)
        if reply.stream is None:
            return await _send_reply(send, reply)
        start, end = reply.stream
        if entry.path is not None and reply.status == 200 and _PATHSEND and "http.response.pathsend" in scope.get(
                "extensions", {}):
            await send({"type": "http.response.start", "status": 200, "headers": reply.headers})
            await send({"type": "http.response.pathsend", "path": entry.path})
            return 200, end - start + 1
        await send({"type": "http.response.start", "status": reply.status, "headers": reply.headers})
        await self._stream(rt, entry, start, end, send)
        return reply.status, end - start + 1

    def _reply(self, rt: Runtime, method: str, path: str, entry: Entry, headers: _Headers, rid: bytes,
               cache: bytes | None, negotiated: tuple[bytes, bytes | None] | None = None,
               presigned: bytes | None = None) -> Reply:
        """Count the hit and decide its answer: a redirect, 304, 416, 206 or 200 (from memory, or a range to send)."""
        self.usage.count(entry.asset_id, entry.profile, headers.referer)
        self.usage.schedule(rt)
        if (cache is None and negotiated is None and presigned is None and entry.redirect is None and method == "GET"
                and entry.body is not None and headers.unconditional and not rt.settings.accel_redirect_prefix):
            # Most hits: the whole file from memory, headers prepared with the row.
            self.bodies.touch(path)
            return Reply(200, [*entry.full, (b"x-request-id", rid)], entry.body,
                         head=entry.full_head + b"x-request-id: " + rid + b"\r\n", file=entry.path)
        reply = [*entry.headers, (b"x-request-id", rid)]
        if cache is not None:
            reply = [(name, cache if name == b"cache-control" else value) for name, value in reply]
        if negotiated is not None:
            reply += [(b"content-location", path.encode()), (b"vary", negotiated[0])] if negotiated[0] else [
                (b"content-location", path.encode())]
        if presigned is not None:
            return _redirect_reply(302, presigned, _alias_cache(rt), rid)
        if entry.redirect is not None:
            return _redirect_reply(302, entry.redirect, _alias_cache(rt), rid)
        if headers.if_none_match is not None:
            if etag_matches(headers.if_none_match, entry.etag):
                return Reply(304, reply)
        elif headers.if_modified_since is not None and _not_modified_since(headers.if_modified_since,
                                                                             entry.last_modified):
            return Reply(304, reply)
        start, end, status = 0, entry.size - 1, 200
        # Range is defined for GET only (RFC 9110 14.2): a HEAD describes the whole representation.
        if headers.range is not None and method == "GET" and self._if_range_holds(headers.if_range, entry):
            wanted = parse_range(headers.range, entry.size)
            if wanted is False:
                return Reply(416, [*reply, (b"content-range", f"bytes */{entry.size}".encode()),
                                   (b"content-length", b"0")])
            if isinstance(wanted, tuple):
                start, end = wanted
                status = 206
                reply.append((b"content-range", f"bytes {start}-{end}/{entry.size}".encode()))
        reply.append((b"content-type", entry.content_type))
        reply.append((b"content-length", str(end - start + 1).encode()))
        if headers.cache_key is not None and status == 200:
            pad = edge_padding(reply, headers.cache_key, entry.size, self.server_added)
            if pad is not None:
                reply.append(pad)
        if method == "HEAD":
            return Reply(status, reply)
        accel = rt.settings.accel_redirect_prefix
        if accel and entry.path is not None and status == 200:
            # nginx sends the file from the blob folder; the answer's headers are ours (see infra/nginx), bar the
            # length: this answer has no body, and nginx counts the file's
            reply = [(name, b"0" if name == b"content-length" else value) for name, value in reply]
            reply.append((b"x-accel-redirect", (accel.rstrip("/") + "/" + entry.blob_key).encode()))
            return Reply(200, reply)
        if entry.body is not None:
            # A small hot file from memory: cheaper than a zero-copy send, which opens the file each time.
            self.bodies.touch(path)
            return Reply(status, reply, entry.body if status == 200 else entry.body[start:end + 1])
        return Reply(status, reply, stream=(start, end))

    async def _pending(self, scope: Scope, asset_id: str, fallback: str, headers: _Headers, rid: bytes,
                       send: Send) -> tuple[int, int]:
        """Not rendered yet (AVIF, background only): a redirect to the fallback profile, kept by no cache."""
        rt: Runtime = scope["app"].state.runtime
        profile = rt.catalog.profiles[fallback]
        ref = await anyio.to_thread.run_sync(variants.alias_target, rt, asset_id, profile.name, profile.extension)
        location = (_public_base(scope, rt, headers) + variant_path(ref)).encode()
        return await _redirect(send, 307, location, b"no-store", rid)

    @staticmethod
    def _if_range_holds(if_range: bytes | None, entry: Entry) -> bool:
        """If-Range: the range applies only to the representation the client already has."""
        if if_range is None:
            return True
        tag = if_range.strip()
        if tag.startswith(b'"'):
            return tag == entry.etag  # strong comparison (RFC 9110 13.1.5)
        try:
            return parsedate_to_datetime(tag.decode("latin-1")) == entry.last_modified.replace(microsecond=0)
        except (TypeError, ValueError, IndexError):
            return False

    async def _stream(self, rt: Runtime, entry: Entry, start: int, end: int, send: Send) -> None:
        if entry.path is not None:
            with open(entry.path, "rb") as handle:
                handle.seek(start)
                left = end - start + 1
                while left > 0:
                    chunk = await anyio.to_thread.run_sync(handle.read, min(_CHUNK, left))
                    if not chunk:
                        break
                    left -= len(chunk)
                    await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if start == 0 and end == entry.size - 1:
            data = await anyio.to_thread.run_sync(rt.store.get, entry.blob_key)
        else:
            data = await anyio.to_thread.run_sync(rt.store.get_range, entry.blob_key, start, end)
        await send({"type": "http.response.body", "body": data, "more_body": False})

    async def _store_redirect(self, rt: Runtime, entry: Entry) -> bytes | None:
        """A presigned URL when the settings ask for redirects and the store makes them (never cached)."""
        if rt.settings.variant_delivery != "redirect":
            return None
        url = await anyio.to_thread.run_sync(rt.store.presigned_url, entry.blob_key, rt.settings.presign_ttl_seconds)
        return url.encode() if url else None

    def _known_missing(self, rt: Runtime, path: str) -> tuple[int, str, bool] | None:
        """Why an immutable URL is known not to exist, from memory: status, message, and whether it was a
        remembered miss. (Plain values: an exception object kept here would tie each 404 into a reference
        cycle with its traceback, and the cyclic collector's pauses showed in the p99.)"""
        negative = self.negatives.get(path)
        if negative is not None and negative[0] > time.monotonic():
            return negative[1], negative[2].decode(), True
        _asset_id, profile, filename = path[3:].split("/")
        version, dot, extension = filename.rpartition(".")
        if not dot or not version or not extension:
            return 404, "variant URLs end in an image extension, e.g. .jpg", False
        if profile not in rt.catalog.profiles:  # answered from memory: nothing is decoded or queried
            return 404, f"no profile {profile!r}", False
        return None

    async def _entry(self, scope: Scope, path: str, parts: list[str]) -> Entry:
        """The entry for an immutable URL: looked up (or rendered) once, by one caller per process."""
        rt: Runtime = scope["app"].state.runtime
        missing = self._known_missing(rt, path)
        if missing is not None:
            self.cache_results["negative"] += missing[2]
            raise _NotFound(missing[0], "not_found", missing[1])
        self.negatives.pop(path, None)  # expired, if there
        asset_id, profile, filename = parts
        version, _dot, extension = filename.rpartition(".")
        task = self.inflight.get(path)
        self.cache_results["miss" if task is None else "joined"] += 1
        if task is None:
            # The load belongs to no single request: a client that hangs up does not cancel it for the others.
            task = asyncio.ensure_future(self._fill(rt, path, asset_id, profile, version, extension))
            self.inflight[path] = task
        return await asyncio.shield(task)

    async def _fill(self, rt: Runtime, path: str, asset_id: str, profile: str, version: str,
                    extension: str) -> Entry:
        try:
            entry = await anyio.to_thread.run_sync(self._load, rt, path, asset_id, profile, version, extension)
        except registry_errors.NotFound as exc:
            self._remember_missing(path, exc.message)
            raise _NotFound(404, "not_found", exc.message) from exc
        finally:
            del self.inflight[path]
        self.rows[path] = entry
        while len(self.rows) > self.limits.rows:
            old_path, _ = self.rows.popitem(last=False)
            self.bodies.forget(old_path)
        return entry

    def _remember_missing(self, path: str, message: str) -> None:
        self.negatives[path] = (time.monotonic() + _NEGATIVE_TTL, 404, message.encode())
        while len(self.negatives) > self.limits.negatives:
            self.negatives.popitem(last=False)

    def _load(self, rt: Runtime, path: str, asset_id: str, profile: str, version: str, extension: str) -> Entry:
        """Blocking part of a first request: the row (rendered now if needed) and, if small, the bytes."""
        row = variants.locate(rt, asset_id, profile, version, extension)
        etag = f'"{row.etag}"'.encode()
        last_modified = row.created_at
        entry = Entry(
            asset_id=asset_id, profile=profile, etag=etag, last_modified=last_modified, size=row.size_bytes,
            content_type=row.content_type.encode(),
            blob_key=row.blob_key, path=None,
            headers=[(b"etag", etag), (b"last-modified", http_date(last_modified)), (b"cache-control", IMMUTABLE),
                     (b"accept-ranges", b"bytes"), *_COMMON],
        )
        if rt.settings.cdn_url:
            entry.redirect = (rt.settings.cdn_url.rstrip("/") + "/" + row.blob_key).encode()
            return entry
        if isinstance(rt.store, LocalBlobStore) and rt.settings.variant_delivery != "redirect":
            file = Path(rt.store.root) / row.blob_key
            # Verified once against the content hash the ETag carries; later requests trust the row.
            data = rt.store.get(row.blob_key)
            if hashlib.sha256(data).hexdigest()[:32] != row.etag:
                raise StorageError(f"{row.blob_key}: stored bytes do not match the variant's hash")
            entry.path = str(file)
            if len(data) <= self.limits.body_max:
                self.bodies.keep(path, entry, data)
        return entry


# Most compact first; JPEG and PNG every client takes.
_PREFERENCE = {"AVIF": 0, "WEBP": 1, "JPEG": 2, "PNG": 3}
_ALWAYS_ACCEPTED = {"JPEG", "PNG"}


def _format_options(rt: Runtime, asset_id: str, profile_name: str) -> list[tuple[str, str, bool, bool]]:
    """(format, immutable path, offered, the profile asked for) of the profile and its format siblings,
    most compact first."""
    wanted = variants.profile_named(rt, profile_name)
    shape = _geometry(wanted)
    family = [wanted] if is_tenant_name(profile_name) else [  # a tenant's profile has no format siblings
        p for p in rt.catalog.profiles.values() if p.name == profile_name or (
            p.format != wanted.format and _geometry(p) == shape)]
    options = []
    for profile in family:
        ref = variants.alias_target(rt, asset_id, profile.name, profile.extension)
        stored = variants.find(rt, ref.asset_id, profile.name, ref.version) is not None
        own = profile.name == profile_name
        options.append((profile.format, variant_path(ref), stored or own, own))
    return sorted(options, key=lambda option: _PREFERENCE.get(option[0], 9))


# Profile fields that do not shape pixels: encoding, byte budget, AVIF's fallback, bookkeeping.
_NOT_GEOMETRY = frozenset({"name", "description", "format", "quality", "max_bytes", "fallback", "source", "version"})


def _geometry(profile: Profile) -> tuple[object, ...]:
    """Everything that shapes a profile's pixels (not its name, description, encoding or quality)."""
    return tuple(getattr(profile, f.name) for f in fields(profile)
                 if f.name not in _NOT_GEOMETRY)


def accepted_formats(accept: bytes) -> set[str]:
    """Image formats an Accept header names with q above zero (wildcards promise no particular format)."""
    found = set()
    for item in accept.decode("latin-1").lower().split(","):
        media, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0 and media.startswith("image/"):
            found.add(media[6:].upper().replace("JPG", "JPEG"))
    return found


def pick_format(options: list[tuple[str, str, bool, bool]], accept: bytes) -> str:
    """The immutable path of the most compact offered format the client accepts (else the profile's own)."""
    accepted = accepted_formats(accept) | _ALWAYS_ACCEPTED
    for fmt, path, offered, _own in options:
        if offered and fmt in accepted:
            return path
    return next(path for _fmt, path, _offered, own in options if own)


def edge_padding(reply: list[tuple[bytes, bytes]], cache_key: bytes, body_size: int,
                 server_added: int = _SERVER_ADDED) -> tuple[bytes, bytes] | None:
    """A filler header that makes an nginx edge's cached copy start its body on a page boundary, if worth it."""
    head = _NGINX_CACHE_HEADER + _NGINX_KEY_LINE + len(cache_key) + _STATUS_LINE + server_added
    head += sum(len(name) + len(value) + 4 for name, value in reply)
    if head + body_size <= _UNPADDED_MAX_FILE:
        return None
    head += len(_PAD_NAME) + 4
    fill = -head % _PAGE or _PAGE  # a header value may not be empty
    return _PAD_NAME, b"0" * fill


def _stricter(first: bytes | None, second: bytes | None) -> bytes | None:
    """The Cache-Control of two that keeps a response the shorter time (no-store and private win)."""
    if first is None or second is None:
        return first or second
    for value in (first, second):
        if b"no-store" in value:
            return value
    private = b"private" in first or b"private" in second
    age = min(int(v.rsplit(b"max-age=", 1)[1].split(b",")[0]) for v in (first, second))
    return (b"private" if private else b"public") + b", max-age=" + str(age).encode()


def _viewer_tenant(rt: Runtime, authorization: bytes | None) -> str | None:
    """The tenant behind an optional bearer key on a public URL; a missing or bad key is anonymous."""
    if not authorization:
        return None
    try:
        return authenticate(rt, bearer_key(authorization.decode("latin-1"))).tenant_id
    except registry_errors.Unauthenticated:
        return None


def _brand_terms(asset_id: str, terms: tuple[CachedTerms, ...], viewer: str | None) -> bytes | None:
    """A brand pack's embargo, expiry or revocation: 404 to others, private to the brand, caches capped."""
    when = datetime.now(UTC)
    seen = visibility_of_rows(terms, viewer, when)
    if not seen.allowed:  # the answer never says an embargoed picture exists
        raise _NotFound(404, "not_found", f"no asset {asset_id!r}")
    if seen.restricted:
        return b"private, no-store"
    if seen.until is not None:  # a cache must not keep serving past the pack's expiry
        left = max(0, int((seen.until - when).total_seconds()))
        return f"public, max-age={min(left, 31536000)}".encode()
    return None


def _needs_viewer(terms: tuple[CachedTerms, ...]) -> bool:
    """Whether the answer depends on who asks (a brand-only picture): the caller's key must be looked up."""
    return bool(terms) and visibility_of_rows(terms, None, datetime.now(UTC)).restricted


def _query(raw: bytes) -> dict[str, str]:
    """The query parameters (first of each name)."""
    return dict(reversed(parse_qsl(raw.decode("latin-1")))) if raw else {}


def _public_base(scope: Scope, rt: Runtime, headers: _Headers) -> str:
    """The absolute origin for links, as Starlette's request.base_url would build it."""
    if rt.settings.public_url:
        return str(rt.settings.public_url).rstrip("/")
    host = headers.host.decode("latin-1") if headers.host else "{}:{}".format(*scope.get("server") or ("localhost", 80))
    return f"{scope.get('scheme', 'http')}://{host}{scope.get('root_path', '')}".rstrip("/")


def _alias_cache(rt: Runtime) -> bytes:
    return f"public, max-age={rt.settings.alias_max_age_seconds}".encode()


class _Headers:
    """The request headers the hot path reads, found in one pass."""

    __slots__ = ("accept", "authorization", "cache_key", "host", "if_modified_since", "if_none_match", "if_range",
                 "range", "referer", "request_id")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.if_none_match: bytes | None = None
        self.if_modified_since: bytes | None = None
        self.range: bytes | None = None
        self.if_range: bytes | None = None
        self.request_id: bytes | None = None
        self.host: bytes | None = None
        self.referer: bytes | None = None
        self.accept: bytes = b""
        self.authorization: bytes | None = None
        self.cache_key: bytes | None = None
        for name, value in raw:
            if name == b"if-none-match":
                self.if_none_match = value
            elif name == b"range":
                self.range = value
            elif name == b"if-modified-since":
                self.if_modified_since = value
            elif name == b"if-range":
                self.if_range = value
            elif name == b"host":
                self.host = value
            elif name == b"x-request-id":
                if 0 < len(value) <= 128 and value.isascii() and value.replace(b"-", b"").isalnum():
                    self.request_id = value
            elif name == b"referer":
                self.referer = value
            elif name == b"accept":
                self.accept = value
            elif name == b"authorization":
                self.authorization = value
            elif name == b"x-skupix-cache-key":
                self.cache_key = value

    @property
    def unconditional(self) -> bool:
        """No validator, range or edge cache key: the plain whole answer."""
        return (self.if_none_match is None and self.if_modified_since is None and self.range is None
                and self.cache_key is None)


async def _redirect(send: Send, status: int, location: bytes, cache: bytes, rid: bytes) -> tuple[int, int]:
    """Send an empty redirect with the hot path's common headers."""
    reply = _redirect_reply(status, location, cache, rid)
    return await _send_reply(send, reply)


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> tuple[int, int]:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
    return status, len(body)


async def _send_reply(send: Send, reply: Reply) -> tuple[int, int]:
    """Send an answer decided without waiting (no file range to stream)."""
    return await _send(send, reply.status, reply.headers, reply.body)
