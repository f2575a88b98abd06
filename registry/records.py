"""Frozen copies of registry rows: what services hand to `api/` and the CLI instead of ORM objects.

A record is made inside the session that loaded its row, so nothing outside the registry touches a
session, lazy loads or `expunge`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

from registry.models import Asset, Upload, Variant


class _FromRow:
    @classmethod
    def of(cls, row: Any) -> Self:
        """The record of a loaded row (same field names)."""
        return cls(**{f.name: getattr(row, f.name) for f in fields(cls)})  # type: ignore[arg-type]


@dataclass(frozen=True)
class AssetRecord(_FromRow):
    """A canonical asset: its id, owner and master picture."""

    id: str
    owner_tenant_id: str
    master_upload_id: str
    master_sha256: str
    master_format: str
    width: int
    height: int
    size_bytes: int
    master_version: int
    created_at: datetime
    updated_at: datetime
    # provenance of the master (docs/security.md): who supplied it, official brand, AI declaration
    supplier_tenant_id: str | None = None
    supplier_kind: str | None = None
    official_brand: str | None = None
    ai_content: str = "none"


@dataclass(frozen=True)
class UploadRecord(_FromRow):
    """One received file and how it resolved to an asset."""

    id: str
    tenant_id: str
    asset_id: str
    sha256: str
    filename: str
    size_bytes: int
    format: str
    width: int
    height: int
    dedup: str
    match: dict[str, object]
    created_at: datetime


@dataclass(frozen=True)
class VariantRecord(_FromRow):
    """A stored rendering of an asset for one profile and master version."""

    id: str
    asset_id: str
    profile: str
    version: str
    blob_key: str
    content_type: str
    etag: str
    size_bytes: int
    width: int
    height: int
    created_at: datetime  # Last-Modified of its URL


def asset_record(row: Asset) -> AssetRecord:
    """The frozen copy of an asset row."""
    return AssetRecord.of(row)


def upload_record(row: Upload) -> UploadRecord:
    """The frozen copy of an upload row."""
    return UploadRecord.of(row)


def variant_record(row: Variant) -> VariantRecord:
    """The frozen copy of a variant row."""
    return VariantRecord.of(row)
