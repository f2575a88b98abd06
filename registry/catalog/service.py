"""Catalogue rules: brands register products by SKU and GTIN, singly or by CSV, and attach official media."""

from __future__ import annotations

import csv
import io
import unicodedata
from dataclasses import dataclass, field

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from registry.catalog.gtin import normalise_gtin, parse_gs1_name
from registry.catalog.repository import CatalogRepository
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.ids import new_id
from registry.media import service as media
from registry.media.repository import MediaRepository
from registry.media.trust import make_official_master
from registry.models import Product, ProductSlot
from registry.runtime import Runtime
from registry.skus.service import MAX_POSITION, SlotRole, normalise_sku
from registry.tenants.service import Principal, TenantKind

MAX_TITLE = 500
MAX_ATTRIBUTES = 100
MAX_CSV_ROWS = 50_000
_ROLE_ORDER = {"main": 0, "gallery": 1, "swatch": 2}


class ImportRejected(InvalidInput):
    """A CSV import with at least one bad line; nothing was written."""

    code = "import_rejected"


@dataclass(frozen=True)
class ProductInput:
    """A product as a brand describes it."""

    sku: str
    gtin: str
    title: str = ""
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SlotView:
    """One official picture slot of a product."""

    role: str
    position: int
    facet: str
    asset_id: str


@dataclass(frozen=True)
class ProductView:
    """A product with its official slots in listing order."""

    id: str
    sku: str
    gtin: str
    title: str
    attributes: dict[str, object]
    slots: tuple[SlotView, ...]


@dataclass(frozen=True)
class ImportReport:
    """What a CSV import did."""

    created: int
    updated: int


@dataclass(frozen=True)
class OfficialMediaOutcome:
    """An official picture attached to a product slot."""

    gtin: str
    role: str
    position: int
    facet: str
    asset_id: str
    upload_id: str
    dedup: str
    master_changed: bool


def require_brand(principal: Principal) -> None:
    """Only brand keys manage a catalogue."""
    if principal.kind is not TenantKind.BRAND:
        raise Forbidden("only brand keys manage a product catalogue")


def _clean_text(raw: str, name: str, limit: int) -> str:
    text = unicodedata.normalize("NFC", raw or "").strip()
    if len(text) > limit:
        raise InvalidInput(f"{name} has more than {limit} characters", field=name)
    if any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in "\t" for ch in text):
        raise InvalidInput(f"{name} contains control characters", field=name)
    return text


def validate(item: ProductInput) -> ProductInput:
    """Check and normalise a product: SKU like any SKU, GTIN to 14 digits, NFC title and attributes."""
    if len(item.attributes) > MAX_ATTRIBUTES:
        raise InvalidInput(f"at most {MAX_ATTRIBUTES} attributes", field="attributes")
    attributes = {_clean_text(k, "attribute name", 100): _clean_text(str(v), "attribute value", 2000)
                  for k, v in item.attributes.items()}
    if "" in attributes:
        raise InvalidInput("an attribute name is empty", field="attributes")
    return ProductInput(sku=normalise_sku(item.sku), gtin=normalise_gtin(item.gtin),
                        title=_clean_text(item.title, "title", MAX_TITLE), attributes=attributes)


def _upsert(repository: CatalogRepository, brand_tenant_id: str, item: ProductInput) -> bool:
    """Create or update by GTIN; True when created. A SKU taken by another GTIN is refused."""
    product = repository.by_gtin(brand_tenant_id, item.gtin)
    holder = repository.by_sku(brand_tenant_id, item.sku)
    if holder is not None and (product is None or holder.id != product.id):
        raise InvalidInput(f"SKU {item.sku!r} already belongs to GTIN {holder.gtin}", field="sku")
    if product is None:
        repository.add(Product(id=new_id("prd"), brand_tenant_id=brand_tenant_id, sku=item.sku, gtin=item.gtin,
                               title=item.title, attributes=dict(item.attributes)))
        return True
    product.sku, product.title, product.attributes = item.sku, item.title, dict(item.attributes)
    repository.session.flush()
    return False


def view(session: Session, product: Product) -> ProductView:
    """A product's domain view with slots in listing order."""
    slots = sorted(CatalogRepository(session).slots(product.id), key=lambda s: (_ROLE_ORDER.get(s.role, 9), s.position))
    asset_ids = {s.asset_id: s.asset_id for s in slots}
    repository = MediaRepository(session)
    for asset_id in list(asset_ids):
        asset = repository.asset(asset_id)  # follow merges so the view names the live asset
        if asset is not None:
            asset_ids[asset_id] = asset.id
    return ProductView(
        id=product.id, sku=product.sku, gtin=product.gtin, title=product.title, attributes=dict(product.attributes),
        slots=tuple(SlotView(s.role, s.position, s.facet, asset_ids[s.asset_id]) for s in slots),
    )


def register(rt: Runtime, principal: Principal, item: ProductInput) -> ProductView:
    """Create or update one product of the caller's catalogue."""
    require_brand(principal)
    clean = validate(item)
    try:
        with rt.db.unit_of_work() as session:
            repository = CatalogRepository(session)
            _upsert(repository, principal.tenant_id, clean)
            product = repository.by_gtin(principal.tenant_id, clean.gtin)
            assert product is not None
            return view(session, product)
    except IntegrityError as exc:  # the same GTIN or SKU created by a concurrent request
        raise Conflict("this product was changed by another request at the same time; try again") from exc


def parse_csv(text: str) -> tuple[list[tuple[int, ProductInput]], list[dict[str, object]]]:
    """Rows of a catalogue CSV (header sku,gtin,title and any attribute columns) and the errors per line."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [(name or "").strip() for name in (reader.fieldnames or [])]
    missing = [name for name in ("sku", "gtin") if name not in header]
    if missing:
        raise ImportRejected(f"the CSV header needs the columns {', '.join(missing)}",
                             errors=[{"line": 1, "field": name, "message": "missing column"} for name in missing])
    rows: list[tuple[int, ProductInput]] = []
    errors: list[dict[str, object]] = []
    for record in reader:
        line = reader.line_num
        if len(rows) + len(errors) >= MAX_CSV_ROWS:
            raise ImportRejected(f"a CSV import holds at most {MAX_CSV_ROWS} rows")
        if None in record:
            errors.append({"line": line, "field": "", "message": "more fields than the header has"})
            continue
        values = {(k or "").strip(): (v or "") for k, v in record.items()}
        if not any(value.strip() for value in values.values()):
            continue  # blank line
        attributes = {k: v for k, v in values.items() if k not in ("sku", "gtin", "title") and v.strip()}
        try:
            rows.append((line, validate(ProductInput(sku=values.get("sku", ""), gtin=values.get("gtin", ""),
                                                     title=values.get("title", ""), attributes=attributes))))
        except InvalidInput as exc:
            errors.append({"line": line, "field": exc.details.get("field", ""), "code": exc.code,
                           "message": exc.message})
    seen_gtin: dict[str, int] = {}
    seen_sku: dict[str, int] = {}
    for line, item in rows:
        for seen, key, name in ((seen_gtin, item.gtin, "gtin"), (seen_sku, item.sku, "sku")):
            if key in seen:
                errors.append({"line": line, "field": name, "code": "duplicate",
                               "message": f"{name} {key} is also on line {seen[key]}"})
            else:
                seen[key] = line
    return rows, errors


def import_csv(rt: Runtime, principal: Principal, text: str) -> ImportReport:
    """Import a catalogue CSV in one transaction: every line is checked and any error writes nothing."""
    require_brand(principal)
    rows, errors = parse_csv(text)
    if errors:
        errors.sort(key=lambda e: int(str(e["line"])))
        raise ImportRejected(f"{len(errors)} line(s) of the CSV are wrong; nothing was imported", errors=errors)
    try:
        return _import_rows(rt, principal, rows)
    except IntegrityError as exc:
        raise Conflict("the catalogue was changed by another request at the same time; try again") from exc


def _import_rows(rt: Runtime, principal: Principal, rows: list[tuple[int, ProductInput]]) -> ImportReport:
    created = updated = 0
    with rt.db.unit_of_work() as session:
        repository = CatalogRepository(session)
        for line, item in rows:
            try:
                fresh = _upsert(repository, principal.tenant_id, item)
            except InvalidInput as exc:
                raise ImportRejected(f"line {line}: {exc.message}; nothing was imported",
                                     errors=[{"line": line, "field": exc.details.get("field", ""),
                                              "code": exc.code, "message": exc.message}]) from exc
            created += fresh
            updated += not fresh
    return ImportReport(created=created, updated=updated)


def get_product(rt: Runtime, principal: Principal, gtin: str) -> ProductView:
    """One of the caller's products by GTIN."""
    require_brand(principal)
    with rt.db.read_only() as session:
        return view(session, _product(session, principal.tenant_id, gtin))


def list_products(rt: Runtime, principal: Principal, limit: int, after: str | None) -> list[ProductView]:
    """A page of the caller's products ordered by GTIN."""
    require_brand(principal)
    after_gtin = normalise_gtin(after) if after else None
    with rt.db.read_only() as session:
        return [view(session, p) for p in CatalogRepository(session).list_products(principal.tenant_id, limit,
                                                                                    after_gtin)]


def _product(session: Session, brand_tenant_id: str, gtin: str) -> Product:
    product = CatalogRepository(session).by_gtin(brand_tenant_id, normalise_gtin(gtin))
    if product is None:
        raise NotFound(f"no product with GTIN {gtin} in this catalogue", field="gtin")
    return product


def parse_official_slot(role: str | None, position: str | int | None, facet: str | None,
                        gtin: str) -> tuple[str | None, int | None, str]:
    """Check the role/position/facet fields of an official picture (all optional)."""
    clean_facet = ""
    if facet:
        name = parse_gs1_name(f"{normalise_gtin(gtin)}_{facet.strip()}")
        clean_facet = name.facet
    slot_role: str | None = None
    if role:
        try:
            slot_role = SlotRole(role.strip().lower()).value
        except ValueError as exc:
            raise InvalidInput("role must be main, gallery or swatch", field="role") from exc
    slot_position: int | None = None
    if position not in (None, ""):
        text = str(position).strip()
        if not text.isdecimal() or not 0 <= int(text) <= MAX_POSITION:
            raise InvalidInput(f"position must be a whole number within 0..{MAX_POSITION}", field="position")
        slot_position = int(text)
    if slot_role is None and clean_facet:
        slot_role = "main" if clean_facet[1] == "1" else "gallery"
    return slot_role, slot_position, clean_facet


def add_official_media(rt: Runtime, principal: Principal, gtin: str, data: bytes, filename: str,
                       role: str | None, position: int | None, facet: str) -> OfficialMediaOutcome:
    """Upload a brand's official picture of its own product and put it in the product's slot."""
    require_brand(principal)
    with rt.db.read_only() as session:
        product_id = _product(session, principal.tenant_id, gtin).id  # never upload for a missing product
    outcome = media.upload(rt, principal, media.UploadCommand(data=data, filename=filename))
    with rt.db.unit_of_work() as session:
        repository = CatalogRepository(session)
        product = _product(session, principal.tenant_id, gtin)
        if product.id != product_id:
            raise NotFound(f"the product with GTIN {gtin} was replaced meanwhile", field="gtin")
        slot_role = role or "main"
        slot_position = position
        if slot_position is None:
            taken = [s.position for s in repository.slots(product.id) if s.role == slot_role]
            slot_position = 0 if slot_role == "main" else (max(taken) + 1 if taken else 0)
        slot = repository.slot(product.id, slot_role, slot_position)
        if slot is None:
            repository.add(ProductSlot(id=new_id("pslt"), product_id=product.id, role=slot_role,
                                       position=slot_position, facet=facet, asset_id=outcome.asset_id,
                                       upload_id=outcome.upload_id))
        else:
            slot.asset_id, slot.upload_id, slot.facet = outcome.asset_id, outcome.upload_id, facet
        # the brand's picture of its own product becomes the official master (issue 13 items 1-2); a
        # master change tells pack subscribers itself (registry.media.trust.change_master)
        change = make_official_master(session, rt, asset_id=outcome.asset_id, upload_id=outcome.upload_id,
                                      brand_tenant_id=principal.tenant_id, brand_name=principal.tenant_name)
        changed = change is not None and change.previous_upload_id != outcome.upload_id
        return OfficialMediaOutcome(gtin=product.gtin, role=slot_role, position=slot_position, facet=facet,
                                    asset_id=outcome.asset_id, upload_id=outcome.upload_id, dedup=outcome.dedup,
                                    master_changed=changed or outcome.promoted)
