"""Who is looking at a public URL: the tenant behind an optional bearer key (brands see their embargoes)."""

from __future__ import annotations

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from api.deps import bearer_key
from registry.errors import Unauthenticated
from registry.runtime import Runtime
from registry.tenants.service import authenticate


def _tenant(rt: Runtime, header: str) -> str | None:
    try:
        return authenticate(rt, bearer_key(header)).tenant_id
    except Unauthenticated:
        return None  # public URLs work without a key; a bad key only means "anonymous"


async def viewer_tenant(request: Request, rt: Runtime) -> str | None:
    """The tenant id of the request's bearer key, or None when there is no valid key."""
    header = request.headers.get("authorization")
    if not header:
        return None
    return await run_in_threadpool(_tenant, rt, header)
