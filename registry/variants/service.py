"""Variants: immutable refs derived from master and profile, rendered once, stored forever.

The registry answers with refs and records; `api/` turns refs into URLs and picks how bytes travel.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import IntegrityError

from processing.errors import ImageError
from processing.profiles import Profile
from processing.render import RenderedVariant, load_source, render_many, render_source
from registry import telemetry
from registry.errors import NotFound, RenderPending, RenderUnavailable
from registry.ids import new_id
from registry.jobs.repository import JobRepository
from registry.jobs.service import JobKind, JobStatus, enqueue
from registry.media.blobs import original_key
from registry.media.lookup import require_asset
from registry.models import Variant
from registry.profiles import service as tenant_profiles
from registry.profiles.cache import TenantProfileRecord
from registry.records import AssetRecord, VariantRecord
from registry.runtime import Runtime
from registry.telemetry import timed
from registry.variants.claims import render_claim
from registry.variants.repository import VariantRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VariantRef:
    """Which variant: asset, profile, version and extension (`api/urls.py` makes its URLs)."""

    asset_id: str
    profile: str
    version: str
    extension: str


class HasMaster(Protocol):
    """Anything naming an asset and its master's SHA-256 (a row or a record)."""

    @property
    def id(self) -> str:
        """The asset id."""
        ...

    @property
    def master_sha256(self) -> str:
        """The master picture's SHA-256."""
        ...


def variant_version(master_sha256: str, profile: Profile) -> str:
    """The version part of a variant URL: a hash of every input that shapes its bytes."""
    return hashlib.sha256(f"{master_sha256}:{profile.digest}".encode()).hexdigest()[:20]


def current_ref(asset: HasMaster, profile: Profile) -> VariantRef:
    """The current immutable reference of an asset's variant."""
    return VariantRef(asset.id, profile.name, variant_version(asset.master_sha256, profile), profile.extension)


def variant_blob_key(ref: VariantRef) -> str:
    """Where a variant's bytes are stored."""
    return f"variants/{ref.asset_id}/{ref.profile}/{ref.version}.{ref.extension}"


def profile_named(rt: Runtime, name: str) -> Profile:
    """A built-in profile or a tenant's current definition; NotFound if neither (who may use it is not checked)."""
    return _named(rt, name)[0]


def _named(rt: Runtime, name: str) -> tuple[Profile, TenantProfileRecord | None]:
    """A built-in profile, or a tenant's current definition with its record; NotFound if neither."""
    builtin = rt.catalog.profiles.get(name)
    if builtin is not None:
        return builtin, None
    record = tenant_profiles.lookup(rt, name)
    if record is None:
        raise NotFound(f"no profile {name!r}", field="profile")
    return record.current, record


def _check_tenant_profile(rt: Runtime, record: TenantProfileRecord | None, asset_ids: list[str]) -> None:
    """A tenant's profile renders only pictures it may shape (published, or its owner's), and nothing once retired."""
    if record is None:
        return
    if not tenant_profiles.may_render(rt, record, asset_ids):
        raise NotFound(f"no profile {record.name!r}", field="profile")  # as if it did not exist: no disclosure
    if record.retired:
        raise tenant_profiles.ProfileRetired(
            f"profile {record.name!r} is retired: variants already made are still served, nothing new is rendered")


def resolve(rt: Runtime, asset_id: str, profile_name: str) -> tuple[AssetRecord, Profile]:
    """The asset (following merge aliases) and the profile; NotFound if either is unknown or the profile is a
    tenant's that may not shape this asset, Gone if it is retired."""
    profile, record = _named(rt, profile_name)
    with rt.db.read_only() as session:
        asset = AssetRecord.of(require_asset(session, asset_id))
    _check_tenant_profile(rt, record, [asset_id, asset.id])
    return asset, profile


def find(rt: Runtime, asset_id: str, profile_name: str, version: str) -> VariantRecord | None:
    """A stored variant, for this exact version, if rendered."""
    with rt.db.read_only() as session:
        row = VariantRepository(session).get(asset_id, profile_name, version)
        return VariantRecord.of(row) if row is not None else None


def render_missing(rt: Runtime, asset_id: str, profiles: list[Profile] | None = None) -> list[VariantRecord]:
    """Render every profile's current variant that is not stored yet; safe to run twice."""
    with rt.db.read_only() as session:
        asset = AssetRecord.of(require_asset(session, asset_id, field=None))
        wanted = profiles if profiles is not None else list(rt.catalog.profiles.values())
        repository = VariantRepository(session)
        missing = [
            p for p in wanted
            if repository.get(asset.id, p.name, variant_version(asset.master_sha256, p)) is None
        ]
    if not missing:
        return []
    # one decode at the largest scale these profiles need; a profile the picture is too small for
    # (or cannot fit under its byte limit) is left unrendered: the compliance report flags it
    started = time.perf_counter()
    results = render_many(rt.store.get(original_key(asset.master_sha256)), rt.limits, missing)
    share = (time.perf_counter() - started) / len(missing)  # one decode serves them all: each gets its share
    for profile in missing:
        telemetry.renders.observe(profile.name, share, failed=isinstance(results[profile.name], ImageError))
    made = []
    for profile in missing:
        result = results[profile.name]
        if isinstance(result, ImageError):
            log.info("asset %s not rendered for %s: %s", asset.id, profile.name, result.code)
            continue
        ref = current_ref(asset, profile)
        with render_claim(rt, variant_blob_key(ref)):
            if find(rt, asset.id, profile.name, ref.version) is None:  # a first request may have stored it
                made.append(_store_variant(rt, asset, profile, result))
    return made


def ensure(rt: Runtime, asset: AssetRecord, profile: Profile) -> VariantRecord:
    """The current variant, rendering it now if no worker has yet."""
    ref = current_ref(asset, profile)
    existing = find(rt, asset.id, profile.name, ref.version)
    if existing is not None:
        return existing
    with rt.db.read_only() as session:
        job = JobRepository(session).latest_for(JobKind.RENDER_ASSET.value, asset.id)
        if job is not None and job.status == JobStatus.QUARANTINED:
            # a master that crashed its workers must not get the chance to crash an API process too
            raise RenderUnavailable("this picture could not be rendered; it is quarantined for review",
                                    asset_id=asset.id)
    if profile.format == "AVIF" and profile.fallback:
        # AVIF takes 10-100x a JPEG to encode: only background work renders it, never a request. No job
        # waiting or running will make it (the last one ended without it, or the profile moved since):
        # one is queued, once — a pending job is reused by every request until a worker takes it.
        if job is None or job.status == JobStatus.DONE:
            with rt.db.unit_of_work() as session:
                enqueue(rt, session, JobKind.RENDER_ASSET, asset.id)
        raise RenderPending(f"{profile.name} is being rendered; {profile.fallback} serves meanwhile",
                            fallback=profile.fallback)
    with render_claim(rt, variant_blob_key(ref)):
        # whoever rendered while this one waited has stored the row by now
        existing = find(rt, asset.id, profile.name, ref.version)
        if existing is not None:
            return existing
        source = load_source(rt.store.get(original_key(asset.master_sha256)), rt.limits, [profile])
        with timed(telemetry.renders, profile.name):
            rendered = render_source(source, profile)  # too small: an ImageError
        return _store_variant(rt, asset, profile, rendered)


def _store_variant(rt: Runtime, asset: AssetRecord, profile: Profile, rendered: RenderedVariant) -> VariantRecord:
    ref = current_ref(asset, profile)
    key = variant_blob_key(ref)
    rt.store.put_if_absent(key, rendered.data, rendered.content_type)
    row = Variant(
        id=new_id("var"),
        asset_id=asset.id,
        profile=profile.name,
        version=ref.version,
        master_sha256=asset.master_sha256,
        blob_key=key,
        content_type=rendered.content_type,
        etag=hashlib.sha256(rendered.data).hexdigest()[:32],
        size_bytes=len(rendered.data),
        width=rendered.width,
        height=rendered.height,
    )
    try:
        with rt.db.unit_of_work() as session:
            VariantRepository(session).add(row)
            stored = VariantRecord.of(row)
    except IntegrityError:
        existing = find(rt, asset.id, profile.name, ref.version)
        if existing is None:
            raise
        return existing
    return stored


def locate(rt: Runtime, asset_id: str, profile_name: str, version: str, extension: str) -> VariantRecord:
    """The variant behind an immutable URL: any stored version, or one of the profile's definitions rendered now
    (a built-in's current one; any version of a tenant's, so URLs handed out before a change keep working)."""
    profile, record = _named(rt, profile_name)
    history = record.versions if record is not None else (profile,)
    if record is None and extension != profile.extension:  # exactly: one immutable URL per stored bytes
        raise NotFound(f"profile {profile_name!r} serves .{profile.extension}, not .{extension}")
    stored = find(rt, asset_id, profile.name, version)
    if stored is not None and stored.blob_key.endswith("." + extension):
        return stored
    asset, _ = resolve(rt, asset_id, profile.name)
    wanted = next((p for p in reversed(history) if p.extension == extension
                   and current_ref(asset, p).version == version), None)
    if asset.id != asset_id or wanted is None:
        raise NotFound("this variant version does not exist; the asset's alias URL points at the current one")
    return ensure(rt, asset, wanted)


def alias_target(rt: Runtime, asset_id: str, profile_name: str, extension: str) -> VariantRef:
    """Where a stable alias URL currently points."""
    asset, profile = resolve(rt, asset_id, profile_name)
    if extension.lower() != profile.extension:
        raise NotFound(f"profile {profile_name!r} serves .{profile.extension}, not .{extension}")
    return current_ref(asset, profile)
