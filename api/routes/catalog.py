"""A brand's product catalogue: products by SKU and GTIN, CSV import, official pictures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import PrincipalDep, RuntimeDep
from api.errors import ApiError
from processing.errors import FileTooLarge
from registry.catalog import service as catalog
from registry.packs import service as packs

router = APIRouter(prefix="/v1/catalog", tags=["catalog"])

MAX_CSV_BYTES = 20 * 1024 * 1024


class ProductIn(BaseModel):
    """A product to create or update (matched by GTIN)."""

    sku: Annotated[str, Field(min_length=1, max_length=1000)]
    gtin: Annotated[str, Field(min_length=1, max_length=40)]
    title: Annotated[str, Field(max_length=2000)] = ""
    attributes: dict[str, str] = Field(default_factory=dict)


class SlotOut(BaseModel):
    """An official picture slot."""

    role: str
    position: int
    facet: str
    asset_id: str


class ProductOut(BaseModel):
    """A product with its official slots."""

    sku: str
    gtin: str
    title: str
    attributes: dict[str, object]
    slots: list[SlotOut]


class ImportOut(BaseModel):
    """What an import did."""

    created: int
    updated: int


class OfficialMediaOut(BaseModel):
    """An official picture placed in a product slot."""

    gtin: str
    role: str
    position: int
    facet: str
    asset_id: str
    upload_id: str
    dedup: str
    master_changed: bool


class RevokeOut(BaseModel):
    """How many pack rows a revocation touched."""

    asset_id: str
    revoked: int


def product_out(view: catalog.ProductView) -> ProductOut:
    """The JSON shape of a product."""
    return ProductOut(sku=view.sku, gtin=view.gtin, title=view.title, attributes=view.attributes,
                      slots=[SlotOut(role=s.role, position=s.position, facet=s.facet, asset_id=s.asset_id)
                             for s in view.slots])


@router.post("/products", response_model=ProductOut)
async def put_product(body: ProductIn, rt: RuntimeDep, principal: PrincipalDep) -> ProductOut:
    """Create or update a product of your catalogue (brand keys only)."""
    item = catalog.ProductInput(sku=body.sku, gtin=body.gtin, title=body.title, attributes=body.attributes)
    return product_out(await run_in_threadpool(catalog.register, rt, principal, item))


@router.get("/products", response_model=list[ProductOut])
async def list_products(rt: RuntimeDep, principal: PrincipalDep, limit: int = Query(100, ge=1, le=1000),
                        after: str | None = Query(None, max_length=14)) -> list[ProductOut]:
    """Your products ordered by GTIN; page with `after` (a GTIN)."""
    return [product_out(v) for v in await run_in_threadpool(catalog.list_products, rt, principal, limit, after)]


@router.get("/products/{gtin}", response_model=ProductOut)
async def get_product(gtin: str, rt: RuntimeDep, principal: PrincipalDep) -> ProductOut:
    """One of your products by GTIN (8, 12, 13 or 14 digits)."""
    return product_out(await run_in_threadpool(catalog.get_product, rt, principal, gtin))


@router.post("/import", response_model=ImportOut)
async def import_products(request: Request, rt: RuntimeDep, principal: PrincipalDep) -> ImportOut:
    """Import a UTF-8 CSV (columns sku, gtin, title, then attributes): all lines or none, errors per line."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_CSV_BYTES:
        raise FileTooLarge(f"a catalogue CSV may have at most {MAX_CSV_BYTES} bytes")
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > MAX_CSV_BYTES:
            raise FileTooLarge(f"a catalogue CSV may have at most {MAX_CSV_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(422, "invalid_encoding", f"the CSV is not UTF-8 (byte {exc.start})") from exc
    report = await run_in_threadpool(catalog.import_csv, rt, principal, text)
    return ImportOut(created=report.created, updated=report.updated)


@router.post("/products/{gtin}/media", response_model=OfficialMediaOut, status_code=201)
async def add_media(gtin: str, request: Request, rt: RuntimeDep, principal: PrincipalDep) -> OfficialMediaOut:
    """Upload an official picture of your product into a slot (role/position, or a GS1 facet like C1N1)."""
    catalog.require_brand(principal)
    limit = rt.limits.max_bytes
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ApiError(415, "multipart_required", "send the picture as multipart/form-data with a 'file' field")
    async with request.form(max_files=1, max_fields=8, max_part_size=64 * 1024) as form:
        unknown = sorted(set(form.keys()) - {"file", "role", "position", "facet"})
        if unknown:
            raise ApiError(422, "unknown_field", f"unknown form fields: {', '.join(unknown)}", fields=unknown)
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise ApiError(422, "file_missing", "the form needs a 'file' field holding the picture")
        data = await upload.read(limit + 1)
        if len(data) > limit:
            raise FileTooLarge(f"the file has more than {limit} bytes")
        fields = {name: form.get(name) for name in ("role", "position", "facet")}
        if any(value is not None and not isinstance(value, str) for value in fields.values()):
            raise ApiError(422, "invalid_field", "role, position and facet must be plain text fields")
        filename = upload.filename or ""
    role, position, facet = catalog.parse_official_slot(
        fields["role"], fields["position"], fields["facet"], gtin)  # type: ignore[arg-type]
    outcome = await run_in_threadpool(catalog.add_official_media, rt, principal, gtin, data, filename, role,
                                      position, facet)
    return OfficialMediaOut(gtin=outcome.gtin, role=outcome.role, position=outcome.position, facet=outcome.facet,
                            asset_id=outcome.asset_id, upload_id=outcome.upload_id, dedup=outcome.dedup,
                            master_changed=outcome.master_changed)


@router.post("/assets/{asset_id}/revoke", response_model=RevokeOut)
async def revoke(asset_id: str, rt: RuntimeDep, principal: PrincipalDep) -> RevokeOut:
    """Withdraw a picture from all your packs: nobody else is served it again; subscribers are told."""
    count = await run_in_threadpool(packs.revoke_asset, rt, principal, asset_id)
    return RevokeOut(asset_id=asset_id, revoked=count)


