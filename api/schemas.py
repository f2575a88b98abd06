"""Response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from registry.ids import ID_PATTERN


class UploadResponse(BaseModel):
    """What an upload resolved to."""

    asset_id: str
    upload_id: str
    dedup: str = Field(description="new, exact or near")
    created: bool
    promoted: bool = Field(False, description="this upload became the asset's new master")
    sku: str | None = None
    role: str | None = None
    position: int | None = None
    asset_url: str


class VariantInfo(BaseModel):
    """One profile's variant of an asset."""

    profile: str
    description: str
    url: str
    alias_url: str
    content_type: str
    rendered: bool
    width: int | None = None
    height: int | None = None
    size_bytes: int | None = None
    # what is known without decoding: "fail" when the picture is too small for the profile (it is
    # then never rendered), the stored variant's size/bytes/format checks once rendered, else None
    compliance: str | None = None
    problems: list[str] = Field(default_factory=list)


class MasterInfo(BaseModel):
    """Facts of an asset's current master picture."""

    upload_id: str
    sha256: str
    format: str
    width: int
    height: int
    size_bytes: int
    version: int


class AssetResponse(BaseModel):
    """An asset, its master and its variants."""

    asset_id: str
    owner_tenant_id: str
    master: MasterInfo
    uploads: int
    created_at: datetime
    updated_at: datetime
    variants: list[VariantInfo]


class UploadDetail(BaseModel):
    """One upload and how it matched."""

    upload_id: str
    asset_id: str
    dedup: str
    filename: str
    sha256: str
    format: str
    width: int
    height: int
    size_bytes: int
    created_at: datetime
    match: dict[str, object]
    thumb_url: str = Field(description="the asset's current web_thumb variant")


class ListingSlot(BaseModel):
    """One image of a listing, rendered for a platform."""

    role: str
    position: int
    asset_id: str
    profile: str
    url: str
    alias_url: str
    content_type: str
    file_name: str
    compliance: str | None = None  # as VariantInfo.compliance
    rejected: bool = False  # the platform would refuse this slot's picture


class ListingResponse(BaseModel):
    """A SKU's images for one platform."""

    sku: str
    platform: str
    slots: list[ListingSlot]


class SkuSummary(BaseModel):
    """A SKU and how many image slots it has."""

    sku: str
    slots: int


class SearchHitResponse(BaseModel):
    """A canonical asset showing the searched picture."""

    asset_id: str
    score: float
    hash_distance: int
    asset_url: str
    thumb_url: str
    verification: dict[str, object]


class SearchResponse(BaseModel):
    """Matches for a searched picture; nothing was stored."""

    matches: list[SearchHitResponse]
    explanation: dict[str, object]


class SplitRequest(BaseModel):
    """Take one upload out of an asset it was wrongly merged into."""

    upload_id: str = Field(pattern=ID_PATTERN)


class MergeRequest(BaseModel):
    """Fold a missed duplicate asset into this one."""

    duplicate_asset_id: str = Field(pattern=ID_PATTERN)


class ProfileInfo(BaseModel):
    """A variant profile."""

    name: str
    description: str
    width: int
    height: int
    fit: str
    format: str
    digest: str


class PlatformInfo(BaseModel):
    """Which profile a platform uses for each slot role."""

    platform: str
    roles: dict[str, str]


class MeResponse(BaseModel):
    """The tenant behind the API key, and the dedup limits in force."""

    tenant_id: str
    tenant_name: str
    kind: str
    can_upload: bool
    dedup_limits: dict[str, float]


class ComplianceCheckInfo(BaseModel):
    """One measured fact against one rule of a marketplace profile."""

    name: str
    verdict: str
    value: float | int | str
    rule: str


class ProfileComplianceInfo(BaseModel):
    """One profile of a platform, the slot roles it serves and the asset's report for it."""

    profile: str
    roles: list[str]
    verdict: str
    rejected: bool
    url: str | None
    source: str
    checks: list[ComplianceCheckInfo]


class ComplianceResponse(BaseModel):
    """Would a platform accept this asset, slot role by slot role?"""

    asset_id: str
    platform: str
    verdict: str
    rejected_roles: list[str]
    profiles: list[ProfileComplianceInfo]
