"""Change events for pack subscribers: webhook deliveries are rows, sent and retried by outbox jobs.

A delivery is written in the transaction that made the change (publish, promotion, revocation) and a
`deliver_webhook` job is queued with it. A failed attempt schedules the next one as a job row the
outbox sweeper publishes when it is due (exponential backoff), so retries survive a restart.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from registry.ids import new_id
from registry.jobs.repository import JobRepository
from registry.jobs.service import JobKind, JobStatus, enqueue
from registry.media.repository import MediaRepository
from registry.models import Job, Pack, PackSubscription, PackVersion, WebhookDelivery, utcnow
from registry.packs.repository import PackRepository
from registry.packs.terms import visibility_of_rows
from registry.runtime import Runtime
from registry.variants.service import current_ref

SIGNATURE_HEADER = "X-Skupix-Signature"
TIMESTAMP_HEADER = "X-Skupix-Timestamp"
MAX_LOG_ENTRIES = 50


class DeliveryStatus:
    """Where a delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


@dataclass(frozen=True)
class DeliveryView:
    """A delivery and its attempt log."""

    id: str
    subscription_id: str
    event: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    log: tuple[dict[str, object], ...]
    body: str


def delivery_view(row: WebhookDelivery) -> DeliveryView:
    """The domain view of a delivery row."""
    return DeliveryView(id=row.id, subscription_id=row.subscription_id, event=row.event, status=row.status,
                        attempts=row.attempts, created_at=row.created_at, delivered_at=row.delivered_at,
                        next_attempt_at=row.next_attempt_at, log=tuple(row.log or ()), body=row.body)


def sign(secret: str, timestamp: str, body: str) -> str:
    """HMAC-SHA256 over `timestamp.body`, hex; receivers recompute it and compare in constant time."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def asset_urls(rt: Runtime, session: Session, asset_id: str) -> dict[str, dict[str, dict[str, str]]]:
    """The current immutable variant of an asset for every platform role, keyed platform → role.

    Each is a `{"variant": {asset_id, profile, version, extension}}` reference; the sender turns it
    into the absolute URL (`workers/webhooks.py`), so the registry itself builds no URLs.
    """
    asset = MediaRepository(session).asset(asset_id)
    if asset is None:
        return {}
    urls: dict[str, dict[str, dict[str, str]]] = {}
    for platform, roles in rt.catalog.platforms.items():
        for role in ("main", "gallery"):
            if role in roles:
                ref = current_ref(asset, rt.catalog.profile(roles[role]))
                urls.setdefault(platform, {})[role] = {"variant": ref.asset_id, "profile": ref.profile,
                                                       "version": ref.version, "extension": ref.extension}
    return urls


def _json_value(value: object) -> str:
    """Times as ISO 8601 (UTC) in webhook bodies."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _emit(rt: Runtime, session: Session, subscriptions: list[PackSubscription], event: str,
          payload: dict[str, object], due: datetime | None = None) -> list[str]:
    """One delivery row per subscription with a URL, sent now or (a scheduled job) once `due` has passed."""
    made = []
    for subscription in subscriptions:
        if not subscription.webhook_url:
            continue
        body = json.dumps({"event": event, "subscription_id": subscription.id, "sent_for": new_id("evt"),
                           **payload}, ensure_ascii=False, sort_keys=True, default=_json_value)
        row = WebhookDelivery(id=new_id("dlv"), subscription_id=subscription.id, event=event, body=body,
                              status=DeliveryStatus.PENDING, attempts=0, log=[], next_attempt_at=due)
        PackRepository(session).add(row)
        if due is None:
            enqueue(rt, session, JobKind.DELIVER_WEBHOOK, row.id)
        else:
            _schedule(rt, session, row.id, due)
        made.append(row.id)
    return made


def _version_payload(rt: Runtime, session: Session, pack: Pack, version: PackVersion, brand: str,
                     with_urls: bool) -> dict[str, object]:
    products = []
    for item in version.contents:
        raw = item.get("slots", [])
        slots = []
        for slot in raw if isinstance(raw, list) else []:
            entry = {"role": slot["role"], "position": slot["position"], "asset_id": slot["asset_id"]}
            if with_urls:
                entry["urls"] = asset_urls(rt, session, str(slot["asset_id"]))
            slots.append(entry)
        products.append({"gtin": item.get("gtin"), "sku": item.get("sku"), "slots": slots})
    return {
        "pack": f"{brand}/{pack.name}", "version": version.number, "changelog": version.changelog,
        "embargo_until": version.embargo_until, "expires_at": version.expires_at,
        "platforms": version.platforms, "products": products,
    }


def pack_published(rt: Runtime, session: Session, pack: Pack, version: PackVersion, brand: str) -> list[str]:
    """Tell a pack's subscribers about a new version with its immutable URLs.

    Under embargo the announcement carries no URLs; a `pack.released` delivery with them is
    scheduled for the moment the embargo ends.
    """
    embargoed = version.embargo_until is not None and version.embargo_until > utcnow()
    subscriptions = PackRepository(session).subscriptions_of_packs([pack.id])
    made = _emit(rt, session, subscriptions, "pack.published",
                 _version_payload(rt, session, pack, version, brand, with_urls=not embargoed))
    if embargoed:
        made += _emit(rt, session, subscriptions, "pack.released",
                      _version_payload(rt, session, pack, version, brand, with_urls=True), due=version.embargo_until)
    return made


def asset_changed(rt: Runtime, session: Session, asset_id: str, event: str) -> list[str]:
    """Tell subscribers of every pack holding the asset that its master changed or it was revoked."""
    repository = PackRepository(session)
    asset = MediaRepository(session).asset(asset_id)
    ids = list(dict.fromkeys([asset_id] + ([asset.id] if asset is not None else [])))
    subscriptions = repository.subscriptions_of_packs(repository.pack_ids_with_asset(ids))
    payload: dict[str, object] = {"asset_id": ids[-1]}
    public = visibility_of_rows(repository.terms_rows(ids), None, utcnow()).allowed
    if event != "asset.revoked" and public:  # an embargoed picture's new URLs wait for its release event
        payload["urls"] = asset_urls(rt, session, ids[-1])
    return _emit(rt, session, subscriptions, event, payload)


@dataclass(frozen=True)
class Outgoing:
    """One attempt to make: where, what, and the signed headers."""

    delivery_id: str
    url: str
    body: str
    headers: dict[str, str]
    secret: str

    def signed(self, body: str, timestamp: str) -> dict[str, str]:
        """Headers for sending `body` at `timestamp`: HMAC-SHA256 over `timestamp.body`."""
        return {**self.headers, TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: sign(self.secret, timestamp, body)}


def prepare(rt: Runtime, delivery_id: str) -> Outgoing | None:
    """The request for a pending delivery (body as stored, unsigned); None if delivered, failed or gone."""
    with rt.db.read_only() as session:
        repository = PackRepository(session)
        row = repository.delivery(delivery_id)
        if row is None or row.status != DeliveryStatus.PENDING:
            return None
        subscription = repository.subscription_by_id(row.subscription_id)
        if subscription is None or not subscription.webhook_url:
            return None
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": "skupix-webhooks/1",
            "X-Skupix-Event": row.event,
            "X-Skupix-Delivery": row.id,
        }
        return Outgoing(delivery_id=row.id, url=subscription.webhook_url, body=row.body, headers=headers,
                        secret=subscription.webhook_secret)


def backoff(rt: Runtime, attempts: int) -> timedelta:
    """Delay before the next attempt: the base doubled per attempt made, capped at a day."""
    return timedelta(seconds=min(86_400.0, rt.settings.webhook_backoff_seconds * (2 ** max(0, attempts - 1))))


def record_attempt(rt: Runtime, delivery_id: str, status_code: int | None, error: str, *, final: bool = False) -> str:
    """Log an attempt; a failure schedules the next one (or gives up after the last or a `final` one)."""
    with rt.db.unit_of_work() as session:
        row = PackRepository(session).delivery_for_update(delivery_id)
        if row is None:
            return DeliveryStatus.FAILED
        now = utcnow()
        row.attempts += 1
        ok = status_code is not None and 200 <= status_code < 300
        entry: dict[str, object] = {"at": now.isoformat(), "attempt": row.attempts, "status_code": status_code,
                                    "error": error[:500]}
        row.log = [*(row.log or [])[-(MAX_LOG_ENTRIES - 1):], entry]
        if ok:
            row.status, row.delivered_at, row.next_attempt_at = DeliveryStatus.DELIVERED, now, None
        elif final or row.attempts >= rt.settings.webhook_max_attempts:
            row.status, row.next_attempt_at = DeliveryStatus.FAILED, None
        else:
            row.next_attempt_at = now + backoff(rt, row.attempts)
            _schedule(rt, session, row.id, row.next_attempt_at)
        return row.status


def _schedule(rt: Runtime, session: Session, delivery_id: str, due: datetime) -> None:
    """A job row the sweeper will publish once `due` has passed (it republishes rows older than its grace)."""
    stamp = due - timedelta(seconds=rt.settings.sweeper_grace_seconds)
    JobRepository(session).add(Job(id=new_id("job"), kind=JobKind.DELIVER_WEBHOOK.value, subject=delivery_id,
                                   status=JobStatus.PENDING.value, created_at=utcnow(), updated_at=stamp))


def requeue(rt: Runtime, session: Session, row: WebhookDelivery) -> None:
    """Make a delivery pending again and queue it now (redelivery by API)."""
    row.status, row.next_attempt_at, row.delivered_at = DeliveryStatus.PENDING, None, None
    session.flush()
    enqueue(rt, session, JobKind.DELIVER_WEBHOOK, row.id)
