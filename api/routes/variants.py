"""Public variant URLs: immutable content-addressed paths and stable aliases that redirect."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from api.delivery import delivery
from api.deps import RuntimeDep, public_base
from api.errors import ApiError
from api.urls import variant_path
from api.viewer import viewer_tenant
from registry.errors import RenderPending
from registry.models import utcnow
from registry.packs.terms import Visibility, check_asset_visible
from registry.variants import service as variants

router = APIRouter(tags=["variants"])

IMMUTABLE = "public, max-age=31536000, immutable"
YEAR = 31536000


def capped_cache_control(seen: Visibility, max_age: int, *, immutable: bool) -> str:
    """Cache-Control that never outlives a brand's expiry, and keeps brand-only (embargoed) pictures private."""
    if seen.restricted:
        return "private, no-store"
    if seen.until is not None:
        left = int((seen.until - utcnow()).total_seconds())
        return f"public, max-age={max(0, min(max_age, left))}"
    return IMMUTABLE if immutable else f"public, max-age={max_age}"


def _split_name(filename: str) -> tuple[str, str]:
    stem, dot, extension = filename.rpartition(".")
    if not dot or not stem or not extension:
        raise ApiError(404, "not_found", "variant URLs end in an image extension, e.g. .jpg")
    return stem, extension


def etag_matches(header: str | None, etag: str) -> bool:
    """RFC 9110 weak comparison for If-None-Match: any listed tag (or *) equal to ours."""
    if not header:
        return False
    for candidate in header.split(","):
        tag = candidate.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]
        if tag == etag:
            return True
    return False


@router.get("/v/{asset_id}/{profile}/{filename}", response_model=None)
async def immutable_variant(asset_id: str, profile: str, filename: str, request: Request,
                            rt: RuntimeDep) -> Response:
    """An immutable variant: strong ETag, cached for a year, rendered on first request if needed."""
    version, extension = _split_name(filename)
    seen = await run_in_threadpool(check_asset_visible, rt, asset_id, await viewer_tenant(request, rt))
    try:
        row = await run_in_threadpool(variants.locate, rt, asset_id, profile, version, extension)
    except RenderPending as pending:  # not rendered yet (AVIF): the next-best format, not to be cached
        fallback = rt.catalog.profile(pending.fallback)
        ref = await run_in_threadpool(variants.alias_target, rt, asset_id, fallback.name, fallback.extension)
        return RedirectResponse(public_base(request, rt) + variant_path(ref), status_code=307,
                                headers={"Cache-Control": "no-store"})
    etag = f'"{row.etag}"'
    headers = {
        "ETag": etag,
        "Cache-Control": capped_cache_control(seen, YEAR, immutable=True),
        "X-Content-Type-Options": "nosniff",
        "Access-Control-Allow-Origin": "*",
    }
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        return Response(status_code=200, headers={**headers, "Content-Length": str(row.size_bytes)},
                        media_type=row.content_type)
    sent = await run_in_threadpool(delivery, rt, row)
    if sent.redirect_url:
        return RedirectResponse(sent.redirect_url, status_code=302, headers={
            "Cache-Control": capped_cache_control(seen, rt.settings.alias_max_age_seconds, immutable=False)})
    if sent.chunks is not None:
        return StreamingResponse(sent.chunks, media_type=row.content_type,
                                 headers={**headers, "Content-Length": str(row.size_bytes)})
    return Response(content=sent.body, media_type=row.content_type, headers=headers)


@router.get("/v/{asset_id}/{filename}", response_model=None)
async def variant_alias(asset_id: str, filename: str, request: Request, rt: RuntimeDep) -> Response:
    """A stable alias per asset and profile; redirects to the current immutable URL."""
    profile, extension = _split_name(filename)
    seen = await run_in_threadpool(check_asset_visible, rt, asset_id, await viewer_tenant(request, rt))
    ref = await run_in_threadpool(variants.alias_target, rt, asset_id, profile, extension)
    return RedirectResponse(
        public_base(request, rt) + variant_path(ref),
        status_code=302,
        headers={"Cache-Control": capped_cache_control(seen, rt.settings.alias_max_age_seconds, immutable=False)},
    )


# HEAD answers like GET without a body; kept out of the OpenAPI schema so operation ids stay unique.
router.add_api_route("/v/{asset_id}/{profile}/{filename}", immutable_variant, methods=["HEAD"],
                     include_in_schema=False, response_model=None)
router.add_api_route("/v/{asset_id}/{filename}", variant_alias, methods=["HEAD"], include_in_schema=False,
                     response_model=None)
