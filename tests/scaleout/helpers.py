"""Helpers shared by the scale-out tests: tenants, pictures, job and variant inspection."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import func, select

from processing.render import RenderedVariant, render_many
from registry.media.blobs import original_key
from registry.models import Asset, Job, Variant
from registry.runtime import Runtime
from registry.tenants.service import Principal, authenticate, create_key
from tests.fixtures.pictures import jpeg, product


def principal_for(rt: Runtime, tenant: str, kind: str = "merchant") -> Principal:
    """A tenant's principal, as the API would authenticate it."""
    with rt.db.unit_of_work() as session:
        _tenant, plain = create_key(session, tenant, kind)
    return authenticate(rt, plain)


def picture(seed: int, size: int = 400) -> bytes:
    """A small distinct product shot (its label carries the seed, so no two seeds look alike)."""
    return jpeg(product(seed, size=size, label=f"SKU {seed}", line=f"lot {seed * 7919 % 10000}"), 90)


def sha256(data: bytes) -> str:
    """Hex SHA-256."""
    return hashlib.sha256(data).hexdigest()


def jobs_of(rt: Runtime, asset_id: str) -> list[Job]:
    """Every job row about an asset, oldest first."""
    with rt.db.read_only() as session:
        rows = list(session.scalars(select(Job).where(Job.subject == asset_id).order_by(Job.created_at)))
        session.expunge_all()
    return rows


def variant_rows(rt: Runtime, asset_id: str) -> list[Variant]:
    """Every variant row of an asset."""
    with rt.db.read_only() as session:
        rows = list(session.scalars(select(Variant).where(Variant.asset_id == asset_id)))
        session.expunge_all()
    return rows


def duplicate_variant_rows(rt: Runtime) -> int:
    """How many (asset, profile, version) keys have more than one row (must be none)."""
    with rt.db.read_only() as session:
        grouped = (select(Variant.asset_id, Variant.profile, Variant.version, func.count().label("n"))
                   .group_by(Variant.asset_id, Variant.profile, Variant.version).subquery())
        return int(session.scalar(select(func.count()).select_from(grouped).where(grouped.c.n > 1)) or 0)


def local_variant_files(blob_root: Path, asset_id: str) -> list[str]:
    """Variant blob files of an asset in a local blob store."""
    folder = blob_root / "variants" / asset_id
    return sorted(str(p.relative_to(blob_root)) for p in folder.rglob("*") if p.is_file())


def servable(rt: Runtime, asset_id: str) -> int:
    """How many profiles the asset's master can serve: a picture too small for a marketplace's
    minimum is flagged and left unrendered, so the workers render exactly these."""
    with rt.db.read_only() as session:
        asset = session.get(Asset, asset_id)
        assert asset is not None
        master = asset.master_sha256
    results = render_many(rt.store.get(original_key(master)), rt.limits, list(rt.catalog.profiles.values()))
    return sum(isinstance(result, RenderedVariant) for result in results.values())
