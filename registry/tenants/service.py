"""Tenants and API keys: keys are random, shown once, stored as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from registry.db import Database
from registry.errors import InvalidInput, Unauthenticated
from registry.ids import new_id
from registry.models import ApiKey, Tenant
from registry.runtime import Runtime
from registry.tenants.repository import TenantRepository

KEY_PREFIX = "skx_"


class TenantKind(StrEnum):
    """What a tenant does with the registry."""

    BRAND = "brand"
    MERCHANT = "merchant"
    PLATFORM = "platform"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""

    tenant_id: str
    tenant_name: str
    kind: TenantKind
    key_id: str

    @property
    def can_upload(self) -> bool:
        """Brands and merchants upload; platforms only read."""
        return self.kind in (TenantKind.BRAND, TenantKind.MERCHANT)


def hash_key(key: str) -> str:
    """SHA-256 of a plain API key; keys are long random strings, so no slow hash is needed."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(session: Session, tenant_name: str, kind: str) -> tuple[Tenant, str]:
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
    plain = KEY_PREFIX + secrets.token_urlsafe(32)
    repository.add_key(ApiKey(id=new_id("key"), tenant_id=tenant.id, key_hash=hash_key(plain), prefix=plain[:10]))
    return tenant, plain


@dataclass(frozen=True)
class IssuedKey:
    """A new API key, shown once, and the tenant it acts as."""

    tenant_name: str
    tenant_kind: str
    plain: str


def issue_key(db: Database, tenant_name: str, kind: str) -> IssuedKey:
    """Use case: create the tenant if new and a fresh key for it (its own unit of work)."""
    with db.unit_of_work() as session:
        tenant, plain = create_key(session, tenant_name, kind)
        return IssuedKey(tenant_name=tenant.name, tenant_kind=tenant.kind, plain=plain)


def authenticate(rt: Runtime, key: str) -> Principal:
    """Use case: resolve a plain API key to its principal (its own read-only unit of work)."""
    with rt.db.read_only() as session:
        found = TenantRepository(session).active_key_by_hash(hash_key(key))
        if found is None:
            raise Unauthenticated("the API key is not valid")
        api_key, tenant = found
        return Principal(tenant_id=tenant.id, tenant_name=tenant.name, kind=TenantKind(tenant.kind),
                         key_id=api_key.id)
