"""Small helpers for API tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from registry.models import Asset, ContentKey, Fingerprint, Job, Sku, SkuSlot, Upload
from registry.runtime import Runtime


def upload(client: httpx.Client, headers: dict[str, str], data: bytes, name: str = "photo.jpg",
           content_type: str = "image/jpeg", **fields: Any) -> Any:
    """POST /v1/media and return the response."""
    form = {key: str(value) for key, value in fields.items() if value is not None}
    return client.post("/v1/media", headers=headers, files={"file": (name, data, content_type)}, data=form)


def row_counts(rt: Runtime) -> dict[str, int]:
    """How many rows each registry table holds."""
    counts = {}
    with rt.db.read_only() as session:
        for model in (Asset, Upload, ContentKey, Fingerprint, Job, Sku, SkuSlot):
            counts[model.__tablename__] = int(session.scalar(select(func.count()).select_from(model)) or 0)
    return counts


def blob_files(rt: Runtime) -> list[str]:
    """Every blob file in the local store (metadata and temp files excluded)."""
    root = Path(rt.settings.resolved_storage_url.removeprefix("file://"))
    return sorted(
        str(p.relative_to(root)) for p in root.rglob("*")
        if p.is_file() and not str(p.relative_to(root)).startswith(".")
    )


def variant_paths(client: httpx.Client, headers: dict[str, str], data: bytes, profile: str = "swatch",
                  **fields: Any) -> tuple[str, str, str]:
    """Upload a picture; its asset id and the immutable and alias paths of one profile's variant."""
    from urllib.parse import urlsplit

    asset_id = upload(client, headers, data, **fields).json()["asset_id"]
    variant = next(v for v in client.get(f"/v1/media/{asset_id}", headers=headers).json()["variants"]
                   if v["profile"] == profile)
    return asset_id, urlsplit(variant["url"]).path, urlsplit(variant["alias_url"]).path
