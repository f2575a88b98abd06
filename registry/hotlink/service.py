"""Who may show a tenant's pictures: public or signed URLs, referrer allow-lists, revoked assets.

Signed URLs carry `sig` = base64url(HMAC-SHA256(secret, path, or path + "?exp=" + exp)) and an
optional `exp` (Unix seconds). After a key rotation the previous secret is accepted until its grace
period ends, so URLs already in pages keep working while they are re-signed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.ids import is_well_formed
from registry.jobs.service import JobKind, enqueue, schedule
from registry.media.repository import MediaRepository
from registry.models import Asset, HotlinkPolicy, PackAsset, RevokedAsset, Sku, SkuSlot, Upload
from registry.runtime import Runtime
from registry.tenants.service import Principal
from registry.variants.repository import VariantRepository
from registry.variants.service import VariantRef

MAX_REFERRERS = 100


@dataclass(frozen=True)
class Policy:
    """A tenant's hotlink rules, as the hot path needs them."""

    signed: bool = False
    referrers: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()  # the current secret first, then one still in its grace period
    owner: str = ""  # the tenant whose rules these are (per-tenant rate limits count against it)

    def referrer_allowed(self, host: str | None) -> bool:
        """An empty list allows every site; a request without a Referer is allowed (many apps send none)."""
        if not self.referrers or not host:
            return True
        host = host.lower()
        return any(host == rule or (rule.startswith(".") and host.endswith(rule)) for rule in self.referrers)

    def signature_valid(self, path: str, exp: str | None, sig: str | None, now: datetime) -> bool:
        """Whether `sig` signs `path` (and `exp`) with a live secret, and `exp` has not passed."""
        if not sig:
            return False
        if exp is not None and (not exp.isdigit() or int(exp) < now.timestamp()):
            return False
        return any(hmac.compare_digest(sign(secret, path, exp), sig) for secret in self.secrets)


@dataclass(frozen=True)
class PolicyView:
    """A tenant's policy as shown to the tenant (never the secrets)."""

    signed: bool
    referrers: tuple[str, ...]
    has_key: bool
    previous_key_valid_until: datetime | None


def sign(secret: str, path: str, exp: str | None = None) -> str:
    """The signature of a path (and expiry) under one secret."""
    message = path if exp is None else f"{path}?exp={exp}"
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _clean_referrers(referrers: list[str]) -> tuple[str, ...]:
    if len(referrers) > MAX_REFERRERS:
        raise InvalidInput(f"at most {MAX_REFERRERS} referrers", field="referrers")
    cleaned = []
    for rule in referrers:
        rule = rule.strip().lower()
        bare = rule.removeprefix(".")
        if not bare or len(rule) > 255 or not all(part and part.replace("-", "").isalnum() and part.isascii()
                                                 for part in bare.split(".")):
            raise InvalidInput(f"{rule!r} is not a host name (punycode, e.g. shop.example.com or .example.com)",
                               field="referrers")
        cleaned.append(rule)
    return tuple(sorted(set(cleaned)))


def _view(row: HotlinkPolicy | None, now: datetime) -> PolicyView:
    if row is None:
        return PolicyView(False, (), False, None)
    live_until = row.previous_until if row.previous_secret and row.previous_until and row.previous_until > now else None
    return PolicyView(row.signed, tuple(row.referrers), bool(row.secret), live_until)


def view_policy(rt: Runtime, tenant_id: str) -> PolicyView:
    """The tenant's policy."""
    with rt.db.read_only() as session:
        return _view(session.get(HotlinkPolicy, tenant_id), datetime.now(UTC))


def _may_own(principal: Principal) -> None:
    if not principal.can_upload:
        raise Forbidden("hotlink rules are for tenants that upload pictures; platform keys only read")


def set_policy(rt: Runtime, principal: Principal, signed: bool, referrers: list[str]) -> PolicyView:
    """Choose public or signed URLs and the allowed sites; signing needs a key (rotate one first)."""
    _may_own(principal)
    tenant_id = principal.tenant_id
    cleaned = _clean_referrers(referrers)
    with rt.db.unit_of_work() as session:
        row = session.get(HotlinkPolicy, tenant_id)
        if row is None:
            row = HotlinkPolicy(tenant_id=tenant_id, signed=False, referrers=[], secret="", previous_secret="")
            session.add(row)
        if signed and not row.secret:
            raise InvalidInput("create a signing key first (POST /v1/hotlink/keys)", field="signed")
        row.signed, row.referrers = signed, list(cleaned)
        session.flush()
        return _view(row, datetime.now(UTC))


def rotate_key(rt: Runtime, principal: Principal, grace_seconds: int) -> str:
    """A new signing secret (returned once); the previous one stays valid for `grace_seconds`."""
    _may_own(principal)
    tenant_id = principal.tenant_id
    if not 0 <= grace_seconds <= 90 * 86400:
        raise InvalidInput("grace_seconds must be within 0..7776000 (90 days)", field="grace_seconds")
    fresh = secrets.token_hex(32)
    with rt.db.unit_of_work() as session:
        row = session.get(HotlinkPolicy, tenant_id)
        if row is None:
            row = HotlinkPolicy(tenant_id=tenant_id, signed=False, referrers=[], secret="", previous_secret="")
            session.add(row)
        row.previous_secret = row.secret
        row.previous_until = datetime.now(UTC) + timedelta(seconds=grace_seconds) if row.secret else None
        row.secret = fresh
    return fresh


def sign_path(rt: Runtime, principal: Principal, path: str, expires_in: int | None) -> str:
    """`path` with its signature (and expiry) as the tenant's current key makes them."""
    _may_own(principal)
    tenant_id = principal.tenant_id
    if not path.startswith("/v/") or "?" in path:
        raise InvalidInput("sign a variant path such as /v/ast_…/web_thumb.webp", field="path")
    asset_id = path[3:].split("/", 1)[0]
    with rt.db.read_only() as session:
        owner = session.scalar(select(Asset.owner_tenant_id).where(Asset.id == asset_id)) \
            if is_well_formed(asset_id) else None
        if owner != tenant_id:  # its owner's key is the one checked: a signature by any other is worthless
            raise Forbidden("only the tenant that owns an asset may sign its URLs")
        row = session.get(HotlinkPolicy, tenant_id)
        secret = row.secret if row is not None else ""
    if not secret:
        raise InvalidInput("create a signing key first (POST /v1/hotlink/keys)", field="path")
    exp = None if expires_in is None else str(int(datetime.now(UTC).timestamp()) + expires_in)
    query = f"sig={sign(secret, path, exp)}" if exp is None else f"exp={exp}&sig={sign(secret, path, exp)}"
    return f"{path}?{query}"


def rules_for_asset(rt: Runtime, asset_id: str) -> tuple[Policy, bool]:
    """The owner's policy for an asset's URLs, and whether the asset is revoked."""
    now = datetime.now(UTC)
    with rt.db.read_only() as session:
        revoked = session.get(RevokedAsset, asset_id) is not None
        owner = session.scalar(select(Asset.owner_tenant_id).where(Asset.id == asset_id))
        row = session.get(HotlinkPolicy, owner) if owner else None
        if row is None:
            return Policy(owner=owner or ""), revoked
        live = [row.secret] if row.secret else []
        if row.previous_secret and row.previous_until and row.previous_until > now:
            live.append(row.previous_secret)
        return Policy(row.signed, tuple(row.referrers), tuple(live), owner or ""), revoked


def purge_configured(rt: Runtime) -> bool:
    """Whether edges or a CDN webhook are there to be told about withdrawn pictures."""
    return bool(rt.settings.purge_urls or rt.settings.purge_webhook_url)


def enqueue_purge(rt: Runtime, session: Session, asset_id: str) -> str | None:
    """Queue the edge/CDN purge of a withdrawn asset with the change (outbox); None if nothing to tell."""
    return enqueue(rt, session, JobKind.PURGE_ASSET, asset_id) if purge_configured(rt) else None


def schedule_purge(rt: Runtime, asset_id: str, due: datetime) -> str:
    """One more purge pass of an asset, published by the sweeper once `due` has passed."""
    with rt.db.unit_of_work() as session:
        return schedule(rt, session, JobKind.PURGE_ASSET, asset_id, due)


def revoke_asset(rt: Runtime, principal: Principal, asset_id: str,
                 on_commit: Callable[[], None] | None = None) -> str | None:
    """Withdraw an asset from every URL; only its owner may. Returns the purge job's id, if one was queued.

    The purge is written in the same transaction, so a crash right after the commit leaves a pending
    job the sweeper publishes; revoking again queues another purge (a pending one is reused).
    `on_commit` runs after the commit and before the purge is published (the caller's caches)."""
    _may_own(principal)
    tenant_id = principal.tenant_id
    if not is_well_formed(asset_id):
        raise NotFound(f"no asset {asset_id!r}", field="asset_id")
    with rt.db.unit_of_work() as session:
        asset = session.get(Asset, asset_id)
        if asset is None:
            raise NotFound(f"no asset {asset_id!r}", field="asset_id")
        if asset.owner_tenant_id != tenant_id:
            raise Forbidden("only the tenant that owns an asset may revoke it")
        if _used_by_others(session, asset_id, tenant_id):
            # Shared media is shared trust: revoking would empty other shops' listings and URLs.
            raise Conflict("other tenants use this picture; take your own uploads out of it (split) or "
                           "remove it from your SKUs instead", asset_id=asset_id)
        if session.get(RevokedAsset, asset_id) is None:
            session.add(RevokedAsset(asset_id=asset_id, tenant_id=tenant_id))
            session.flush()
        if on_commit is not None:
            rt.db.after_commit(session, on_commit)
        return enqueue_purge(rt, session, asset_id)


def _used_by_others(session: Session, asset_id: str, tenant_id: str) -> bool:
    """Whether another tenant uploaded the picture or shows it in one of its SKU slots."""
    uploaded = select(Upload.id).where(Upload.asset_id == asset_id, Upload.tenant_id != tenant_id).limit(1)
    slotted = (select(SkuSlot.id).join(Sku, Sku.id == SkuSlot.sku_id)
               .where(SkuSlot.asset_id == asset_id, Sku.tenant_id != tenant_id).limit(1))
    return session.scalar(uploaded) is not None or session.scalar(slotted) is not None


def revoked_since(rt: Runtime, since: datetime) -> list[str]:
    """Assets revoked at or after `since`."""
    with rt.db.read_only() as session:
        return list(session.scalars(select(RevokedAsset.asset_id).where(RevokedAsset.revoked_at >= since)))


def withdrawn_at(rt: Runtime, asset_id: str) -> datetime | None:
    """When the asset was last withdrawn (its owner's revocation or a brand's pack revocation), if ever.

    Merges are followed both ways, as pack terms are: a pack picture revoked after it was merged into
    another keeps its terms rows under its own id, while the purge may be for the surviving asset."""
    with rt.db.read_only() as session:
        ids = MediaRepository(session).merge_family(asset_id)
        moments = [session.scalar(select(func.max(RevokedAsset.revoked_at)).where(RevokedAsset.asset_id.in_(ids))),
                   session.scalar(select(func.max(PackAsset.revoked_at)).where(PackAsset.asset_id.in_(ids)))]
    found = [moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment for moment in moments if moment]
    return max(found) if found else None


def asset_refs(rt: Runtime, asset_id: str) -> list[VariantRef]:
    """Every variant ever stored for an asset (each had a URL of its own)."""
    with rt.db.read_only() as session:
        return [VariantRef(v.asset_id, v.profile, v.version, v.blob_key.rsplit(".", 1)[-1])
                for v in VariantRepository(session).of_asset(asset_id)]
