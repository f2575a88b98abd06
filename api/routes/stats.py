"""Usage analytics for the caller's tenant: hotlink hits, referring sites, what deduplication saved."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep, RuntimeDep
from api.routes.console import CONTENT_SECURITY_POLICY, PAGE
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
    """Hits per day and per asset (with its SKUs and the sites showing it), uploads deduplicated, bytes saved."""
    found = await run_in_threadpool(usage.tenant_usage, rt, principal.tenant_id, days, top)
    body = asdict(found)
    body["since"] = found.since.isoformat()
    body["by_day"] = [{"day": day.isoformat(), "hits": hits} for day, hits in found.by_day]
    body["assumption"] = (f"design work avoided = uploads deduplicated x {usage.MINUTES_PER_REUSED_PICTURE} "
                          "minutes (one marketplace retouch of a product photo spared per reused picture)")
    return body
