"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool

from api.deps import RuntimeDep
from registry.health import check

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz(rt: RuntimeDep) -> dict[str, str]:
    """Answer when the database and blob store are reachable."""
    return await run_in_threadpool(check, rt)
