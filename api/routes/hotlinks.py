"""A tenant's hotlink rules: public or signed URLs, signing keys, allowed sites, revoked assets."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from api.deps import PrincipalDep, RuntimeDep, public_base
from registry.hotlink import service as rules
from workers import purge

router = APIRouter(prefix="/v1/hotlink", tags=["hotlink"])


class PolicyBody(BaseModel):
    """What a tenant sets."""

    signed: bool = False
    referrers: list[str] = Field(default_factory=list, max_length=rules.MAX_REFERRERS)


class PolicyAnswer(BaseModel):
    """A tenant's rules (never its secrets)."""

    signed: bool
    referrers: list[str]
    has_key: bool
    previous_key_valid_until: datetime | None


class KeyBody(BaseModel):
    """How long URLs signed with the previous key keep working."""

    grace_seconds: int = Field(7 * 86400, ge=0, le=90 * 86400)


class SignBody(BaseModel):
    """A variant path to sign, and for how long."""

    path: str = Field(min_length=4, max_length=300)
    expires_in: int | None = Field(None, ge=1, le=10 * 365 * 86400)


def _answer(view: rules.PolicyView) -> PolicyAnswer:
    return PolicyAnswer(signed=view.signed, referrers=list(view.referrers), has_key=view.has_key,
                        previous_key_valid_until=view.previous_key_valid_until)


@router.get("/policy", response_model=PolicyAnswer)
async def get_policy(rt: RuntimeDep, principal: PrincipalDep) -> PolicyAnswer:
    """Your hotlink rules."""
    return _answer(await run_in_threadpool(rules.view_policy, rt, principal.tenant_id))


@router.put("/policy", response_model=PolicyAnswer)
async def put_policy(body: PolicyBody, request: Request, rt: RuntimeDep, principal: PrincipalDep) -> PolicyAnswer:
    """Public or signed URLs for the assets you own, and the sites (Referer hosts) that may show them."""
    view = await run_in_threadpool(rules.set_policy, rt, principal, body.signed, body.referrers)
    request.app.hotlink.forget_rules()  # this process at once; the others within seconds
    return _answer(view)


@router.post("/keys")
async def rotate_key(body: KeyBody, request: Request, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, object]:
    """A new signing secret, shown once; the previous one is still accepted for `grace_seconds`."""
    secret = await run_in_threadpool(rules.rotate_key, rt, principal, body.grace_seconds)
    request.app.hotlink.forget_rules()
    return {"secret": secret, "scheme": "sig = base64url(HMAC-SHA256(secret, path or path + '?exp=' + exp)), "
                                        "no padding; query ?exp=UNIX_SECONDS&sig=… (exp optional)",
            "previous_key_valid_for_seconds": body.grace_seconds}


@router.post("/sign")
async def sign(body: SignBody, request: Request, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, str]:
    """A signed URL for a variant path, with your current key."""
    signed = await run_in_threadpool(rules.sign_path, rt, principal, body.path, body.expires_in)
    return {"url": public_base(request, rt) + signed}


@router.post("/revoke/{asset_id}")
async def revoke(asset_id: str, request: Request, rt: RuntimeDep, principal: PrincipalDep) -> dict[str, object]:
    """Withdraw an asset you own from every URL it had: this process at once, the others within seconds;
    the edges (SKUPIX_PURGE_URLS) and a CDN purge webhook are told by a durable job (retried until they
    answer); the paths are listed for your own caches."""
    # The hot path keeps immutable rows but checks revocation on every hit through a per-process cache
    # (api.hotlink._RULES_TTL): this process forgets the asset's entry at commit, before the purge job is
    # published, so an edge refreshed by the purge never gets the picture from here again.
    hotlink = request.app.hotlink
    job_id = await run_in_threadpool(rules.revoke_asset, rt, principal, asset_id,
                                     lambda: hotlink.forget_rules(asset_id))
    paths = await run_in_threadpool(purge.paths_of, rt, asset_id)
    return {"asset_id": asset_id, "paths": paths, "purge_job": job_id}
