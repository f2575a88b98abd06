"""Row factories: registry rows written straight to the database, so services are tested without HTTP."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from registry.ids import new_id
from registry.media.blobs import original_key
from registry.models import Asset, ContentKey, Fingerprint, Tenant, Upload
from registry.runtime import Runtime
from registry.tenants.service import Principal, TenantKind
from tests.fixtures.pictures import jpeg, product


def tenant(rt: Runtime, name: str, kind: TenantKind = TenantKind.MERCHANT) -> Principal:
    """A tenant row and the principal a key of it would authenticate as."""
    row = Tenant(id=new_id("ten"), name=name, kind=kind.value)
    with rt.db.unit_of_work() as session:
        session.add(row)
    return Principal(tenant_id=row.id, tenant_name=name, kind=kind, key_id=new_id("key"))


@dataclass(frozen=True)
class MadeUpload:
    """Ids of an upload row made by `add_upload`."""

    asset_id: str
    upload_id: str
    sha256: str


def picture_bytes(seed: int) -> bytes:
    """A small distinct JPEG."""
    return jpeg(product(seed, size=240, label=f"F{seed}"), 90)


def add_upload(
    rt: Runtime, owner: Principal, seed: int, *, asset_id: str | None = None, fingerprint: bool = True,
    content_pixels: int = 10_000, sharpness: float = 1.0, jpeg_quality: int | None = 85,
) -> MadeUpload:
    """An upload row with its content key, stored original and (optionally) fingerprint row.

    Without `asset_id` it makes a new asset whose master it is; with one it joins that asset.
    """
    data = picture_bytes(seed)
    sha256 = hashlib.sha256(data).hexdigest()
    rt.store.put_if_absent(original_key(sha256), data, "image/jpeg")
    upload_id = new_id("upl")
    with rt.db.unit_of_work() as session:
        if asset_id is None:
            asset_id = new_id("ast")
            session.add(Asset(id=asset_id, owner_tenant_id=owner.tenant_id, master_upload_id=upload_id,
                              master_sha256=sha256, master_format="JPEG", width=240, height=240,
                              size_bytes=len(data), master_version=1))
            session.flush()
        session.add(Upload(id=upload_id, tenant_id=owner.tenant_id, asset_id=asset_id, sha256=sha256,
                           filename=f"{seed}.jpg", size_bytes=len(data), format="JPEG", width=240, height=240,
                           dedup="new", match={}, content_pixels=content_pixels, sharpness=sharpness,
                           jpeg_quality=jpeg_quality, lossless=False))
        session.add(ContentKey(sha256=sha256, asset_id=asset_id, size_bytes=len(data)))
        if fingerprint:
            session.add(Fingerprint(asset_id=asset_id, upload_id=upload_id, signature_key=f"sig/{sha256}",
                                    algo_version=1, h0=seed, h1=seed, h2=seed, h3=seed, content_width=100,
                                    content_height=100, informative=True, thumb=None, active=True))
    return MadeUpload(asset_id=asset_id, upload_id=upload_id, sha256=sha256)
