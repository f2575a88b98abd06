"""Compliance of an asset's pictures with a marketplace's rules."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep, RuntimeDep, public_base
from api.schemas import ComplianceCheckInfo, ComplianceResponse, ProfileComplianceInfo
from api.urls import variant_path
from processing.compliance import Verdict
from registry.packs.terms import check_asset_visible
from registry.variants.compliance import platform_compliance

router = APIRouter(prefix="/v1", tags=["media"])


@router.get("/media/{asset_id}/compliance", response_model=ComplianceResponse)
async def media_compliance(asset_id: str, request: Request, rt: RuntimeDep, principal: PrincipalDep,
                           platform: str = Query(..., min_length=1, max_length=80)) -> ComplianceResponse:
    """Pixel size, enlargement, background purity, product fill, bytes, format and colour space of
    each of the platform's variants of the asset, pass/warn/fail against the platform's rules."""
    await run_in_threadpool(check_asset_visible, rt, asset_id, principal.tenant_id)  # embargo, expiry, revocation
    results = await run_in_threadpool(platform_compliance, rt, asset_id, platform, principal.tenant_id)
    base = public_base(request, rt)
    profiles = [
        ProfileComplianceInfo(
            profile=r.profile.name, roles=list(r.roles), verdict=r.report.verdict.value, rejected=r.report.rejected,
            url=base + variant_path(r.ref) if r.ref is not None else None, source=r.profile.source,
            checks=[ComplianceCheckInfo(name=c.name, verdict=c.verdict.value, value=c.value, rule=c.rule)
                    for c in r.report.checks],
        )
        for r in results
    ]
    worst = max((r.report.verdict for r in results), key=[Verdict.PASS, Verdict.WARN, Verdict.FAIL].index,
                default=Verdict.PASS)
    return ComplianceResponse(
        asset_id=asset_id, platform=platform, verdict=worst.value,
        rejected_roles=sorted(role for r in results if r.report.rejected for role in r.roles),
        profiles=profiles,
    )
