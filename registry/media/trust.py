"""Trust rules for shared assets: who may change the picture every listing of an asset shows.

Only two things replace an asset's master: the brand that owns the product publishing its official
picture (`make_official_master`), and a strictly better copy of unchanged content (`promotion_verdict`,
stricter than the merge tier). Every change is recorded (`master_changes`) and the asset's owner can
put the previous master back (`restore_previous_master`).
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import numpy as np
from PIL import Image
from sqlalchemy.orm import Session

from processing import fidelity
from processing.fingerprint import Fingerprint as PictureFingerprint
from processing.verify import Verification
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.ids import new_id
from registry.jobs.service import JobKind, enqueue
from registry.media.blobs import detail_key, signature_key, signature_prefix
from registry.media.repository import MediaRepository
from registry.media.trust_repository import TrustRepository
from registry.models import Asset, MasterChange, Upload
from registry.runtime import Runtime
from registry.tenants.repository import TenantRepository
from registry.tenants.service import Principal, TenantKind

_LOSSLESS_QUALITY = 100
_DEFAULT_JPEG_QUALITY = 85


class ChangeReason(StrEnum):
    """Why a master changed."""

    BETTER_COPY = "better_copy"
    OFFICIAL = "official"
    RESTORE = "restore"


class AiContent(StrEnum):
    """What an uploader declares about AI in a picture (marketplaces ask for it)."""

    NONE = "none"
    GENERATED = "generated"
    EDITED = "edited"


def parse_ai_content(raw: str | None) -> AiContent:
    """The `ai` upload field: none (default), generated or edited."""
    try:
        return AiContent((raw or "none").strip().lower())
    except ValueError as exc:
        raise InvalidInput("ai must be none, generated or edited", field="ai") from exc


@dataclass(frozen=True)
class MasterChangeInfo:
    """One recorded master change, as the asset's owner may see it."""

    id: str
    asset_id: str
    reason: str
    previous_upload_id: str
    new_upload_id: str
    created_at: datetime


def _info(row: MasterChange) -> MasterChangeInfo:
    return MasterChangeInfo(id=row.id, asset_id=row.asset_id, reason=row.reason,
                            previous_upload_id=row.previous_upload_id, new_upload_id=row.new_upload_id,
                            created_at=row.created_at)


def set_provenance(asset: Asset, row: Upload, supplier_kind: str, official_brand: str | None = None) -> None:
    """Record who supplied the asset's master, in what role, and the supplier's AI declaration."""
    asset.supplier_tenant_id = row.tenant_id
    asset.supplier_kind = supplier_kind
    asset.official_brand = official_brand
    asset.ai_content = row.ai_content or AiContent.NONE.value


def change_master(rt: Runtime, session: Session, asset: Asset, row: Upload, *, by_tenant_id: str,
                  reason: ChangeReason, supplier_kind: str, official_brand: str | None = None) -> MasterChangeInfo:
    """Make `row` the asset's master and record who did it, why, and what the master was before.

    The asset id stays, so references and alias URLs follow; immutable variant URLs move with the version.
    """
    record = MasterChange(
        id=new_id("mch"), asset_id=asset.id, tenant_id=by_tenant_id, reason=reason.value,
        previous_upload_id=asset.master_upload_id, previous_supplier_tenant_id=asset.supplier_tenant_id,
        previous_supplier_kind=asset.supplier_kind, previous_official_brand=asset.official_brand,
        new_upload_id=row.id,
    )
    asset.master_upload_id = row.id
    asset.master_sha256 = row.sha256
    asset.master_format = row.format
    asset.width, asset.height, asset.size_bytes = row.width, row.height, row.size_bytes
    asset.master_version += 1
    set_provenance(asset, row, supplier_kind, official_brand)
    TrustRepository(session).add(record)
    enqueue(rt, session, JobKind.RENDER_ASSET, asset.id)
    return _info(record)


def _stored_pixels(rt: Runtime, key: str) -> np.ndarray:
    with Image.open(io.BytesIO(rt.store.get(key))) as image:
        return np.asarray(image)


def _quality(row: Upload) -> int:
    return _LOSSLESS_QUALITY if row.lossless else (row.jpeg_quality or _DEFAULT_JPEG_QUALITY)


# Share of the merge thresholds a copy must stay within to replace a master. Verified copies that were
# true downscales of one original measured a structure difference of at most 3.4 (threshold 10) and a
# colour difference of at most 3.0 (threshold 8); small grey advert text that still merged measured 6.3.
STRICT_SHARE = 0.5


def promotion_verdict(rt: Runtime, session: Session, asset: Asset, master: Upload, new: Upload,
                      image: Image.Image, picture: PictureFingerprint, verification: Verification | None
                      ) -> tuple[bool, str]:
    """Whether a verified copy may replace the master, and why (or why not).

    Stricter than merging: never over the brand's official picture, never a crop, only more real detail
    (measured like with like at the master's size) or clearly less compression, and no block of the
    picture changed (added text, logo, badge, watermark or frame).
    """
    if asset.official_brand:
        return False, "official_master"
    if verification is None or verification.overlap < 0.95:
        return False, "crop"
    limits = rt.thresholds
    if (verification.structure_diff > STRICT_SHARE * limits.max_structure_diff
            or verification.colour_diff > STRICT_SHARE * limits.max_colour_diff):
        return False, "content_changed"
    if master.content_pixels <= 0:
        return False, "unknown_master"
    ratio = new.content_pixels / master.content_pixels
    stored = MediaRepository(session).fingerprint_of_upload(master.id)
    master_side = max(stored.content_width, stored.content_height) if stored else round(math.sqrt(
        master.content_pixels))
    larger = False
    if ratio >= 1.25:
        grey = fidelity.content_grey(image, picture.content_box, 2 * master_side)
        kept = fidelity.detail_kept(grey, master_side)
        sharp = fidelity.sharpness_at(grey, min(master_side, fidelity.SHARPNESS_SIDE))
        larger = kept < fidelity.MAX_DETAIL_KEPT and sharp >= fidelity.MIN_SHARPNESS_AT_MASTER_SIZE * master.sharpness
    less_compressed = (ratio >= 0.9 and _quality(new) >= _quality(master) + 10
                       and new.sharpness >= 0.9 * master.sharpness)
    if not (larger or less_compressed):
        return False, "not_better"
    prefix = stored.signature_key if stored else signature_prefix(master.sha256)
    try:
        report = fidelity.compare_content(_stored_pixels(rt, detail_key(prefix)), picture.detail,
                                          _stored_pixels(rt, signature_key(prefix)), picture.signature)
    except Exception:  # the master's stored signatures are unreadable: keep the master
        return False, "master_unverifiable"
    if not report.unchanged:
        return False, "content_changed"
    return True, ChangeReason.BETTER_COPY.value


def make_official_master(session: Session, rt: Runtime, *, asset_id: str, upload_id: str, brand_tenant_id: str,
                         brand_name: str) -> MasterChangeInfo | None:
    """Make a brand's own upload the official master of an asset showing its product.

    For the brand publishing or importing official media of a product in its own catalogue: its
    picture outranks any merchant copy, even a larger one. None when it already is the official master.
    """
    media = MediaRepository(session)
    found = media.asset(asset_id)
    if found is None:
        raise NotFound(f"no asset {asset_id!r}", field="asset_id")
    asset = media.asset_for_update(found.id) or found
    row = media.upload(upload_id)
    if row is None or row.tenant_id != brand_tenant_id:
        raise NotFound(f"no upload {upload_id!r} for this brand", field="upload_id")
    if row.asset_id != asset.id:
        raise InvalidInput("the upload does not show this asset's picture", field="upload_id")
    brand = TenantRepository(session).get(brand_tenant_id)
    if brand is None or brand.kind != TenantKind.BRAND.value:
        raise Forbidden("only a brand publishes official media")
    if asset.official_brand and asset.official_brand != brand_name:
        raise Forbidden("another brand's official picture is this asset's master")
    if asset.master_upload_id == row.id and asset.official_brand == brand_name:
        return None
    return change_master(rt, session, asset, row, by_tenant_id=brand_tenant_id, reason=ChangeReason.OFFICIAL,
                         supplier_kind=TenantKind.BRAND.value, official_brand=brand_name)


def _owned(session: Session, principal: Principal, asset_id: str) -> Asset:
    media = MediaRepository(session)
    found = media.asset(asset_id)
    if found is None:
        raise NotFound(f"no asset {asset_id!r}", field="asset_id")
    if found.owner_tenant_id != principal.tenant_id:
        raise Forbidden("only the tenant that first registered an asset may restore its master")
    return media.asset_for_update(found.id) or found


def master_history(rt: Runtime, principal: Principal, asset_id: str) -> list[MasterChangeInfo]:
    """An owned asset's master changes, newest first."""
    with rt.db.read_only() as session:
        asset = _owned(session, principal, asset_id)
        return [_info(row) for row in TrustRepository(session).changes(asset.id)]


def restore_previous_master(rt: Runtime, principal: Principal, asset_id: str) -> MasterChangeInfo:
    """Undo the latest master change of an owned asset (recorded as a change of its own)."""
    with rt.db.unit_of_work() as session:
        rt.db.lock_dedup(session)
        asset = _owned(session, principal, asset_id)
        last = TrustRepository(session).latest_change(asset.id)
        if last is None:
            raise Conflict("this asset's master has never changed")
        if asset.official_brand and principal.kind is not TenantKind.BRAND:
            raise Forbidden("the brand's official picture can be replaced only by the brand")
        previous = MediaRepository(session).upload(last.previous_upload_id)
        if previous is None or previous.asset_id != asset.id:
            raise Conflict("the previous master is no longer part of this asset")
        return change_master(rt, session, asset, previous, by_tenant_id=principal.tenant_id,
                             reason=ChangeReason.RESTORE, supplier_kind=last.previous_supplier_kind or "merchant",
                             official_brand=last.previous_official_brand)


_SCORE_FIELDS = ("verification", "hash_distance", "score")


def visible_match(match: dict[str, object], own_assets: set[str], own_uploads: set[str]) -> dict[str, object]:
    """A match explanation as its caller may see it: scores only against the caller's own assets,
    upload ids only of the caller's own uploads (scores would let anyone tune edits that pass)."""
    shown = dict(match)
    if shown.get("matched_asset_id") not in own_assets:
        for name in _SCORE_FIELDS:
            shown.pop(name, None)
    for name in ("matched_upload_id", "promoted_over_upload_id"):
        if name in shown and shown[name] not in own_uploads:
            shown.pop(name)
    candidates = shown.get("candidates")
    if isinstance(candidates, list):
        shown["candidates"] = [
            c if isinstance(c, dict) and c.get("asset_id") in own_assets
            else {"asset_id": c.get("asset_id") if isinstance(c, dict) else None, "note": "another tenant's picture"}
            for c in candidates
        ]
    return shown


def _ids_in(match: dict[str, object]) -> tuple[set[str], set[str]]:
    assets = {str(match["matched_asset_id"])} if match.get("matched_asset_id") else set()
    candidates = match.get("candidates")
    if isinstance(candidates, list):
        assets |= {str(c["asset_id"]) for c in candidates if isinstance(c, dict) and c.get("asset_id")}
    uploads = {str(match[name]) for name in ("matched_upload_id", "promoted_over_upload_id") if match.get(name)}
    return assets, uploads


def redact_matches(session: Session, principal: Principal, matches: list[dict[str, object]]) -> list[dict[str, object]]:
    """`visible_match` for many explanations, with one ownership query for all of them."""
    assets: set[str] = set()
    uploads: set[str] = set()
    for match in matches:
        found_assets, found_uploads = _ids_in(match)
        assets |= found_assets
        uploads |= found_uploads
    trusted = TrustRepository(session)
    own_assets = trusted.own_asset_ids(principal.tenant_id, sorted(assets))
    own_uploads = trusted.own_upload_ids(principal.tenant_id, sorted(uploads))
    return [visible_match(match, own_assets, own_uploads) for match in matches]
