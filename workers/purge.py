"""Edge and CDN purge of a withdrawn asset: the HTTP half of the `purge_asset` outbox job.

A revocation (the owner's, or a brand's pack revocation) writes a `purge_asset` job in its own
transaction; after commit a worker (or the in-process pool) runs one *pass*: every edge in
`SKUPIX_PURGE_URLS` is asked for every path of the asset with the purge token, which makes nginx skip
its copy and store the API's fresh 410/404 in its place, and `SKUPIX_PURGE_WEBHOOK_URL` receives
`{"asset_id", "paths"}` (a CDN's purge-by-URL adapter). Passes are idempotent.

- A pass that cannot reach an edge (or gets a 5xx through it) or the webhook is retried with backoff
  (`purge_backoff_seconds` doubling, capped at an hour, `purge_max_attempts` passes): the job row is
  put back to pending, due later, and the outbox sweeper publishes it then, so a CDN outage or a
  restart loses nothing.
- Other API processes trust what they read of revocations for up to `api.hotlink._RULES_TTL`; an edge
  refreshed meanwhile could fetch the picture again from one of them. So a pass that started less
  than `SECOND_PASS_SECONDS` after the withdrawal schedules one more pass for that moment.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx

from api.urls import alias_path, variant_path
from registry.hotlink import service as rules
from registry.jobs import service as jobs
from registry.models import utcnow
from registry.runtime import Runtime

log = logging.getLogger(__name__)

# Longer than api.hotlink._RULES_TTL (5 s), how long an API process trusts what it read of revocations.
SECOND_PASS_SECONDS = 6.0
MAX_BACKOFF_SECONDS = 3600.0
_ACCEPT_CLASSES = ("image/avif,image/webp,*/*", "image/webp,*/*", "*/*")


def paths_of(rt: Runtime, asset_id: str) -> list[str]:
    """Every URL path the asset had: each stored variant version, the aliases and the negotiated URLs."""
    refs = rules.asset_refs(rt, asset_id)
    aliases = [alias_path(asset_id, profile) for profile in rt.catalog.profiles.values()]
    negotiated = [f"/v/{asset_id}/{name}" for name in rt.catalog.profiles]
    return sorted({variant_path(ref) for ref in refs}) + aliases + negotiated


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
                        answer = client.get(path, headers={"Accept": accept}, follow_redirects=False)
                    except httpx.HTTPError as exc:
                        failures.append(f"{edge}{path}: {type(exc).__name__}")
                        break
                    if answer.status_code >= 500:  # the edge could not reach the API: its copy stays
                        failures.append(f"{edge}{path}: HTTP {answer.status_code}")
                        break
    return failures


def notify_webhook(rt: Runtime, asset_id: str, paths: list[str]) -> str | None:
    """POST the withdrawn paths to the configured webhook (a CDN purge adapter); an error text on failure."""
    if not rt.settings.purge_webhook_url:
        return None
    try:
        answer = httpx.post(rt.settings.purge_webhook_url, json={"asset_id": asset_id, "paths": paths}, timeout=10)
        answer.raise_for_status()
    except httpx.HTTPError as exc:
        return f"webhook: {type(exc).__name__}: {exc}"[:300]
    return None


def backoff(rt: Runtime, attempts: int) -> timedelta:
    """Delay before the next pass: the base doubled per pass made, capped at an hour."""
    return timedelta(seconds=min(MAX_BACKOFF_SECONDS, rt.settings.purge_backoff_seconds * 2 ** max(0, attempts - 1)))


def run_pass(rt: Runtime, asset_id: str) -> list[str]:
    """One purge pass over every edge and the webhook; the failures (empty when everything answered)."""
    started = utcnow()
    paths = paths_of(rt, asset_id)
    failures = refresh_edges(rt, paths)
    problem = notify_webhook(rt, asset_id, paths)
    failures += [problem] if problem else []
    if failures:
        log.warning("purge of %s incomplete: %s", asset_id, "; ".join(failures[:20]))
        return failures
    withdrawn = rules.withdrawn_at(rt, asset_id)
    settled = withdrawn + timedelta(seconds=SECOND_PASS_SECONDS) if withdrawn else None
    if settled is not None and started < settled:
        # another API process may still have served the picture to an edge refreshed just now
        rules.schedule_purge(rt, asset_id, settled)
    return []


def run(rt: Runtime, job_id: str, asset_id: str, attempts: int) -> str:
    """Run the job's pass; on failure put the job back for a later pass: "done", "retrying" or "quarantined"."""
    failures = run_pass(rt, asset_id)
    if not failures:
        return "done"
    return "retrying" if jobs.retry_later(rt, job_id, "\n".join(failures), backoff(rt, attempts)) else "quarantined"
