"""Tenant platforms: a brand's or platform's own slot map (role → profile), with the lifecycle of its profiles.

Names are `namespace~name` in the tenant's profile namespace, so a tenant platform never shadows a built-in
(`amazon`) or another tenant's. A platform maps slot roles to built-in, own or published profiles; it is its
owner's until published (one way), then every tenant's, and a published platform may only use built-in and
published profiles, so nobody is handed a map naming a profile they cannot see. Each change is a new
immutable version; retiring stops its use. docs/profiles.md ("Tenant platforms") describes the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from processing.profiles import Profile, is_tenant_name
from registry.definitions.record import DefinitionRecord
from registry.definitions.service import Check, Lifecycle
from registry.errors import Conflict, Gone, InvalidInput
from registry.ids import new_id
from registry.models import TenantPlatform, TenantPlatformVersion
from registry.platforms.repository import PlatformRepository
from registry.profiles import service as profiles
from registry.profiles.repository import ProfileRepository
from registry.runtime import Runtime
from registry.skus.service import SlotRole
from registry.tenants.service import Principal


class PlatformRetired(Gone):
    """A retired platform asked for a listing, a report or a pull."""

    code = "platform_retired"


class InvalidPlatform(InvalidInput):
    """A slot map the rules refuse: an unknown role, or a profile that does not exist for the caller."""

    code = "invalid_platform"


@dataclass(frozen=True)
class PlatformRecord(DefinitionRecord[dict[str, str]]):
    """A tenant platform with every version's slot map (oldest first; the current one is what listings use)."""

    @classmethod
    def of(cls, row: TenantPlatform, versions: list[TenantPlatformVersion]) -> PlatformRecord:
        """The record of a row and its version rows."""
        return cls(id=row.id, name=row.name, tenant_id=row.tenant_id, display_name=row.display_name,
                   versions=tuple({str(k): str(v) for k, v in dict(v.roles).items()} for v in versions),
                   created_at=row.created_at, updated_at=row.updated_at, published_at=row.published_at,
                   retired_at=row.retired_at)


@dataclass(frozen=True)
class PlatformView:
    """A platform as a caller may see it: a built-in, or a tenant's with its state and history."""

    name: str
    roles: dict[str, str]
    built_in: bool
    display_name: str
    owner: bool = False
    published: bool = True
    retired: bool = False
    version: int = 1
    history: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class PlatformMap:
    """What a consumer (listing, compliance, pull) needs of a platform: each slot role's profile."""

    name: str
    roles: dict[str, Profile]
    built_in: bool = True

    def profile_for(self, role: str) -> Profile:
        """The profile this platform uses for a slot role; KeyError if it has no use for the role."""
        return self.roles[role]

    @property
    def profiles(self) -> dict[str, Profile]:
        """Each profile once, by name, in slot order."""
        return {p.name: p for p in self.roles.values()}


def unknown_platform(rt: Runtime, name: str) -> InvalidInput:
    """What a consumer answers for a platform it cannot use: missing and invisible read the same."""
    return InvalidInput(f"unknown platform {name!r}; known: {', '.join(sorted(rt.catalog.platforms))} and the "
                        f"published or your own NAMESPACE~NAME", field="platform")


def check_roles(rt: Runtime, session: Session, tenant_id: str, roles: Any, *, published_only: bool) -> dict[str, str]:
    """The slot map, checked: known roles, `main` among them, each naming a built-in, own or published profile
    that is not retired (published ones only when `published_only`); InvalidPlatform otherwise."""
    if not isinstance(roles, Mapping) or not roles:
        raise InvalidPlatform("roles maps slot roles (main, gallery, swatch) to profile names", field="roles")
    allowed = [r.value for r in SlotRole]
    unknown = sorted(str(r) for r in roles if r not in allowed)
    if unknown:
        raise InvalidPlatform(f"unknown slot roles: {', '.join(unknown)}; allowed: {', '.join(allowed)}",
                              field="roles")
    if SlotRole.MAIN.value not in roles:
        raise InvalidPlatform("a platform maps the main slot", field="roles.main")
    repository = ProfileRepository(session)
    clean: dict[str, str] = {}
    for role in allowed:
        if role not in roles:
            continue
        name, field = roles[role], f"roles.{role}"
        if not isinstance(name, str) or len(name) > 80:
            raise InvalidPlatform(f"{field} must be a profile name", field=field)
        if rt.catalog.profiles.get(name) is None:
            row = repository.get(name) if is_tenant_name(name) else None
            if row is None or not (row.published_at is not None or row.tenant_id == tenant_id):
                # the same words for a profile that does not exist and another tenant's unpublished one
                raise InvalidPlatform(f"{field}: no profile {name!r}", field=field)
            if row.retired_at is not None:
                raise InvalidPlatform(f"{field}: profile {name!r} is retired", field=field)
            if published_only and row.published_at is None:
                raise InvalidPlatform(f"{field}: a published platform uses built-in and published profiles only; "
                                      f"publish {name!r} first", field=field)
        clean[role] = name
    return clean


def _view(record: PlatformRecord, tenant_id: str | None) -> PlatformView:
    return PlatformView(name=record.name, roles=record.current, built_in=False, display_name=record.display_name,
                        owner=record.tenant_id == tenant_id, published=record.published, retired=record.retired,
                        version=len(record.versions), history=record.versions)


def _version_row(platform_id: str, number: int, roles: dict[str, str]) -> TenantPlatformVersion:
    return TenantPlatformVersion(id=new_id("plv"), platform_id=platform_id, number=number, roles=roles)


PLATFORMS = Lifecycle[TenantPlatform, TenantPlatformVersion, PlatformRecord, dict[str, str]](
    kind="platform", id_prefix="plt", repository=PlatformRepository, record=PlatformRecord.of, version=_version_row)


def _checking(rt: Runtime, principal: Principal, roles: Any) -> Check[dict[str, str]]:
    """The lifecycle's check of a slot map: a published platform's may use published profiles only."""
    return lambda session, name, published: check_roles(rt, session, principal.tenant_id, roles,
                                                        published_only=published)


def create(rt: Runtime, principal: Principal, name: str, roles: Any, display_name: str = "",
           namespace: str | None = None) -> PlatformView:
    """Use case: define a new platform (version 1) in the caller's namespace."""
    record = PLATFORMS.create(rt, principal, name, _checking(rt, principal, roles), display_name, namespace)
    return _view(record, principal.tenant_id)


def add_version(rt: Runtime, principal: Principal, name: str, roles: Any,
                display_name: str | None = None) -> PlatformView:
    """Use case: a new slot map becomes current (a published platform's may use published profiles only)."""
    record = PLATFORMS.add_version(rt, principal, name, _checking(rt, principal, roles), display_name)
    return _view(record, principal.tenant_id)


def publish(rt: Runtime, principal: Principal, name: str) -> PlatformView:
    """Use case: every tenant may now see and use the platform (for good); its profiles must be published."""

    def profiles_published(session: Session, record: PlatformRecord) -> None:
        try:
            check_roles(rt, session, principal.tenant_id, record.current, published_only=True)
        except InvalidPlatform as exc:
            raise Conflict(exc.message, **exc.details) from exc

    return _view(PLATFORMS.publish(rt, principal, name, ready=profiles_published), principal.tenant_id)


def retire(rt: Runtime, principal: Principal, name: str) -> PlatformView:
    """Use case: the platform serves no new listing, report or pull. Retiring twice is one."""
    return _view(PLATFORMS.retire(rt, principal, name), principal.tenant_id)


def _builtin_view(name: str, roles: dict[str, str]) -> PlatformView:
    return PlatformView(name=name, roles=dict(roles), built_in=True, display_name=name, history=(dict(roles),))


def list_visible(rt: Runtime, tenant_id: str | None) -> list[PlatformView]:
    """Use case: the built-ins, the caller's own platforms (retired ones too) and every published one in use."""
    views = [_builtin_view(name, roles) for name, roles in rt.catalog.platforms.items()]
    return views + [_view(r, tenant_id) for r in PLATFORMS.listed(rt, tenant_id)]


def get_visible(rt: Runtime, tenant_id: str | None, name: str) -> PlatformView:
    """Use case: one platform the caller may see, with its history; NotFound otherwise."""
    builtin = rt.catalog.platforms.get(name)
    if builtin is not None:
        return _builtin_view(name, builtin)
    return _view(PLATFORMS.visible(PLATFORMS.read(rt, name), tenant_id, name), tenant_id)


def resolve(rt: Runtime, tenant_id: str | None, name: str) -> PlatformMap:
    """Use case: the profiles a platform the caller may use maps its slot roles to.

    A built-in, or a tenant platform visible to the caller; anything else is the `unknown platform` of a
    missing name (InvalidInput). A retired platform, or one whose profile was retired, is Gone."""
    builtin = rt.catalog.platforms.get(name)
    if builtin is not None:
        return PlatformMap(name, {role: rt.catalog.profile(p) for role, p in builtin.items()})
    record = PLATFORMS.read(rt, name)
    if record is None or not record.visible_to(tenant_id):
        raise unknown_platform(rt, name)
    if record.retired:
        raise PlatformRetired(f"platform {name!r} is retired", field="platform")
    roles: dict[str, Profile] = {}
    for role, profile_name in record.current.items():
        profile = rt.catalog.profiles.get(profile_name)
        if profile is None:
            found = profiles.lookup(rt, profile_name)
            # a published platform names published profiles only, and nothing is unpublished: defence in depth
            if found is None or not found.visible_to(tenant_id):
                raise unknown_platform(rt, name)
            if found.retired:
                raise profiles.ProfileRetired(f"profile {profile_name!r} of platform {name!r} is retired; its "
                                              "owner must map the role to another profile", field="platform")
            profile = found.current
        roles[role] = profile
    return PlatformMap(name, roles, built_in=False)


def usable_on(rt: Runtime, profile: Profile, asset_ids: list[str]) -> bool:
    """Whether a profile may render these assets: a built-in or published one, or its owner has to do with them
    (the hot path's rule for unpublished tenant profiles, for the routes that render directly)."""
    record = profiles.lookup(rt, profile.name)
    return record is None or profiles.may_render(rt, record, asset_ids)
