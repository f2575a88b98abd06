"""Send one webhook delivery: the HTTP half of registry.packs.events (which owns rows and retries)."""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
from urllib.parse import urlsplit

import httpx

from api.urls import variant_path
from registry.models import utcnow
from registry.packs import events
from registry.runtime import Runtime
from registry.variants.service import VariantRef

log = logging.getLogger(__name__)


def _render(value: object, base: str) -> object:
    if isinstance(value, dict):
        if set(value) == {"variant", "profile", "version", "extension"}:
            ref = VariantRef(str(value["variant"]), str(value["profile"]), str(value["version"]),
                             str(value["extension"]))
            return base + variant_path(ref)
        return {k: _render(v, base) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, base) for v in value]
    return value


def with_urls(body: str, base: str) -> str:
    """The stored event body with each variant reference replaced by its absolute immutable URL."""
    return json.dumps(_render(json.loads(body), base), ensure_ascii=False, sort_keys=True)


def private_address(url: str) -> str | None:
    """The first loopback, private, link-local or reserved address the URL's host resolves to, if any."""
    host = urlsplit(url).hostname or ""
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return None  # unresolvable: the attempt itself fails and is retried
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return str(address)
    return None


def deliver(rt: Runtime, delivery_id: str) -> str:
    """Make one signed attempt and record it; a failure is scheduled for retry, never raised."""
    outgoing = events.prepare(rt, delivery_id)
    if outgoing is None:
        return "skipped"
    status_code: int | None = None
    error = ""
    if not rt.settings.webhook_allow_private_hosts:
        inside = private_address(outgoing.url)
        if inside is not None:
            return events.record_attempt(rt, delivery_id, None, f"refused: {inside} is not a public address",
                                         final=True)
    body = with_urls(outgoing.body, rt.settings.public_url.rstrip("/"))
    headers = outgoing.signed(body, str(int(utcnow().timestamp())))
    try:
        response = httpx.post(outgoing.url, content=body.encode(), headers=headers,
                              timeout=rt.settings.webhook_timeout_seconds, follow_redirects=False)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"
    status = events.record_attempt(rt, delivery_id, status_code, error)
    if error:
        log.warning("webhook delivery %s to %s failed (%s); now %s", delivery_id, outgoing.url, error, status)
    return status
