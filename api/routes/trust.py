"""An asset owner's view of its master's history, and putting the previous master back."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep, RuntimeDep, public_base
from api.presenters import asset_response
from api.schemas import AssetResponse, MasterChangeResponse
from registry.media import service as media
from registry.media import trust

router = APIRouter(prefix="/v1", tags=["media"])


@router.get("/media/{asset_id}/master-history", response_model=list[MasterChangeResponse])
async def master_history(asset_id: str, rt: RuntimeDep, principal: PrincipalDep) -> list[MasterChangeResponse]:
    """Every change of your asset's master: why, from which upload to which (owner only)."""
    changes = await run_in_threadpool(trust.master_history, rt, principal, asset_id)
    return [MasterChangeResponse(change_id=c.id, reason=c.reason, previous_upload_id=c.previous_upload_id,
                                 new_upload_id=c.new_upload_id, created_at=c.created_at) for c in changes]


@router.post("/media/{asset_id}/restore-master", response_model=AssetResponse)
async def restore_master(asset_id: str, request: Request, rt: RuntimeDep, principal: PrincipalDep) -> AssetResponse:
    """Undo the latest change of your asset's master (recorded as a change too)."""
    change = await run_in_threadpool(trust.restore_previous_master, rt, principal, asset_id)
    view = await run_in_threadpool(media.describe_asset, rt, change.asset_id)
    return asset_response(rt, public_base(request, rt), view.asset, view.uploads, view.variants, principal.tenant_id)
