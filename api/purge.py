"""Edge and CDN purge after a revocation: the edges refresh each URL, a webhook hears the list."""

from __future__ import annotations

import logging
import threading

import httpx

from registry.runtime import Runtime

log = logging.getLogger(__name__)

# Other API processes trust what they read of revocations for up to this long (api.hotlink._RULES_TTL):
# an edge refreshed meanwhile might fetch the picture again from one of them, so the edges are asked twice.
SECOND_PASS_SECONDS = 6.0
_ACCEPT_CLASSES = ("image/avif,image/webp,*/*", "image/webp,*/*", "*/*")


def refresh_edges(rt: Runtime, paths: list[str]) -> list[str]:
    """Ask every edge to replace its copy of each path with the API's fresh answer; the failures."""
    token = rt.settings.purge_token.get_secret_value() if rt.settings.purge_token else ""
    failures = []
    if not token:
        return [f"{edge}: SKUPIX_PURGE_TOKEN is not set" for edge in rt.settings.purge_urls]
    for edge in rt.settings.purge_urls:
        with httpx.Client(base_url=edge.rstrip("/"), timeout=10, headers={"X-Skupix-Purge": token}) as client:
            for path in paths:
                # a negotiated URL is cached once per format class (see the edge config): refresh each
                for accept in _ACCEPT_CLASSES if "." not in path.rsplit("/", 1)[-1] else ("*/*",):
                    try:
                        client.get(path, headers={"Accept": accept}, follow_redirects=False)
                    except httpx.HTTPError as exc:
                        failures.append(f"{edge}{path}: {type(exc).__name__}")
                        break
    if failures:
        log.warning("edge purge incomplete: %s", "; ".join(failures[:20]))
    return failures


def notify_webhook(rt: Runtime, asset_id: str, paths: list[str]) -> str | None:
    """POST the revoked paths to the configured webhook (a CDN purge adapter); an error text on failure."""
    if not rt.settings.purge_webhook_url:
        return None
    try:
        answer = httpx.post(rt.settings.purge_webhook_url, json={"asset_id": asset_id, "paths": paths}, timeout=10)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        log.warning("purge webhook failed for %s: %s", asset_id, exc)
        return f"webhook: {type(exc).__name__}"
    return None


def purge(rt: Runtime, asset_id: str, paths: list[str]) -> list[str]:
    """Refresh the edges now (and once more shortly), tell the webhook; the failures of the first pass."""
    failures = refresh_edges(rt, paths)
    if rt.settings.purge_urls:
        later = threading.Timer(SECOND_PASS_SECONDS, refresh_edges, args=(rt, paths))
        later.daemon = True
        later.start()
    problem = notify_webhook(rt, asset_id, paths)
    return failures + ([problem] if problem else [])
