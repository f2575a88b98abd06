"""SKUs and their listings per platform (platforms: api/routes/platforms.py, profiles: api/routes/profiles.py)."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep, RuntimeDep, public_base
from api.schemas import ListingResponse, ListingSlot, SkuSummary
from api.urls import alias_path, follow_path, variant_path
from registry.packs import service as packs
from registry.packs.terms import visible_asset_ids
from registry.platforms import service as platforms
from registry.runtime import Runtime
from registry.skus import service as skus
from registry.tenants import usecases
from registry.variants.compliance import listing_reports
from registry.variants.service import current_ref

router = APIRouter(prefix="/v1", tags=["skus"])


@router.get("/skus", response_model=list[SkuSummary])
async def list_skus(rt: RuntimeDep, principal: PrincipalDep, limit: int = Query(100, ge=1, le=1000),
                    after: str | None = Query(None, max_length=1000),
                    seller: str | None = Query(None, max_length=200)) -> list[SkuSummary]:
    """Your SKUs, ordered by code; page with `after`. Platform keys name a `seller` that shares with them."""
    # `after` is checked like a SKU once NFC-normalised: a decomposed spelling may be longer than 200.
    owner = await run_in_threadpool(usecases.listing_owner, rt, principal, seller)
    page = await run_in_threadpool(skus.tenant_skus, rt, owner, limit, after)
    return [SkuSummary(sku=code, slots=count) for code, count in page]


@router.get("/skus/{sku:path}/listing", response_model=ListingResponse)
async def sku_listing(sku: str, request: Request, rt: RuntimeDep, principal: PrincipalDep,
                      platform: str = Query(..., min_length=1, max_length=80),
                      seller: str | None = Query(None, max_length=200)) -> ListingResponse:
    """A SKU's images with the platform's variant URLs, in listing order; platform keys name a `seller`."""
    owner = await run_in_threadpool(usecases.listing_owner, rt, principal, seller)
    chosen = await run_in_threadpool(platforms.resolve, rt, principal.tenant_id, platform)
    linked = await run_in_threadpool(packs.link_listing, rt, owner, sku, platform, principal.tenant_id)
    if linked is not None:  # a SKU linked to a brand product shows the brand's slots, not its own
        return _linked_listing(request, rt, platform, *linked)
    code, entries = await run_in_threadpool(skus.tenant_listing, rt, owner, sku, chosen.roles)
    shown = await run_in_threadpool(visible_asset_ids, rt, [e.asset.id for e in entries], owner)
    entries = [e for e in entries if e.asset.id in shown]  # a brand's embargo or expiry hides its pictures
    reports = await run_in_threadpool(listing_reports, rt, [(entry.asset, entry.profile) for entry in entries])
    base = public_base(request, rt)
    slots = []
    for entry, report in zip(entries, reports, strict=True):
        ref = current_ref(entry.asset, entry.profile)
        slots.append(ListingSlot(
            role=entry.role, position=entry.position, asset_id=entry.asset.id, profile=entry.profile.name,
            url=base + variant_path(ref), alias_url=base + alias_path(entry.asset.id, entry.profile),
            content_type=entry.profile.content_type,
            file_name=skus.listing_file_name(code, entry.role, entry.position, entry.profile.extension),
            compliance=report.verdict.value if report is not None else None,
            rejected=report is not None and report.rejected,
        ))
    return ListingResponse(sku=code, platform=platform, slots=slots)


def _linked_listing(request: Request, rt: Runtime, platform: str, code: str,
                    entries: list[packs.LinkedEntry]) -> ListingResponse:
    """A SKU that shows a brand product: alias URLs follow the brand's next published version."""
    base = public_base(request, rt)
    return ListingResponse(sku=code, platform=platform, slots=[ListingSlot(
        role=e.role, position=e.position, asset_id=e.asset.id, profile=e.profile.name,
        url=base + variant_path(current_ref(e.asset, e.profile)),
        alias_url=base + follow_path(e.link_id, platform, e.role, e.position, e.profile.extension),
        content_type=e.profile.content_type,
        file_name=skus.listing_file_name(code, e.role, e.position, e.profile.extension),
    ) for e in entries])
