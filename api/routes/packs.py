"""Brand packs: compose, publish with terms, subscribe, link SKUs, pull as manifest or streamed ZIP, webhooks."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from zipstream import ZIP_STORED, ZipStream

from api.deps import PrincipalDep, RuntimeDep, public_base
from api.errors import ApiError
from api.urls import variant_path
from registry.packs import service as packs
from registry.packs.events import DeliveryView
from registry.runtime import Runtime

router = APIRouter(tags=["packs"])

VersionPath = Annotated[str, Query(max_length=20)]


class PackIn(BaseModel):
    """A pack draft: title and products by GTIN."""

    title: Annotated[str, Field(max_length=300)] = ""
    gtins: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=5000)


class PublishIn(BaseModel):
    """A publication: changelog and the terms that travel with the version."""

    changelog: Annotated[str, Field(max_length=20_000)] = ""
    licence: Annotated[str, Field(max_length=20_000)] = ""
    platforms: list[Annotated[str, Field(max_length=40)]] = Field(default_factory=list, max_length=50)
    embargo_until: datetime | None = None
    expires_at: datetime | None = None


class TermsOut(BaseModel):
    """A version's terms."""

    licence: str
    platforms: list[str]
    embargo_until: datetime | None
    expires_at: datetime | None


class VersionOut(BaseModel):
    """A published version."""

    brand: str
    pack: str
    version: int
    changelog: str
    terms: TermsOut
    published_at: datetime
    embargoed: bool
    expired: bool
    products: list[dict[str, object]]


class PackOut(BaseModel):
    """A pack as the caller may see it."""

    brand: str
    name: str
    title: str
    draft_gtins: list[str]
    subscribed: bool
    versions: list[VersionOut]


class SubscribeIn(BaseModel):
    """Where to send change events (optional)."""

    webhook_url: Annotated[str, Field(max_length=2000)] = ""


class SubscriptionOut(BaseModel):
    """A subscription; keep the secret to check webhook signatures."""

    id: str
    brand: str
    pack: str
    webhook_url: str
    webhook_secret: str


class LinkIn(BaseModel):
    """Show a brand product (by GTIN, from a subscribed pack) under your own SKU."""

    sku: Annotated[str, Field(min_length=1, max_length=1000)]
    gtin: Annotated[str, Field(min_length=1, max_length=40)]
    brand: Annotated[str, Field(min_length=1, max_length=200)]
    pack: Annotated[str, Field(min_length=1, max_length=100)]
    pinned_version: Annotated[int | None, Field(ge=1)] = None


class LinkOut(BaseModel):
    """A linked SKU and the version it shows."""

    sku: str
    gtin: str
    brand: str
    pack: str
    pinned_version: int | None
    following_version: int | None


class ManifestFileOut(BaseModel):
    """One file of a pull."""

    sku: str
    gtin: str
    slot: str
    file: str
    size: int
    sha256: str
    asset_id: str
    profile: str
    url: str


class RejectedFileOut(BaseModel):
    """A slot the platform would reject: reported with its reason, never produced."""

    sku: str
    gtin: str
    slot: str
    asset_id: str
    profile: str
    code: str
    reason: str


class ManifestOut(BaseModel):
    """A pull's file list with checksums, and the slots left out because the platform would reject them."""

    title: str
    platform: str
    version: int | None
    not_after: datetime | None
    files: list[ManifestFileOut]
    rejected: list[RejectedFileOut] = []


class DeliveryOut(BaseModel):
    """A webhook delivery and its attempts."""

    id: str
    event: str
    status: str
    attempts: int
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None
    log: list[dict[str, object]]
    body: str


def _version_out(view: packs.VersionView) -> VersionOut:
    return VersionOut(
        brand=view.brand, pack=view.pack, version=view.number, changelog=view.changelog,
        terms=TermsOut(licence=view.terms.licence, platforms=list(view.terms.platforms),
                       embargo_until=view.terms.embargo_until, expires_at=view.terms.expires_at),
        published_at=view.published_at, embargoed=view.embargoed, expired=view.expired,
        products=[dict(item) for item in view.contents],
    )


def _pack_out(view: packs.PackView) -> PackOut:
    return PackOut(brand=view.brand, name=view.name, title=view.title, draft_gtins=list(view.draft_gtins),
                   subscribed=view.subscribed, versions=[_version_out(v) for v in view.versions])


def _delivery_out(view: DeliveryView) -> DeliveryOut:
    return DeliveryOut(id=view.id, event=view.event, status=view.status, attempts=view.attempts,
                       created_at=view.created_at, delivered_at=view.delivered_at,
                       next_attempt_at=view.next_attempt_at, log=list(view.log), body=view.body)


def slot_label(role: str, position: int) -> str:
    """A slot as manifests name it: main, gallery-1, …"""
    return "main" if role == "main" and position == 0 else f"{role}-{position + 1}"


def _manifest_out(base: str, manifest: packs.Manifest) -> ManifestOut:
    return ManifestOut(title=manifest.title, platform=manifest.platform, version=manifest.version,
                       not_after=manifest.not_after,
                       files=[ManifestFileOut(sku=f.sku, gtin=f.gtin, slot=slot_label(f.role, f.position), file=f.file,
                                              size=f.size, sha256=f.sha256, asset_id=f.asset_id, profile=f.profile,
                                              url=base + variant_path(f.ref)) for f in manifest.files],
                       rejected=[RejectedFileOut(sku=r.sku, gtin=r.gtin, slot=slot_label(r.role, r.position),
                                                 asset_id=r.asset_id, profile=r.profile, code=r.code, reason=r.reason)
                                 for r in manifest.rejected])


def zip_chunks(rt: Runtime, base: str, manifest: packs.Manifest) -> ZipStream:
    """A ZIP of the manifest's files plus manifest.json and manifest.csv, produced as it is sent."""
    stream = ZipStream(compress_type=ZIP_STORED, sized=True)
    described = _manifest_out(base, manifest)
    for item in manifest.files:
        stream.add(rt.store.iter_chunks(item.blob_key), item.file, size=item.size)
    as_json = described.model_dump_json(indent=2).encode()
    stream.add(as_json, "manifest.json")
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["sku", "gtin", "slot", "file", "size", "sha256"])
    for row in described.files:
        writer.writerow([row.sku, row.gtin, row.slot, row.file, row.size, row.sha256])
    stream.add(table.getvalue().encode(), "manifest.csv")
    return stream


def _zip_response(rt: Runtime, request: Request, manifest: packs.Manifest, name: str) -> Response:
    stream = zip_chunks(rt, public_base(request, rt), manifest)
    disposition = f"attachment; filename=\"download.zip\"; filename*=UTF-8''{quote(name)}"
    headers = {"Content-Disposition": disposition, "Content-Length": str(len(stream)), "Cache-Control": "no-store"}
    chunks: Iterator[bytes] = iter(stream)
    return StreamingResponse(chunks, media_type="application/zip", headers=headers)


BRAND_PAGE = Path(__file__).resolve().parent.parent / "static" / "brands.html"
# The console's policy plus blob: pictures (previews are fetched with the key, so embargoed ones show).
BRAND_PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data: blob: *; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
    "form-action 'none'"
)


@router.get("/console/brands", include_in_schema=False)
def brand_console() -> HTMLResponse:
    """Brands compose, preview and publish packs; sellers browse, subscribe and download ZIPs."""
    return HTMLResponse(BRAND_PAGE.read_text(encoding="utf-8"), headers={
        "Content-Security-Policy": BRAND_PAGE_POLICY, "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin", "Cache-Control": "no-cache"})


@router.put("/v1/packs/{name}", response_model=PackOut)
async def save_pack(name: str, body: PackIn, rt: RuntimeDep, principal: PrincipalDep) -> PackOut:
    """Create or replace your pack's draft (brand keys only)."""
    return _pack_out(await run_in_threadpool(packs.save_pack, rt, principal, name, body.title, body.gtins))


@router.post("/v1/packs/{name}/publish", response_model=VersionOut, status_code=201)
async def publish(name: str, body: PublishIn, rt: RuntimeDep, principal: PrincipalDep) -> VersionOut:
    """Publish your pack's draft as its next immutable version, with terms; subscribers are told."""
    terms = packs.Terms(licence=body.licence, platforms=tuple(body.platforms), embargo_until=body.embargo_until,
                        expires_at=body.expires_at)
    return _version_out(await run_in_threadpool(packs.publish, rt, principal, name, body.changelog, terms))


@router.get("/v1/packs", response_model=list[PackOut])
async def list_packs(rt: RuntimeDep, principal: PrincipalDep) -> list[PackOut]:
    """Packs you may see: yours and every brand's released ones."""
    return [_pack_out(v) for v in await run_in_threadpool(packs.list_packs, rt, principal)]


@router.get("/v1/packs/{brand}/{name}", response_model=PackOut)
async def get_pack(brand: str, name: str, rt: RuntimeDep, principal: PrincipalDep) -> PackOut:
    """One pack with the versions you may see."""
    return _pack_out(await run_in_threadpool(packs.get_pack, rt, principal, brand, name))


@router.get("/v1/packs/{brand}/{name}/versions/{version}", response_model=VersionOut)
async def get_version(brand: str, name: str, version: str, rt: RuntimeDep, principal: PrincipalDep) -> VersionOut:
    """One published version ('latest' or a number)."""
    return _version_out(await run_in_threadpool(packs.get_version, rt, principal, brand, name, version))


@router.get("/v1/packs/{brand}/{name}/versions/{version}/manifest", response_model=ManifestOut)
async def pack_manifest(brand: str, name: str, version: str, request: Request, rt: RuntimeDep,
                        principal: PrincipalDep, platform: str = Query(..., min_length=1, max_length=80),
                        naming: str | None = Query(None, max_length=10)) -> ManifestOut:
    """Every file of a version for a platform, with names, sizes, SHA-256 and immutable URLs."""
    manifest = await run_in_threadpool(packs.pack_manifest, rt, principal, brand, name, version, platform, naming)
    return _manifest_out(public_base(request, rt), manifest)


@router.get("/v1/packs/{brand}/{name}/versions/{version}/zip", response_model=None)
async def pack_zip(brand: str, name: str, version: str, request: Request, rt: RuntimeDep, principal: PrincipalDep,
                   platform: str = Query(..., min_length=1, max_length=80),
                   naming: str | None = Query(None, max_length=10)) -> Response:
    """A version as a ZIP for a platform (files named by its convention, manifests inside), streamed."""
    manifest = await run_in_threadpool(packs.pack_manifest, rt, principal, brand, name, version, platform, naming)
    return _zip_response(rt, request, manifest, f"{brand}-{name}-v{manifest.version}-{platform}.zip")


@router.post("/v1/packs/{brand}/{name}/subscribe", response_model=SubscriptionOut)
async def subscribe(brand: str, name: str, body: SubscribeIn, rt: RuntimeDep,
                    principal: PrincipalDep) -> SubscriptionOut:
    """Follow a brand's pack; webhooks go to `webhook_url`, signed with the returned secret."""
    view = await run_in_threadpool(packs.subscribe, rt, principal, brand, name, body.webhook_url)
    return SubscriptionOut(id=view.id, brand=view.brand, pack=view.pack, webhook_url=view.webhook_url,
                           webhook_secret=view.webhook_secret)


@router.get("/v1/subscriptions", response_model=list[SubscriptionOut])
async def list_subscriptions(rt: RuntimeDep, principal: PrincipalDep) -> list[SubscriptionOut]:
    """Your subscriptions."""
    return [SubscriptionOut(id=v.id, brand=v.brand, pack=v.pack, webhook_url=v.webhook_url,
                            webhook_secret=v.webhook_secret)
            for v in await run_in_threadpool(packs.subscriptions, rt, principal)]


@router.get("/v1/subscriptions/{subscription_id}/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(subscription_id: str, rt: RuntimeDep, principal: PrincipalDep,
                          limit: int = Query(50, ge=1, le=500)) -> list[DeliveryOut]:
    """The delivery log of one of your subscriptions, newest first."""
    rows = await run_in_threadpool(packs.deliveries, rt, principal, subscription_id, limit)
    return [_delivery_out(v) for v in rows]


@router.post("/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver", response_model=DeliveryOut)
async def redeliver(subscription_id: str, delivery_id: str, rt: RuntimeDep, principal: PrincipalDep) -> DeliveryOut:
    """Send a delivery again."""
    return _delivery_out(await run_in_threadpool(packs.redeliver, rt, principal, subscription_id, delivery_id))


@router.post("/v1/links", response_model=LinkOut)
async def link(body: LinkIn, rt: RuntimeDep, principal: PrincipalDep) -> LinkOut:
    """Show a subscribed brand product under your SKU; it follows new versions unless pinned."""
    view = await run_in_threadpool(packs.link_sku, rt, principal, body.sku, body.gtin, body.brand, body.pack,
                                   body.pinned_version)
    return _link_out(view)


def _link_out(view: packs.LinkView) -> LinkOut:
    return LinkOut(sku=view.sku, gtin=view.gtin, brand=view.brand, pack=view.pack, pinned_version=view.pinned_version,
                   following_version=view.following_version)


@router.get("/v1/links/{sku:path}", response_model=LinkOut)
async def get_link(sku: str, rt: RuntimeDep, principal: PrincipalDep) -> LinkOut:
    """A linked SKU and the version it shows now."""
    return _link_out(await run_in_threadpool(packs.describe_link, rt, principal, sku))


@router.get("/v1/skus/{sku:path}/manifest", response_model=ManifestOut)
async def sku_manifest(sku: str, request: Request, rt: RuntimeDep, principal: PrincipalDep,
                       platform: str = Query(..., min_length=1, max_length=80),
                       naming: str | None = Query(None, max_length=10)) -> ManifestOut:
    """Your SKU's files for a platform (its linked brand product's, else its own), with checksums."""
    manifest = await run_in_threadpool(packs.sku_manifest, rt, principal, sku, platform, naming)
    return _manifest_out(public_base(request, rt), manifest)


@router.get("/v1/skus/{sku:path}/zip", response_model=None)
async def sku_zip(sku: str, request: Request, rt: RuntimeDep, principal: PrincipalDep,
                  platform: str = Query(..., min_length=1, max_length=80),
                  naming: str | None = Query(None, max_length=10)) -> Response:
    """Your SKU's listing as a ZIP for a platform, streamed."""
    manifest = await run_in_threadpool(packs.sku_manifest, rt, principal, sku, platform, naming)
    return _zip_response(rt, request, manifest, f"{manifest.title}-{platform}.zip")


@router.get("/l/{link_id}/{platform}/{filename}", response_model=None)
async def follow_alias(link_id: str, platform: str, filename: str, request: Request, rt: RuntimeDep) -> Response:
    """A seller listing's stable picture URL: redirects to the followed version's current immutable URL."""
    slot, dot, extension = filename.rpartition(".")
    role, dash, position = slot.rpartition("-")
    if not dot or not dash or not position.isascii() or not position.isdigit() or len(position) > 3:
        raise ApiError(404, "not_found", "follow URLs end in ROLE-POSITION.EXT, e.g. main-0.jpg")
    ref = await run_in_threadpool(packs.follow_target, rt, link_id, platform, role, int(position), extension)
    return RedirectResponse(public_base(request, rt) + variant_path(ref), status_code=302,
                            headers={"Cache-Control": f"public, max-age={rt.settings.alias_max_age_seconds}"})


