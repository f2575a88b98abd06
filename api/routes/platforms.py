"""Platforms (slot role → profile maps): the built-ins and tenants' own (define, version, publish, retire)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field
from starlette.concurrency import run_in_threadpool

from api.deps import OptionalPrincipal, PrincipalDep, RuntimeDep, viewer
from api.routes.definitions import DefinitionCreate, DefinitionVersionCreate, NameParam
from api.schemas import PlatformInfo
from registry.platforms import service as platforms

router = APIRouter(prefix="/v1", tags=["platforms"])


class PlatformCreate(DefinitionCreate):
    """A new platform: its name in your namespace, a display name and its slot map."""

    namespace: str | None = Field(None, max_length=40, description="your profiles' namespace (chosen once)")
    roles: dict[str, Any] = Field(description="slot role (main, gallery, swatch) → built-in, own or published "
                                              "profile name; main is required")


class PlatformVersionCreate(DefinitionVersionCreate):
    """A platform's next slot map (complete, not a patch) and optionally a new display name."""

    roles: dict[str, Any]


class PlatformDetail(PlatformInfo):
    """A platform with every version's slot map (oldest first)."""

    history: list[dict[str, str]]


def platform_info(view: platforms.PlatformView) -> PlatformInfo:
    """The JSON of a platform as the caller sees it."""
    return PlatformInfo(platform=view.name, roles=view.roles, display_name=view.display_name,
                        built_in=view.built_in, yours=view.owner, published=view.published, retired=view.retired,
                        version=view.version)


def _detail(view: platforms.PlatformView) -> PlatformDetail:
    return PlatformDetail(**platform_info(view).model_dump(), history=[dict(h) for h in view.history])


@router.get("/platforms", response_model=list[PlatformInfo])
async def list_platforms(rt: RuntimeDep, principal: OptionalPrincipal) -> list[PlatformInfo]:
    """Which profile each platform uses per slot role: the built-ins, every published tenant platform and
    (with a key) your own, retired ones too."""
    views = await run_in_threadpool(platforms.list_visible, rt, viewer(principal))
    return [platform_info(v) for v in views]


@router.post("/platforms", response_model=PlatformDetail, status_code=201)
async def create_platform(body: PlatformCreate, rt: RuntimeDep, principal: PrincipalDep) -> PlatformDetail:
    """Define a platform (brand and platform keys); its name becomes NAMESPACE~NAME."""
    return _detail(await run_in_threadpool(platforms.create, rt, principal, body.name, body.roles,
                                           body.display_name, body.namespace))


@router.get("/platforms/{name}", response_model=PlatformDetail)
async def get_platform(name: NameParam, rt: RuntimeDep, principal: OptionalPrincipal) -> PlatformDetail:
    """One platform with its versions: a built-in, a published one, or your own (404 for anyone else's)."""
    return _detail(await run_in_threadpool(platforms.get_visible, rt, viewer(principal),
                                           name))


@router.post("/platforms/{name}/versions", response_model=PlatformDetail, status_code=201)
async def add_platform_version(name: NameParam, body: PlatformVersionCreate, rt: RuntimeDep,
                               principal: PrincipalDep) -> PlatformDetail:
    """Change your platform: the slot map becomes a new version (listings use it at once)."""
    return _detail(await run_in_threadpool(platforms.add_version, rt, principal, name, body.roles,
                                           body.display_name))


@router.post("/platforms/{name}/publish", response_model=PlatformDetail)
async def publish_platform(name: NameParam, rt: RuntimeDep, principal: PrincipalDep) -> PlatformDetail:
    """Let every tenant see and use your platform (for good); the profiles it maps must be published first."""
    return _detail(await run_in_threadpool(platforms.publish, rt, principal, name))


@router.post("/platforms/{name}/retire", response_model=PlatformDetail)
async def retire_platform(name: NameParam, rt: RuntimeDep, principal: PrincipalDep) -> PlatformDetail:
    """Stop your platform serving new listings, reports and pulls."""
    return _detail(await run_in_threadpool(platforms.retire, rt, principal, name))
