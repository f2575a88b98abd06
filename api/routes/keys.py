"""A tenant's own API keys (list, issue, revoke, rotate) and its listing grants to platforms."""

from __future__ import annotations

from fastapi import APIRouter, Path
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep, RuntimeDep
from api.schemas import GrantRequest, GrantResponse, KeyInfoResponse, KeyRequest, NewKeyResponse
from registry.ids import ID_PATTERN
from registry.tenants import usecases
from registry.tenants.grants import GrantInfo
from registry.tenants.service import KeyInfo

router = APIRouter(prefix="/v1", tags=["keys"])

KeyId = Path(pattern=ID_PATTERN)


def _key(info: KeyInfo) -> KeyInfoResponse:
    return KeyInfoResponse(key_id=info.id, prefix=info.prefix, label=info.label, active=info.active,
                           created_at=info.created_at, expires_at=info.expires_at, last_used_at=info.last_used_at,
                           revoked_at=info.revoked_at)


def _new_key(info: KeyInfo, plain: str) -> NewKeyResponse:
    return NewKeyResponse(**_key(info).model_dump(), key=plain)


def _grant(info: GrantInfo) -> GrantResponse:
    return GrantResponse(grant_id=info.id, platform=info.platform, created_at=info.created_at)


@router.get("/keys", response_model=list[KeyInfoResponse])
async def list_keys(rt: RuntimeDep, principal: PrincipalDep) -> list[KeyInfoResponse]:
    """Your tenant's keys, newest first (prefixes only)."""
    return [_key(info) for info in await run_in_threadpool(usecases.own_keys, rt, principal)]


@router.post("/keys", response_model=NewKeyResponse, status_code=201)
async def create_key(body: KeyRequest, rt: RuntimeDep, principal: PrincipalDep) -> NewKeyResponse:
    """Issue another key for your tenant; the key is in this answer only."""
    info, plain = await run_in_threadpool(usecases.new_own_key, rt, principal, body.label, body.expires_at)
    return _new_key(info, plain)


@router.post("/keys/{key_id}/revoke", response_model=KeyInfoResponse)
async def revoke_key(rt: RuntimeDep, principal: PrincipalDep, key_id: str = KeyId) -> KeyInfoResponse:
    """Revoke one of your keys; it fails at once on every server."""
    return _key(await run_in_threadpool(usecases.revoke_own_key, rt, principal, key_id))


@router.post("/keys/{key_id}/rotate", response_model=NewKeyResponse, status_code=201)
async def rotate_key(body: KeyRequest, rt: RuntimeDep, principal: PrincipalDep,
                     key_id: str = KeyId) -> NewKeyResponse:
    """Replace one of your keys: a new key, the old one revoked in the same step."""
    info, plain = await run_in_threadpool(usecases.rotate_own_key, rt, principal, key_id, body.expires_at)
    return _new_key(info, plain)


@router.get("/grants", response_model=list[GrantResponse])
async def list_grants(rt: RuntimeDep, principal: PrincipalDep) -> list[GrantResponse]:
    """The platforms you share your listings with."""
    return [_grant(info) for info in await run_in_threadpool(usecases.own_grants, rt, principal)]


@router.post("/grants", response_model=GrantResponse, status_code=201)
async def create_grant(body: GrantRequest, rt: RuntimeDep, principal: PrincipalDep) -> GrantResponse:
    """Let a platform tenant read your SKU listings (sellers only)."""
    return _grant(await run_in_threadpool(usecases.share_with_platform, rt, principal, body.platform))


@router.delete("/grants/{grant_id}", status_code=204)
async def delete_grant(rt: RuntimeDep, principal: PrincipalDep, grant_id: str = Path(pattern=ID_PATTERN)) -> None:
    """Stop sharing your listings with a platform."""
    await run_in_threadpool(usecases.withdraw_grant, rt, principal, grant_id)
