"""Render profiles: the built-ins and tenants' own (define, version, publish, retire)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import OptionalPrincipal, PrincipalDep, RuntimeDep, viewer
from api.routes.definitions import DefinitionCreate, DefinitionVersionCreate, NameParam
from api.schemas import ProfileInfo
from processing.profiles import Profile, profile_fields
from registry.profiles import service as profiles

router = APIRouter(prefix="/v1", tags=["profiles"])


class ProfileCreate(DefinitionCreate):
    """A new profile: its name in your namespace, a display name and the definition (the built-ins' fields)."""

    namespace: str | None = Field(None, max_length=40, description="chosen with your first profile, then fixed")
    definition: dict[str, Any] = Field(description="width, height, fit, fill, background, format, quality, ...")


class ProfileVersionCreate(DefinitionVersionCreate):
    """A profile's next definition (complete, not a patch) and optionally a new display name."""

    definition: dict[str, Any]


class ProfileVersionInfo(BaseModel):
    """One version of a profile: its number, digest and definition."""

    version: int
    digest: str
    definition: dict[str, Any]


class ProfileDetail(ProfileInfo):
    """A profile with every version (oldest first)."""

    history: list[ProfileVersionInfo]


def profile_info(view: profiles.ProfileView) -> ProfileInfo:
    """The JSON of a profile as the caller sees it."""
    p = view.profile
    return ProfileInfo(
        name=p.name, description=p.description, width=p.width, height=p.height, fit=p.fit.value, format=p.format,
        digest=p.digest, display_name=view.display_name, built_in=view.built_in, yours=view.owner,
        published=view.published, retired=view.retired, version=p.version, versions=view.versions,
        definition=profile_fields(p),
    )


def _detail(view: profiles.ProfileView, history: tuple[Profile, ...]) -> ProfileDetail:
    return ProfileDetail(**profile_info(view).model_dump(), history=[
        ProfileVersionInfo(version=p.version, digest=p.digest, definition=profile_fields(p)) for p in history])


@router.get("/profiles", response_model=list[ProfileInfo])
async def list_profiles(rt: RuntimeDep, principal: OptionalPrincipal) -> list[ProfileInfo]:
    """The built-in profiles, every published tenant profile, and (with a key) your own, retired ones too."""
    views = await run_in_threadpool(profiles.list_visible, rt, viewer(principal))
    return [profile_info(v) for v in views]


@router.post("/profiles", response_model=ProfileDetail, status_code=201)
async def create_profile(body: ProfileCreate, rt: RuntimeDep, principal: PrincipalDep) -> ProfileDetail:
    """Define a profile (brand and platform keys); its name becomes NAMESPACE~NAME."""
    view = await run_in_threadpool(profiles.create, rt, principal, body.name, body.definition, body.display_name,
                                   body.namespace)
    return _detail(view, (view.profile,))


@router.get("/profiles/{name}", response_model=ProfileDetail)
async def get_profile(name: NameParam, rt: RuntimeDep, principal: OptionalPrincipal) -> ProfileDetail:
    """One profile with its versions: a built-in, a published one, or your own (404 for anyone else's)."""
    view, history = await run_in_threadpool(profiles.get_visible, rt, viewer(principal),
                                            name)
    return _detail(view, history)


@router.post("/profiles/{name}/versions", response_model=ProfileDetail, status_code=201)
async def add_profile_version(name: NameParam, body: ProfileVersionCreate, rt: RuntimeDep,
                              principal: PrincipalDep) -> ProfileDetail:
    """Change your profile: the definition becomes a new version; its variant URLs move, old ones keep working."""
    await run_in_threadpool(profiles.add_version, rt, principal, name, body.definition, body.display_name)
    view, history = await run_in_threadpool(profiles.get_visible, rt, principal.tenant_id, name)
    return _detail(view, history)


@router.post("/profiles/{name}/publish", response_model=ProfileInfo)
async def publish_profile(name: NameParam, rt: RuntimeDep, principal: PrincipalDep) -> ProfileInfo:
    """Let every tenant see and use your profile; this cannot be undone (retire it to stop new use)."""
    return profile_info(await run_in_threadpool(profiles.publish, rt, principal, name))


@router.post("/profiles/{name}/retire", response_model=ProfileInfo)
async def retire_profile(name: NameParam, rt: RuntimeDep, principal: PrincipalDep) -> ProfileInfo:
    """Stop your profile rendering anything new; variants already made keep being served."""
    return profile_info(await run_in_threadpool(profiles.retire, rt, principal, name))
