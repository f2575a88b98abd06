"""SKUs: a tenant's product codes and their ordered image slots."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from processing.profiles import Profile
from registry.errors import InvalidInput, NotFound
from registry.ids import new_id
from registry.media.repository import MediaRepository
from registry.models import Sku, SkuSlot
from registry.records import AssetRecord
from registry.runtime import Runtime
from registry.skus.repository import SkuRepository

MAX_SKU_LENGTH = 200
MAX_POSITION = 99
# Bytes of a listing file name given to the SKU; the slot and extension (≤ 16 bytes) follow.
MAX_FILE_NAME_SKU_BYTES = 200
_ROLE_ORDER = {"main": 0, "gallery": 1, "swatch": 2}


class SlotRole(StrEnum):
    """What an image slot is for on a listing."""

    MAIN = "main"
    GALLERY = "gallery"
    SWATCH = "swatch"


@dataclass(frozen=True)
class SlotRequest:
    """A validated request to put an upload into a SKU slot."""

    sku: str
    role: SlotRole
    position: int | None


def normalise_sku(raw: str) -> str:
    """NFC-normalise and check a SKU code; any script is fine, control characters are not."""
    code = unicodedata.normalize("NFC", raw).strip()
    if not code:
        raise InvalidInput("the SKU is empty", field="sku")
    if len(code) > MAX_SKU_LENGTH:
        raise InvalidInput(f"the SKU has more than {MAX_SKU_LENGTH} characters", field="sku")
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in code):
        raise InvalidInput("the SKU contains control or unassigned characters", field="sku")
    if code in (".", ".."):
        raise InvalidInput("a SKU cannot be '.' or '..': URLs drop such path segments", field="sku")
    return code


def parse_slot(sku: str | None, role: str | None, position: str | int | None) -> SlotRequest | None:
    """Validate the optional sku/role/position fields of an upload."""
    if sku is None or sku == "":
        if role not in (None, "") or position not in (None, ""):
            raise InvalidInput("role and position need a sku", field="sku")
        return None
    try:
        slot_role = SlotRole((role or "gallery").strip().lower())
    except ValueError as exc:
        raise InvalidInput("role must be main, gallery or swatch", field="role") from exc
    slot_position: int | None = None
    if position not in (None, ""):
        text = str(position).strip()
        # Digits only: int() would also read "1_0" as 10; full-width digits (１) are digits too.
        if not text.isdecimal():
            raise InvalidInput("position must be a whole number from 0", field="position")
        if len(text) > 6:  # bounded before int(): 4,301 digits would exceed Python's conversion limit
            raise InvalidInput(f"position must be within 0..{MAX_POSITION}", field="position")
        slot_position = int(text)
        if not 0 <= slot_position <= MAX_POSITION:
            raise InvalidInput(f"position must be within 0..{MAX_POSITION}", field="position")
    return SlotRequest(sku=normalise_sku(sku), role=slot_role, position=slot_position)


def assign_slot(session: Session, tenant_id: str, request: SlotRequest, asset_id: str, upload_id: str) -> SkuSlot:
    """Create the SKU if new and point the requested slot at the asset."""
    repository = SkuRepository(session)
    sku = repository.get(tenant_id, request.sku)
    if sku is None:
        sku = Sku(id=new_id("sku"), tenant_id=tenant_id, code=request.sku)
        repository.add(sku)
    position = request.position
    if position is None:
        position = 0 if request.role is SlotRole.MAIN else repository.next_position(sku.id, request.role.value)
    slot = repository.slot(sku.id, request.role.value, position)
    if slot is None:
        slot = SkuSlot(id=new_id("slt"), sku_id=sku.id, role=request.role.value, position=position,
                       asset_id=asset_id, upload_id=upload_id)
        repository.add(slot)
    else:
        slot.asset_id = asset_id
        slot.upload_id = upload_id
    return slot


def get_slots(session: Session, tenant_id: str, code: str) -> tuple[Sku, list[SkuSlot]]:
    """A tenant's SKU and its slots in listing order (main, gallery, swatch; by position)."""
    sku = SkuRepository(session).get(tenant_id, normalise_sku(code))
    if sku is None:
        raise NotFound(f"no SKU {code!r} for this tenant", field="sku")
    slots = sorted(SkuRepository(session).slots(sku.id), key=lambda s: (_ROLE_ORDER.get(s.role, 9), s.position))
    return sku, slots


@dataclass(frozen=True)
class ListingEntry:
    """One slot of a listing with the asset and the profile the platform uses for it."""

    role: str
    position: int
    asset: AssetRecord
    profile: Profile


def listing(
    session: Session, roles: Mapping[str, Profile], tenant_id: str, code: str
) -> tuple[str, list[ListingEntry]]:
    """A SKU's slots mapped to a platform's profiles (role → profile, resolved by the caller), in listing order."""
    sku, slots = get_slots(session, tenant_id, code)
    media = MediaRepository(session)
    entries = []
    for slot in slots:
        asset = media.asset(slot.asset_id)
        profile = roles.get(slot.role)
        if asset is None or profile is None:  # gone, or the platform has no use for the role (e.g. no swatches)
            continue
        entries.append(ListingEntry(role=slot.role, position=slot.position, asset=AssetRecord.of(asset),
                                    profile=profile))
    return sku.code, entries


def tenant_listing(rt: Runtime, tenant_id: str, code: str,
                   roles: Mapping[str, Profile]) -> tuple[str, list[ListingEntry]]:
    """Use case: a tenant's SKU listing for a platform's slot map (its own read-only unit of work)."""
    with rt.db.read_only() as session:
        return listing(session, roles, tenant_id, code)


def tenant_skus(rt: Runtime, tenant_id: str, limit: int, after: str | None) -> list[tuple[str, int]]:
    """Use case: a page of a tenant's SKUs with slot counts (its own read-only unit of work)."""
    with rt.db.read_only() as session:
        return list_skus(session, tenant_id, limit, after)


def list_skus(session: Session, tenant_id: str, limit: int, after: str | None) -> list[tuple[str, int]]:
    """A page of the tenant's SKUs with their slot counts; `after` is checked like a SKU code."""
    repository = SkuRepository(session)
    after = normalise_sku(after) if after is not None else None
    return [(sku.code, len(repository.slots(sku.id))) for sku in repository.list_skus(tenant_id, limit, after)]


def listing_file_name(code: str, role: str, position: int, extension: str) -> str:
    """A download name like `SKU.MAIN.jpg` or `SKU.PT01.jpg` (Amazon's slot naming), safe on any disk."""
    safe = "".join("_" if ch in '/\\:*?"<>|' or unicodedata.category(ch)[0] == "C" else ch for ch in code)
    if len(safe.encode()) > MAX_FILE_NAME_SKU_BYTES:
        # Disks allow 255 bytes per name and a 200-character CJK SKU takes 600: keep a readable
        # prefix (whole characters) and a digest of the full code, so names stay distinct.
        prefix = safe.encode()[:MAX_FILE_NAME_SKU_BYTES - 9].decode(errors="ignore")
        safe = f"{prefix}~{hashlib.sha256(code.encode()).hexdigest()[:8]}"
    if role == SlotRole.MAIN:
        slot = "MAIN" if position == 0 else f"MAIN{position:02d}"
    elif role == SlotRole.SWATCH:
        slot = "SWCH" if position == 0 else f"SWCH{position:02d}"
    else:
        slot = f"PT{position + 1:02d}"
    return f"{safe}.{slot}.{extension}"
