"""Compliance of an asset's variants with a platform's profiles: what a marketplace would reject."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from processing.compliance import Check, Report, Verdict, check_bytes, check_facts, refused
from processing.decode import upload_scale
from processing.errors import ImageError
from processing.profiles import Profile
from processing.render import predict
from registry.errors import NotFound
from registry.media.lookup import require_asset
from registry.media.repository import MediaRepository
from registry.platforms import service as platforms
from registry.records import AssetRecord, VariantRecord
from registry.runtime import Runtime
from registry.variants import service as variants
from registry.variants.repository import VariantRepository


@dataclass(frozen=True)
class ProfileCompliance:
    """One profile of a platform (and the slot roles it serves) with the asset's report for it."""

    roles: tuple[str, ...]
    profile: Profile
    report: Report
    ref: variants.VariantRef | None  # None when the picture cannot serve the profile


def content_size(rt: Runtime, session: Session, asset: AssetRecord) -> tuple[int, int]:
    """The master's trimmed product size in the file's pixels (from its fingerprint), or the frame."""
    fingerprint = MediaRepository(session).fingerprint_of_upload(asset.master_upload_id)
    if fingerprint is None:
        return (asset.width, asset.height)
    # a JPEG over max_pixels was fingerprinted at reduced scale
    scale = upload_scale(asset.width, asset.height, asset.master_format, rt.limits)
    return (round(fingerprint.content_width / scale), round(fingerprint.content_height / scale))


def quick_report(
    asset: AssetRecord, content: tuple[int, int], profile: Profile, stored: VariantRecord | None
) -> Report | None:
    """What is known without decoding: refused when too small, the stored variant's facts, else None."""
    try:
        upscale = predict(profile, (asset.width, asset.height), content)
    except ImageError as exc:
        return refused(profile, exc)
    if stored is None:
        return None
    fmt = stored.content_type.removeprefix("image/").upper()
    return check_facts(profile, stored.width, stored.height, stored.size_bytes, fmt, upscale)


def platform_compliance(rt: Runtime, asset_id: str, platform: str,
                        tenant_id: str | None = None) -> list[ProfileCompliance]:
    """Full reports (pixels included) for every profile a platform the caller may use maps; renders what is
    missing, except AVIF, which only background work renders."""
    chosen = platforms.resolve(rt, tenant_id, platform)
    roles_by_profile: dict[str, list[str]] = {}
    for role, profile in chosen.roles.items():
        roles_by_profile.setdefault(profile.name, []).append(role)
    with rt.db.read_only() as session:
        asset = AssetRecord.of(require_asset(session, asset_id))
        content = content_size(rt, session, asset)
    if not all(platforms.usable_on(rt, p, [asset.id]) for p in chosen.profiles.values()):
        # the owner's unpublished profile shapes only pictures it has to do with, as on the hot path
        raise NotFound(f"no asset {asset_id!r}", field="asset_id")
    return [_one(rt, asset, content, chosen.profiles[name], tuple(roles)) for name, roles in roles_by_profile.items()]


def _one(rt: Runtime, asset: AssetRecord, content: tuple[int, int], profile: Profile,
         roles: tuple[str, ...]) -> ProfileCompliance:
    ref = variants.current_ref(asset, profile)
    try:
        upscale = predict(profile, (asset.width, asset.height), content)
    except ImageError as exc:
        return ProfileCompliance(roles, profile, refused(profile, exc), None)
    stored = variants.find(rt, asset.id, profile.name, ref.version)
    if stored is None and profile.format == "AVIF":
        pending = Check("render", Verdict.WARN, "pending", "AVIF is rendered in background work")
        return ProfileCompliance(roles, profile, Report(profile.name, (pending,)), ref)
    try:
        stored = stored or variants.ensure(rt, asset, profile)
    except ImageError as exc:  # over the byte limit even at the lowest quality
        return ProfileCompliance(roles, profile, refused(profile, exc), None)
    report = check_bytes(profile, rt.store.get(stored.blob_key), upscale)
    return ProfileCompliance(roles, profile, report, ref)


def asset_verdicts(rt: Runtime, asset: AssetRecord, stored: list[VariantRecord]) -> dict[str, Report | None]:
    """Per profile of the catalogue, the quick report (no decoding) for the asset's JSON."""
    with rt.db.read_only() as session:
        content = content_size(rt, session, asset)
    by_key = {(v.profile, v.version): v for v in stored}
    return {
        name: quick_report(asset, content, profile, by_key.get((name, variants.current_ref(asset, profile).version)))
        for name, profile in rt.catalog.profiles.items()
    }


def listing_reports(rt: Runtime, slots: list[tuple[AssetRecord, Profile]]) -> list[Report | None]:
    """The quick report of each listing slot's asset for the slot's profile (None: not known yet)."""
    with rt.db.read_only() as session:
        repository = VariantRepository(session)
        reports = []
        for asset, profile in slots:
            row = repository.get(asset.id, profile.name, variants.current_ref(asset, profile).version)
            stored = VariantRecord.of(row) if row is not None else None
            reports.append(quick_report(asset, content_size(rt, session, asset), profile, stored))
        return reports
