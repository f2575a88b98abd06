"""Usage analytics for the caller's tenant: hotlink hits, referring sites, what deduplication saved."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep, RuntimeDep
from api.routes.console import CONTENT_SECURITY_POLICY, PAGE
from registry.tenants.service import TenantKind
from registry.usage import service as usage

router = APIRouter(prefix="/v1", tags=["stats"])
pages = APIRouter(include_in_schema=False)
DASHBOARD = PAGE.with_name("usage.html")


@pages.get("/console/usage")
def usage_page() -> HTMLResponse:
    """The usage dashboard: a chart of hotlink hits per day and the most hotlinked pictures."""
    return HTMLResponse(DASHBOARD.read_text(encoding="utf-8"), headers={
        "Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin", "Cache-Control": "no-cache"})


@router.get("/stats")
async def stats(rt: RuntimeDep, principal: PrincipalDep, days: int = Query(30, ge=1, le=366),
                top: int = Query(20, ge=1, le=200)) -> dict[str, Any]:
    """Hits per day, per asset (its SKUs, the sites showing it, how many shops use it) and per SKU, uploads
    deduplicated, bytes saved; for a brand key also `brand`: its catalogue and pack pictures among other
    shops (counts of shops, never which)."""
    found = await run_in_threadpool(usage.tenant_usage, rt, principal.tenant_id, days, top,
                                    brand=principal.kind == TenantKind.BRAND)
    body = asdict(found)
    body["since"] = found.since.isoformat()
    body["by_day"] = _days(found.by_day)
    if found.brand is not None:
        body["brand"]["by_day"] = _days(found.brand.by_day)
    body["assumption"] = (f"design work avoided = pictures reused (uploads deduplicated, and for a brand also its "
                          f"pictures shops show through pack links) x {usage.MINUTES_PER_REUSED_PICTURE} minutes "
                          "(one marketplace retouch of a product photo spared per reused picture)")
    return body


def _days(by_day: tuple[tuple[Any, int], ...]) -> list[dict[str, Any]]:
    return [{"day": day.isoformat(), "hits": hits} for day, hits in by_day]
