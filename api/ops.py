"""Operations endpoints answered ahead of FastAPI: /healthz, /readyz and /metrics (Prometheus text).

Counting on the request path is plain integer arithmetic on this process's own tables; the
Prometheus families are built from them only when /metrics is scraped. Each API process counts
its own requests (scrape every process, or sum them at the edge).
"""

from __future__ import annotations

import bisect
import json
from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

import anyio.to_thread
from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from starlette.types import Scope, Send

from registry import telemetry
from registry.errors import RegistryError
from registry.health import ready
from registry.runtime import Runtime

if TYPE_CHECKING:
    from api.hotlink import Hotlink

BUCKETS = telemetry.BUCKETS
# Error answers by their stable code, counted where the JSON error body is made.
errors: Counter[str] = Counter()


class HttpStats:
    """Requests by route, method and status, and a latency histogram per route."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.latency: dict[str, list[float]] = {}  # route -> bucket counts..., then the sum

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests[(route, method, status)] += 1
        row = self.latency.get(route)
        if row is None:
            row = self.latency[route] = [0.0] * (len(BUCKETS) + 2)
        row[bisect.bisect_left(BUCKETS, seconds)] += 1
        row[-1] += seconds


def _histogram(name: str, documentation: str, label: str, rows: list[tuple[str, list[float], float]]) -> Metric:
    family = HistogramMetricFamily(name, documentation, labels=[label])
    for value, counts, total in rows:
        cumulative, buckets = 0.0, []
        for bound, count in zip([*map(str, BUCKETS), "+Inf"], counts, strict=True):
            cumulative += count
            buckets.append((bound, cumulative))
        family.add_metric([value], buckets, total)
    return family


class SkupixCollector:
    """The skupix families, built from the live tables at scrape time."""

    def __init__(self, hotlink: Hotlink, runtime: Runtime | None) -> None:
        self.hotlink, self.runtime = hotlink, runtime

    def collect(self) -> Iterator[Metric]:
        """Yield every family."""
        stats = self.hotlink.stats
        requests = CounterMetricFamily("skupix_http_requests", "HTTP requests answered",
                                       labels=["route", "method", "status"])
        for (route, method, status), count in sorted(stats.requests.items()):
            requests.add_metric([route, method, str(status)], count)
        yield requests
        yield _histogram("skupix_http_request_duration_seconds", "Time to answer, by route", "route",
                         [(route, row[:-1], row[-1]) for route, row in sorted(stats.latency.items())])
        failed = CounterMetricFamily("skupix_http_errors", "Error answers by stable code", labels=["code"])
        for code, count in sorted(errors.items()):
            failed.add_metric([code], count)
        yield failed
        cache = CounterMetricFamily("skupix_hotlink_cache", "Immutable variant lookups by cache result",
                                    labels=["result"])
        for result, count in sorted(self.hotlink.cache_results.items()):
            cache.add_metric([result], count)
        yield cache
        yield CounterMetricFamily("skupix_hotlink_fast_lane_answers",
                                  "Hotlink requests the HTTP server answered from memory (api/fastlane.py)",
                                  value=self.hotlink.lane_answers)
        yield CounterMetricFamily("skupix_hotlink_zero_copy_sends", "Fast-lane answers whose file went by sendfile()",
                                  value=self.hotlink.zero_copy_sends)
        yield GaugeMetricFamily("skupix_hotlink_cached_rows", "Immutable variant rows held in memory",
                                value=len(self.hotlink.rows))
        yield GaugeMetricFamily("skupix_hotlink_cached_bytes", "Variant bytes held in memory",
                                value=self.hotlink.bodies.used)
        snapshot = telemetry.renders.snapshot()
        renders = CounterMetricFamily("skupix_renders", "Variants rendered in this process", labels=["profile"])
        render_errors = CounterMetricFamily("skupix_render_failures", "Renders that raised", labels=["profile"])
        for profile, counts, _total, failures in snapshot:
            renders.add_metric([profile], sum(counts))
            render_errors.add_metric([profile], failures)
        yield renders
        yield render_errors
        yield _histogram("skupix_render_duration_seconds", "Time to render a variant", "profile",
                         [(profile, [float(c) for c in counts], total) for profile, counts, total, _f in snapshot])
        decisions = telemetry.dedup.snapshot()
        made = CounterMetricFamily("skupix_dedup_decisions", "Upload decisions: new, exact or near copy",
                                   labels=["decision"])
        for decision, counts, _total, _failures in decisions:
            made.add_metric([decision], sum(counts))
        yield made
        yield _histogram("skupix_dedup_duration_seconds", "Time to register an upload, by decision", "decision",
                         [(d, [float(c) for c in counts], total) for d, counts, total, _f in decisions])
        if self.runtime is not None:
            depth = GaugeMetricFamily("skupix_queue_depth", "Outbox jobs by status", labels=["status"])
            for job_status, count in telemetry.queue_depth(self.runtime).items():
                depth.add_metric([job_status], count)
            yield depth


def _json(status: int, body: dict[str, object]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    data = json.dumps(body).encode()
    return status, [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                    (b"cache-control", b"no-store")], data


async def answer(hotlink: Hotlink, path: str, scope: Scope, send: Send, rid: bytes) -> tuple[int, int]:
    """Answer /healthz, /readyz or /metrics; returns the status and the bytes sent."""
    rt: Runtime | None = scope["app"].state.runtime
    if path == "/healthz":
        status, headers, body = _json(200, {"status": "ok"})  # alive: no dependency is asked
    elif path == "/readyz":
        if rt is None:
            status, headers, body = _json(503, {"code": "starting", "message": "not started yet", "status": 503})
        else:
            try:
                probed: dict[str, object] = dict(await anyio.to_thread.run_sync(ready, rt))
                status, headers, body = _json(200, probed)
            except RegistryError as exc:
                errors[exc.code] += 1
                status, headers, body = _json(503, {"code": exc.code, "message": exc.message, "status": 503})
    else:
        registry = CollectorRegistry()
        registry.register(SkupixCollector(hotlink, rt))
        registry.register(ProcessCollector(registry=None))
        body = await anyio.to_thread.run_sync(generate_latest, registry)
        status = 200
        headers = [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
                   (b"content-length", str(len(body)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"x-request-id", rid)]})
    sent = b"" if scope["method"] == "HEAD" else body
    await send({"type": "http.response.body", "body": sent})
    return status, len(sent)
