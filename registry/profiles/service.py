"""Tenant profiles: brands and platforms define render profiles with the built-ins' fields and rules.

Names are `namespace~name` (processing/profiles.py says why); a profile is its owner's until published,
then every tenant's (one way: publishing cannot be undone, since others may build on it). Each change is
a new immutable version; retiring stops new renders while stored variants keep being served.
docs/profiles.md ("Tenant profiles") and docs/security.md describe the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from processing.profiles import TENANT_FIELDS, Profile, ProfileError, is_tenant_name, parse_profile, profile_fields
from registry.definitions.service import Check, Lifecycle, clean_text
from registry.errors import Gone, InvalidInput
from registry.ids import new_id
from registry.models import TenantProfile, TenantProfileVersion
from registry.profiles.cache import TenantProfileRecord
from registry.profiles.repository import ProfileRepository
from registry.runtime import Runtime
from registry.tenants.service import Principal

MAX_TEXT = {"description": 1000, "source": 2000}


class ProfileRetired(Gone):
    """A retired profile asked to render something new."""

    code = "profile_retired"


class InvalidProfile(InvalidInput):
    """A profile definition the rules refuse (the same rules as the built-ins')."""

    code = "invalid_profile"


@dataclass(frozen=True)
class ProfileView:
    """A profile as a caller may see it: a built-in, or a tenant's with its state."""

    profile: Profile
    built_in: bool
    display_name: str
    owner: bool = False  # the caller defined it
    published: bool = True
    retired: bool = False
    versions: int = 1


def check_definition(name: str, definition: dict[str, Any]) -> Profile:
    """The profile a definition describes, checked by the built-ins' rules plus what tenants may not set."""
    unknown = sorted(set(definition) - TENANT_FIELDS)
    if unknown:
        raise InvalidProfile(f"unknown or reserved profile fields: {', '.join(unknown)}; allowed: "
                             f"{', '.join(sorted(TENANT_FIELDS))}", field="definition")
    raw = dict(definition)
    for field, limit in MAX_TEXT.items():
        if field in raw:
            if not isinstance(raw[field], str):
                raise InvalidProfile(f"{field} must be text", field=f"definition.{field}")
            raw[field] = clean_text(raw[field], f"definition.{field}", limit)
    try:
        profile = parse_profile(name, raw)
    except ProfileError as exc:
        raise InvalidProfile(str(exc), field="definition") from exc
    if profile.format == "AVIF":
        # AVIF takes seconds per picture and only background work may make it; tenants' profiles render on request
        raise InvalidProfile("tenant profiles may not encode AVIF yet; use WEBP", field="definition.format")
    if profile.fallback:
        raise InvalidProfile("fallback is for AVIF profiles only", field="definition.fallback")
    return profile


def _version_row(profile_id: str, number: int, profile: Profile) -> TenantProfileVersion:
    return TenantProfileVersion(id=new_id("prv"), profile_id=profile_id, number=number,
                                definition=profile_fields(profile), digest=profile.digest)


def _forget(rt: Runtime, name: str) -> None:
    rt.tenant_profiles.forget(name)


PROFILES = Lifecycle[TenantProfile, TenantProfileVersion, TenantProfileRecord, Profile](
    kind="profile", id_prefix="prf", repository=ProfileRepository, record=TenantProfileRecord.of,
    version=_version_row, forget=_forget)


def _checking(definition: dict[str, Any]) -> Check[Profile]:
    """The lifecycle's check of a definition: the same rules whether the profile is published or not."""
    return lambda session, name, published: check_definition(name, definition)


def create(rt: Runtime, principal: Principal, name: str, definition: dict[str, Any], display_name: str = "",
           namespace: str | None = None) -> ProfileView:
    """Use case: define a new profile (version 1) in the caller's namespace."""
    record = PROFILES.create(rt, principal, name, _checking(definition), display_name, namespace)
    return _view(record, principal.tenant_id)


def add_version(rt: Runtime, principal: Principal, name: str, definition: dict[str, Any],
                display_name: str | None = None) -> ProfileView:
    """Use case: a new definition becomes the current version; older ones stay for URLs already handed out."""
    return _view(PROFILES.add_version(rt, principal, name, _checking(definition), display_name), principal.tenant_id)


def retire(rt: Runtime, principal: Principal, name: str) -> ProfileView:
    """Use case: the profile renders nothing new; stored variants keep being served. Retiring twice is one."""
    return _view(PROFILES.retire(rt, principal, name), principal.tenant_id)


def publish(rt: Runtime, principal: Principal, name: str) -> ProfileView:
    """Use case: every tenant may now see and use the profile (for good). Publishing twice is one."""
    return _view(PROFILES.publish(rt, principal, name), principal.tenant_id)


def _view(record: TenantProfileRecord, tenant_id: str | None) -> ProfileView:
    return ProfileView(profile=record.current, built_in=False, display_name=record.display_name,
                       owner=record.tenant_id == tenant_id, published=record.published, retired=record.retired,
                       versions=len(record.versions))


def _builtin_view(profile: Profile) -> ProfileView:
    return ProfileView(profile=profile, built_in=True, display_name=profile.name)


def list_visible(rt: Runtime, tenant_id: str | None) -> list[ProfileView]:
    """Use case: the built-ins, the caller's own profiles (retired ones too) and every published one in use."""
    views = [_builtin_view(p) for p in rt.catalog.profiles.values()]
    return views + [_view(r, tenant_id) for r in PROFILES.listed(rt, tenant_id)]


def get_visible(rt: Runtime, tenant_id: str | None, name: str) -> tuple[ProfileView, tuple[Profile, ...]]:
    """Use case: one profile the caller may see, with every version (a built-in has one); NotFound otherwise."""
    builtin = rt.catalog.profiles.get(name)
    if builtin is not None:
        return _builtin_view(builtin), (builtin,)
    record = PROFILES.visible(lookup(rt, name), tenant_id, name)
    return _view(record, tenant_id), record.versions


def lookup(rt: Runtime, name: str) -> TenantProfileRecord | None:
    """A tenant profile by name from this process's short-lived cache; None for any other name."""
    return rt.tenant_profiles.get(rt.db, name) if is_tenant_name(name) else None


def may_render(rt: Runtime, record: TenantProfileRecord, asset_ids: list[str]) -> bool:
    """Whether a profile may shape these assets' pictures: published, or its owner has to do with one of them.

    Variant URLs are public, so the caller is not known: an unpublished profile serves only its owner's pictures
    (uploaded, listed, supplied, or shared with it), never arbitrary assets someone names in a URL."""
    if record.published:
        return True
    with rt.db.read_only() as session:
        return ProfileRepository(session).tenant_uses_asset(record.tenant_id, asset_ids)
