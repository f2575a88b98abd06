"""Uploads, assets, search by picture, and manual split/merge."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep, RuntimeDep, SearchFormDep, UploadFormDep, public_base
from api.limits import decode_gate
from api.presenters import asset_response, thumb_url
from api.schemas import (
    AssetResponse,
    MeResponse,
    MergeRequest,
    SearchHitResponse,
    SearchResponse,
    SplitRequest,
    UploadDetail,
    UploadResponse,
)
from api.urls import asset_url
from registry.ids import ID_PATTERN
from registry.media import service as media
from registry.records import UploadRecord
from registry.runtime import Runtime
from registry.tenants.service import ROLE_PERMISSIONS
from registry.variants.compliance import asset_verdicts

router = APIRouter(prefix="/v1", tags=["media"])


@router.post("/media", response_model=UploadResponse, status_code=201,
             responses={200: {"model": UploadResponse, "description": "resolved to an existing asset"}})
async def create_media(request: Request, rt: RuntimeDep, principal: PrincipalDep, form: UploadFormDep) -> JSONResponse:
    """Upload a picture; exact and near copies resolve to their canonical asset."""
    command = media.UploadCommand(data=form.data, filename=form.filename, slot=form.slot,
                                  ai_content=form.ai_content)
    async with decode_gate(request).slot(len(form.data)):
        outcome = await run_in_threadpool(media.upload, rt, principal, command)
    body = UploadResponse(
        asset_id=outcome.asset_id, upload_id=outcome.upload_id, dedup=outcome.dedup, created=outcome.created,
        promoted=outcome.promoted, sku=outcome.sku, role=outcome.role, position=outcome.position,
        asset_url=asset_url(public_base(request, rt), outcome.asset_id),
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=201 if outcome.created else 200)


@router.get("/media/{asset_id}", response_model=AssetResponse)
async def get_media(asset_id: str, request: Request, rt: RuntimeDep, principal: PrincipalDep) -> AssetResponse:
    """An asset's public facts and every profile's variant URL."""
    view = await run_in_threadpool(media.describe_asset, rt, asset_id)
    reports = await run_in_threadpool(asset_verdicts, rt, view.asset, view.variants)
    return asset_response(rt, public_base(request, rt), view.asset, view.uploads, view.variants, principal.tenant_id,
                          reports)


@router.post("/media/search", response_model=SearchResponse)
async def search_media(
    request: Request, rt: RuntimeDep, principal: PrincipalDep, form: SearchFormDep
) -> SearchResponse:
    """Find canonical assets showing the same picture; nothing is stored."""
    async with decode_gate(request).slot(len(form.data)):
        hits, explanation = await run_in_threadpool(media.search, rt, form.data, principal)
    base = public_base(request, rt)
    return SearchResponse(
        matches=[SearchHitResponse(asset_id=h.asset_id, score=h.score, hash_distance=h.hash_distance,
                                   asset_url=asset_url(base, h.asset_id),
                                   thumb_url=thumb_url(rt, base, h.asset_id), verification=h.verification)
                 for h in hits],
        explanation=explanation,
    )


@router.post("/media/{asset_id}/split", response_model=AssetResponse, status_code=201)
async def split_media(asset_id: str, body: SplitRequest, request: Request, rt: RuntimeDep,
                      principal: PrincipalDep) -> AssetResponse:
    """Take a wrongly merged upload out of an asset into an asset of its own."""
    new_asset = await run_in_threadpool(media.split, rt, principal, asset_id, body.upload_id)
    view = await run_in_threadpool(media.describe_asset, rt, new_asset.id)
    return asset_response(rt, public_base(request, rt), view.asset, view.uploads, view.variants,
                          principal.tenant_id)


@router.post("/media/{asset_id}/merge", response_model=AssetResponse)
async def merge_media(asset_id: str, body: MergeRequest, request: Request, rt: RuntimeDep,
                      principal: PrincipalDep) -> AssetResponse:
    """Fold a missed duplicate asset into this one."""
    target = await run_in_threadpool(media.merge, rt, principal, asset_id, body.duplicate_asset_id)
    view = await run_in_threadpool(media.describe_asset, rt, target.id)
    return asset_response(rt, public_base(request, rt), view.asset, view.uploads, view.variants,
                          principal.tenant_id)


def _upload_detail(rt: Runtime, base: str, row: UploadRecord) -> UploadDetail:
    return UploadDetail(
        upload_id=row.id, asset_id=row.asset_id, dedup=row.dedup, filename=row.filename, sha256=row.sha256,
        format=row.format, width=row.width, height=row.height, size_bytes=row.size_bytes,
        created_at=row.created_at, match=row.match, thumb_url=thumb_url(rt, base, row.asset_id),
    )


@router.get("/uploads", response_model=list[UploadDetail])
async def list_uploads(request: Request, rt: RuntimeDep, principal: PrincipalDep,
                       limit: int = Query(50, ge=1, le=500),
                       before: str | None = Query(None, pattern=ID_PATTERN)) -> list[UploadDetail]:
    """Your uploads, newest first; page with `before` (an upload id)."""
    rows = await run_in_threadpool(media.recent_uploads, rt, principal, limit, before)
    base = public_base(request, rt)
    return [_upload_detail(rt, base, row) for row in rows]


@router.get("/uploads/{upload_id}", response_model=UploadDetail)
async def get_upload(upload_id: str, request: Request, rt: RuntimeDep, principal: PrincipalDep) -> UploadDetail:
    """One of your uploads and how it matched."""
    row = await run_in_threadpool(media.describe_upload, rt, principal, upload_id)
    return _upload_detail(rt, public_base(request, rt), row)


@router.get("/me", response_model=MeResponse)
async def me(rt: RuntimeDep, principal: PrincipalDep) -> MeResponse:
    """Who the API key belongs to and what its kind may do (dedup thresholds are not published)."""
    return MeResponse(
        tenant_id=principal.tenant_id, tenant_name=principal.tenant_name, kind=principal.kind.value,
        can_upload=principal.can_upload,
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[principal.kind]),
    )
