"""Build API response bodies from registry records."""

from __future__ import annotations

from api.schemas import AssetResponse, MasterInfo, Provenance, VariantInfo
from api.urls import alias_path, variant_path
from processing.compliance import Report
from processing.profiles import Profile
from registry.records import AssetRecord, VariantRecord
from registry.runtime import Runtime
from registry.variants.service import current_ref


def variant_info(base: str, asset: AssetRecord, profile: Profile, rendered: VariantRecord | None,
                 report: Report | None = None) -> VariantInfo:
    """A profile's current variant URL and, once rendered, its facts (and what compliance knows)."""
    ref = current_ref(asset, profile)
    return VariantInfo(
        compliance=report.verdict.value if report is not None else None,
        problems=[f"{c.name}: {c.rule if c.name == 'render' else c.value}" for c in report.checks
                  if c.verdict.value != "pass"] if report is not None else [],
        profile=profile.name,
        description=profile.description,
        url=base + variant_path(ref),
        alias_url=base + alias_path(asset.id, profile),
        content_type=profile.content_type,
        rendered=rendered is not None,
        width=rendered.width if rendered else None,
        height=rendered.height if rendered else None,
        size_bytes=rendered.size_bytes if rendered else None,
    )


def asset_response(
    rt: Runtime, base: str, asset: AssetRecord, uploads: int, variants: list[VariantRecord],
    viewer_tenant_id: str | None = None,
    reports: dict[str, Report | None] | None = None,
) -> AssetResponse:
    """The view of an asset with every profile's current variant, as `viewer_tenant_id` may see it:
    other tenants' ids, upload ids and hashes are left out (docs/security.md, "what is public")."""
    by_key = {(v.profile, v.version): v for v in variants}
    infos = []
    for profile in rt.catalog.profiles.values():
        ref = current_ref(asset, profile)
        infos.append(variant_info(base, asset, profile, by_key.get((profile.name, ref.version)),
                                  (reports or {}).get(profile.name)))
    owner = viewer_tenant_id is not None and viewer_tenant_id == asset.owner_tenant_id
    supplier = viewer_tenant_id is not None and viewer_tenant_id == asset.supplier_tenant_id
    return AssetResponse(
        asset_id=asset.id,
        owner_tenant_id=asset.owner_tenant_id if owner else None,
        yours=owner,
        master=MasterInfo(
            upload_id=asset.master_upload_id if supplier else None, sha256=asset.master_sha256 if supplier else None,
            format=asset.master_format, width=asset.width, height=asset.height, size_bytes=asset.size_bytes,
            version=asset.master_version,
        ),
        provenance=Provenance(official=asset.official_brand, ai_content=asset.ai_content or "none"),
        uploads=uploads,
        created_at=asset.created_at,
        updated_at=asset.updated_at,
        variants=infos,
    )


def thumb_url(rt: Runtime, base: str, asset_id: str) -> str:
    """The alias URL of an asset's thumbnail (web_thumb, or the first profile of a custom catalogue)."""
    profiles = rt.catalog.profiles
    profile = profiles.get("web_thumb") or next(iter(profiles.values()))
    return base + alias_path(asset_id, profile)
