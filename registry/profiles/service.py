"""Tenant profiles: brands and platforms define render profiles with the built-ins' fields and rules.

Names are `namespace~name` (processing/profiles.py says why); a profile is its owner's until published,
then every tenant's (one way: publishing cannot be undone, since others may build on it). Each change is
a new immutable version; retiring stops new renders while stored variants keep being served.
docs/profiles.md ("Tenant profiles") and docs/security.md describe the rules.
"""

from __future__ import annotations

import secrets
import unicodedata
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from processing.profiles import (
    NAMESPACE_PATTERN,
    TENANT_FIELDS,
    TENANT_NAME_PATTERN,
    TENANT_SEPARATOR,
    Profile,
    ProfileError,
    is_tenant_name,
    parse_profile,
    profile_fields,
)
from registry.errors import Conflict, Forbidden, Gone, InvalidInput, NotFound
from registry.ids import new_id
from registry.models import ProfileNamespace, TenantProfile, TenantProfileVersion, utcnow
from registry.profiles.cache import TenantProfileRecord
from registry.profiles.repository import ProfileRepository
from registry.runtime import Runtime
from registry.tenants.service import Permission, Principal

MAX_DISPLAY_NAME = 200
MAX_TEXT = {"description": 1000, "source": 2000}
MAX_VERSIONS = 100  # old variant URLs are resolved against every version: the list stays short


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


def _hidden(name: str) -> NotFound:
    """The one answer for a profile that does not exist and one the caller may not see (no disclosure)."""
    return NotFound(f"no profile {name!r}", field="profile")


def require_manager(principal: Principal) -> None:
    """Forbidden unless the key's tenant may define profiles and platforms (brands and platforms)."""
    if not principal.can(Permission.MANAGE_PROFILES):
        raise Forbidden("only brand and platform keys define their own profiles and platforms; merchants use the "
                        "built-in and published ones")


def clean_text(value: str, field: str, limit: int) -> str:
    """`value` NFC-normalised and stripped; InvalidInput when longer than `limit` or holding control characters."""
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > limit or any(unicodedata.category(ch)[0] == "C" for ch in text):
        raise InvalidInput(f"{field} has at most {limit} printable characters", field=field)
    return text


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


def claim_namespace(repository: ProfileRepository, principal: Principal, wanted: str | None) -> str:
    """The caller's namespace (its profiles' and platforms'): the one it holds, else `wanted` or one made from
    its name, claimed now."""
    held = repository.namespace_of(principal.tenant_id)
    if held is not None:
        if wanted is not None and wanted != held:
            raise Conflict(f"your profiles live in namespace {held!r}; it cannot change", field="namespace")
        return held
    if wanted is not None:
        if not NAMESPACE_PATTERN.fullmatch(wanted):
            raise InvalidInput("a namespace has 2-20 characters: a-z, 0-9 and '-', starting with a letter or digit",
                               field="namespace")
        if repository.namespace_taken(wanted):
            raise Conflict(f"namespace {wanted!r} is taken", field="namespace")
        chosen = wanted
    else:
        folded = unicodedata.normalize("NFKD", principal.tenant_name).encode("ascii", "ignore").decode().lower()
        slug = "-".join("".join(ch if ch.isalnum() else " " for ch in folded).split())[:20].strip("-")
        chosen = slug if NAMESPACE_PATTERN.fullmatch(slug) and not repository.namespace_taken(slug) else ""
        # a name with no Latin letters (e.g. 旗舰店) or one already taken gets a random namespace
        while not chosen or repository.namespace_taken(chosen):
            chosen = "t" + secrets.token_hex(4)
    repository.add(ProfileNamespace(tenant_id=principal.tenant_id, namespace=chosen))
    return chosen


def full_name(namespace: str, name: str, kind: str = "profile") -> str:
    """`namespace~name` for a NAME or NAMESPACE~NAME the caller gave; InvalidInput for another namespace."""
    short = name.partition(TENANT_SEPARATOR)[2] if TENANT_SEPARATOR in name else name
    if TENANT_SEPARATOR in name and name.partition(TENANT_SEPARATOR)[0] != namespace:
        raise InvalidInput(f"your {kind}s are named {namespace}~NAME", field="name")
    if not TENANT_NAME_PATTERN.fullmatch(short):
        raise InvalidInput(f"a {kind} name has 1-39 characters: a-z, 0-9, '_' and '-', starting with a letter or "
                           "digit", field="name")
    return f"{namespace}{TENANT_SEPARATOR}{short}"


def create(rt: Runtime, principal: Principal, name: str, definition: dict[str, Any], display_name: str = "",
           namespace: str | None = None) -> ProfileView:
    """Use case: define a new profile (version 1) in the caller's namespace."""
    require_manager(principal)
    display = clean_text(display_name, "display_name", MAX_DISPLAY_NAME)
    try:
        with rt.db.unit_of_work() as session:
            repository = ProfileRepository(session)
            full = full_name(claim_namespace(repository, principal, namespace), name)
            profile = check_definition(full, definition)
            if repository.get(full) is not None:
                raise Conflict(f"profile {full!r} exists; add a version to change it", field="name")
            now = utcnow()
            row = TenantProfile(id=new_id("prf"), name=full, tenant_id=principal.tenant_id,
                                display_name=display or full.partition(TENANT_SEPARATOR)[2], current_version=1,
                                created_at=now, updated_at=now)
            repository.add(row)
            version = _version_row(row.id, 1, profile)
            repository.add(version)
            record = TenantProfileRecord.of(row, [version])
    except IntegrityError as exc:  # the same name or namespace claimed by a concurrent request
        raise Conflict("this profile or namespace was just created by another request", field="name") from exc
    rt.tenant_profiles.forget(full)
    return _view(record, principal.tenant_id)


def _version_row(profile_id: str, number: int, profile: Profile) -> TenantProfileVersion:
    return TenantProfileVersion(id=new_id("prv"), profile_id=profile_id, number=number,
                                definition=profile_fields(profile), digest=profile.digest)


def _own(repository: ProfileRepository, principal: Principal, name: str) -> TenantProfile:
    row = repository.get(name) if is_tenant_name(name) else None
    if row is None or row.tenant_id != principal.tenant_id:
        raise _hidden(name)
    return row


def add_version(rt: Runtime, principal: Principal, name: str, definition: dict[str, Any],
                display_name: str | None = None) -> ProfileView:
    """Use case: a new definition becomes the current version; older ones stay for URLs already handed out."""
    require_manager(principal)
    display = clean_text(display_name, "display_name", MAX_DISPLAY_NAME) if display_name is not None else None
    try:
        with rt.db.unit_of_work() as session:
            repository = ProfileRepository(session)
            row = _own(repository, principal, name)
            if row.retired_at is not None:
                raise Conflict(f"profile {name!r} is retired; define a new profile instead", field="name")
            if row.current_version >= MAX_VERSIONS:
                raise Conflict(f"a profile has at most {MAX_VERSIONS} versions; define a new profile", field="name")
            profile = check_definition(row.name, definition)
            number = row.current_version + 1
            repository.add(_version_row(row.id, number, profile))
            row.current_version, row.updated_at = number, utcnow()
            if display:
                row.display_name = display
            session.flush()
            record = TenantProfileRecord.of(row, repository.versions(row.id))
    except IntegrityError as exc:  # two new versions at once: the second must re-read and retry
        raise Conflict("another version was added at the same moment; read the profile and retry",
                       field="name") from exc
    rt.tenant_profiles.forget(record.name)
    return _view(record, principal.tenant_id)


def retire(rt: Runtime, principal: Principal, name: str) -> ProfileView:
    """Use case: the profile renders nothing new; stored variants keep being served. Retiring twice is one."""
    return _change_state(rt, principal, name, retire=True)


def publish(rt: Runtime, principal: Principal, name: str) -> ProfileView:
    """Use case: every tenant may now see and use the profile (for good). Publishing twice is one."""
    return _change_state(rt, principal, name, retire=False)


def _change_state(rt: Runtime, principal: Principal, name: str, *, retire: bool) -> ProfileView:
    require_manager(principal)
    with rt.db.unit_of_work() as session:
        repository = ProfileRepository(session)
        row = _own(repository, principal, name)
        now = utcnow()
        if retire and row.retired_at is None:
            row.retired_at = row.updated_at = now
        elif not retire and row.published_at is None:
            if row.retired_at is not None:
                raise Conflict(f"profile {name!r} is retired; a retired profile is not published", field="name")
            row.published_at = row.updated_at = now
        session.flush()
        record = TenantProfileRecord.of(row, repository.versions(row.id))
    rt.tenant_profiles.forget(record.name)
    return _view(record, principal.tenant_id)


def _view(record: TenantProfileRecord, tenant_id: str | None) -> ProfileView:
    return ProfileView(profile=record.current, built_in=False, display_name=record.display_name,
                       owner=record.tenant_id == tenant_id, published=record.published, retired=record.retired,
                       versions=len(record.versions))


def _builtin_view(profile: Profile) -> ProfileView:
    return ProfileView(profile=profile, built_in=True, display_name=profile.name)


def list_visible(rt: Runtime, tenant_id: str | None) -> list[ProfileView]:
    """Use case: the built-ins, the caller's own profiles (retired ones too) and every published one in use."""
    views = [_builtin_view(p) for p in rt.catalog.profiles.values()]
    with rt.db.read_only() as session:
        repository = ProfileRepository(session)
        records = [TenantProfileRecord.of(row, repository.versions(row.id)) for row in repository.listed(tenant_id)]
    return views + [_view(r, tenant_id) for r in records]


def get_visible(rt: Runtime, tenant_id: str | None, name: str) -> tuple[ProfileView, tuple[Profile, ...]]:
    """Use case: one profile the caller may see, with every version (a built-in has one); NotFound otherwise."""
    builtin = rt.catalog.profiles.get(name)
    if builtin is not None:
        return _builtin_view(builtin), (builtin,)
    record = lookup(rt, name)
    if record is None or not record.visible_to(tenant_id):
        raise _hidden(name)
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
