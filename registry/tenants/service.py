"""Tenants and API keys: keys are random, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from registry.db import Database
from registry.errors import InvalidInput, NotFound, Unauthenticated
from registry.ids import new_id
from registry.models import ApiKey, Tenant, utcnow
from registry.runtime import Runtime
from registry.tenants.repository import TenantRepository

KEY_PREFIX = "skx_"
# A key's last-used time is written at most this often: knowing a key was used this hour is
# enough to find dead keys, and a write per request would make every read a write.
KEY_USE_RESOLUTION = timedelta(minutes=5)
MAX_KEY_LABEL = 100


class TenantKind(StrEnum):
    """What a tenant does with the registry."""

    BRAND = "brand"
    MERCHANT = "merchant"
    PLATFORM = "platform"


class Permission(StrEnum):
    """What a key may do; each tenant kind has a fixed set (ROLE_PERMISSIONS, docs/security.md)."""

    READ_ASSETS = "read_assets"  # public facts and variant URLs of any asset
    UPLOAD = "upload"  # register pictures, fill own SKU slots
    SEARCH = "search"  # search by picture (decodes; sellers only)
    MANAGE_OWN_ASSETS = "manage_own_assets"  # split, merge, restore the master of own assets
    READ_OWN_LISTINGS = "read_own_listings"
    SHARE_LISTINGS = "share_listings"  # grant a platform read access to own listings
    READ_SHARED_LISTINGS = "read_shared_listings"  # listings sellers granted to this platform
    PUBLISH_OFFICIAL = "publish_official"  # make own pictures the official master of own products
    MANAGE_OWN_KEYS = "manage_own_keys"
    MANAGE_PROFILES = "manage_profiles"  # define, version, publish and retire own render profiles


_SELLER = frozenset({Permission.READ_ASSETS, Permission.UPLOAD, Permission.SEARCH, Permission.MANAGE_OWN_ASSETS,
                     Permission.READ_OWN_LISTINGS, Permission.SHARE_LISTINGS, Permission.MANAGE_OWN_KEYS})

ROLE_PERMISSIONS: dict[TenantKind, frozenset[Permission]] = {
    TenantKind.BRAND: _SELLER | {Permission.PUBLISH_OFFICIAL, Permission.MANAGE_PROFILES},
    TenantKind.MERCHANT: _SELLER,
    TenantKind.PLATFORM: frozenset({Permission.READ_ASSETS, Permission.READ_SHARED_LISTINGS,
                                    Permission.MANAGE_OWN_KEYS, Permission.MANAGE_PROFILES}),
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    tenant_id: str
    tenant_name: str
    kind: TenantKind
    key_id: str
    last_used_at: datetime | None = field(default=None, compare=False)

    @property
    def use_is_stale(self) -> bool:
        """Whether this request should record the key's use (the last record is old or missing)."""
        return self.last_used_at is None or utcnow() - self.last_used_at >= KEY_USE_RESOLUTION

    @property
    def can_upload(self) -> bool:
        """Brands and merchants upload; platforms only read."""
        return self.can(Permission.UPLOAD)

    def can(self, permission: Permission) -> bool:
        """Whether this key's tenant kind has `permission`."""
        return permission in ROLE_PERMISSIONS[self.kind]


def hash_key(key: str) -> str:
    """SHA-256 of a plain API key; keys are long random strings, so no slow hash is needed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, tenant_name: str, kind: str, *, label: str = "",
               expires_at: datetime | None = None) -> tuple[Tenant, str]:
    """Create the tenant if new and a fresh key for it; returns the plain key once."""
    name = unicodedata.normalize("NFC", tenant_name).strip()  # one tenant however the name was typed
    if not name or len(name) > 200:
        raise InvalidInput("a tenant name must have 1 to 200 characters")
    try:
        tenant_kind = TenantKind(kind)
    except ValueError as exc:
        raise InvalidInput(f"kind must be one of {', '.join(k.value for k in TenantKind)}") from exc
    repository = TenantRepository(session)
    tenant = repository.get_by_name(name)
    if tenant is None:
        tenant = repository.add(Tenant(id=new_id("ten"), name=name, kind=tenant_kind.value))
    elif tenant.kind != tenant_kind.value:
        raise InvalidInput(f"tenant {name!r} exists with kind {tenant.kind}, not {tenant_kind.value}")
    _key_id, plain = _new_key(session, tenant.id, label, expires_at)
    return tenant, plain


def _check_label(label: str) -> str:
    text = unicodedata.normalize("NFC", label or "").strip()
    if len(text) > MAX_KEY_LABEL or any(unicodedata.category(ch)[0] == "C" for ch in text):
        raise InvalidInput(f"a key label has at most {MAX_KEY_LABEL} printable characters", field="label")
    return text


def _new_key(session: Session, tenant_id: str, label: str, expires_at: datetime | None) -> tuple[str, str]:
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInput("a key's expiry must be in the future", field="expires_at")
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id=new_id("key"), tenant_id=tenant_id, key_hash=hash_key(plain), prefix=plain[:10],
                 label=_check_label(label), expires_at=expires_at)
    TenantRepository(session).add_key(key)
    return key.id, plain


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never the key itself or its hash."""

    id: str
    prefix: str
    label: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        """Neither revoked nor expired."""
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > utcnow())

    @classmethod
    def of(cls, key: ApiKey) -> KeyInfo:
        """The shown facts of a key row."""
        return cls(id=key.id, prefix=key.prefix, label=key.label, created_at=key.created_at,
                   expires_at=key.expires_at, last_used_at=key.last_used_at, revoked_at=key.revoked_at)


def list_keys(session: Session, tenant_id: str) -> list[KeyInfo]:
    """A tenant's keys, newest first, revoked ones included."""
    return [KeyInfo.of(key) for key in TenantRepository(session).keys_of(tenant_id)]


def issue_tenant_key(session: Session, tenant_id: str, *, label: str = "",
                     expires_at: datetime | None = None) -> tuple[KeyInfo, str]:
    """Another key for an existing tenant; returns the plain key once."""
    key_id, plain = _new_key(session, tenant_id, label, expires_at)
    return KeyInfo.of(_tenant_key(session, tenant_id, key_id)), plain


def _tenant_key(session: Session, tenant_id: str | None, key_id: str) -> ApiKey:
    key = TenantRepository(session).key(key_id)
    if key is None or (tenant_id is not None and key.tenant_id != tenant_id):
        raise NotFound(f"no key {key_id!r} for this tenant", field="key_id")
    return key


def revoke_key(session: Session, tenant_id: str | None, key_id: str) -> KeyInfo:
    """Revoke a key at once (every process checks the database on every request); idempotent.

    `tenant_id` None is the operator's CLI, which may revoke any key.
    """
    key = _tenant_key(session, tenant_id, key_id)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
    return KeyInfo.of(key)


def rotate_key(session: Session, tenant_id: str | None, key_id: str, *,
               expires_at: datetime | None = None) -> tuple[KeyInfo, str]:
    """Replace a key: a new key with the same label, the old one revoked in the same transaction."""
    old = _tenant_key(session, tenant_id, key_id)
    if old.revoked_at is not None:
        raise InvalidInput("a revoked key cannot be rotated; create a new key", field="key_id")
    revoke_key(session, tenant_id, key_id)
    return issue_tenant_key(session, old.tenant_id, label=old.label, expires_at=expires_at)


def note_key_use(session: Session, key_id: str) -> None:
    """Record that a key was used, unless that was recorded within KEY_USE_RESOLUTION."""
    now = utcnow()
    TenantRepository(session).touch_key(key_id, now, now - KEY_USE_RESOLUTION)


@dataclass(frozen=True)
class IssuedKey:
    """A new API key, shown once, and the tenant it acts as."""

    tenant_name: str
    tenant_kind: str
    plain: str


def issue_key(db: Database, tenant_name: str, kind: str, *, label: str = "",
              expires_at: datetime | None = None) -> IssuedKey:
    """Use case: create the tenant if new and a fresh key for it (its own unit of work)."""
    with db.unit_of_work() as session:
        tenant, plain = create_key(session, tenant_name, kind, label=label, expires_at=expires_at)
        return IssuedKey(tenant_name=tenant.name, tenant_kind=tenant.kind, plain=plain)


def authenticate(rt: Runtime, key: str) -> Principal:
    """Use case: resolve a plain API key to its principal.

    Checked against the database on every request (no cache), so a revoked or expired key fails at
    once in every process; the key's last use is written at most once per KEY_USE_RESOLUTION.
    """
    with rt.db.read_only() as session:
        found = TenantRepository(session).active_key_by_hash(hash_key(key))
        if found is None:
            raise Unauthenticated("the API key is not valid")
        api_key, tenant = found
        if api_key.expires_at is not None and api_key.expires_at <= utcnow():
            raise Unauthenticated("the API key has expired")
        principal = Principal(tenant_id=tenant.id, tenant_name=tenant.name, kind=TenantKind(tenant.kind),
                              key_id=api_key.id, last_used_at=api_key.last_used_at)
    if principal.use_is_stale:
        with rt.db.unit_of_work() as session:
            note_key_use(session, principal.key_id)
    return principal
