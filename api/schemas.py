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

    upload_id: str | None = Field(None, description="shown to the tenant that supplied the master only")
    sha256: str | None = Field(None, description="shown to the tenant that supplied the master only")
    format: str
    width: int
    height: int
    size_bytes: int
    version: int


class Provenance(BaseModel):
    """What anyone may know of where an asset's master came from."""

    official: str | None = Field(None, description="the brand whose official picture this is")
    ai_content: str = Field("none", description="none, generated or edited, as its supplier declared")


class AssetResponse(BaseModel):
    """An asset, its master and its variants."""

    asset_id: str
    owner_tenant_id: str | None = Field(None, description="shown to the owner only")
    yours: bool = Field(False, description="you first registered this asset")
    master: MasterInfo
    provenance: Provenance = Field(default_factory=Provenance)
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
    score: float | None = Field(None, description="shown for your own assets only")
    hash_distance: int | None = Field(None, description="shown for your own assets only")
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
    display_name: str = ""
    built_in: bool = True
    yours: bool = Field(False, description="a tenant profile you defined")
    published: bool = Field(True, description="every tenant may see and use it (built-ins are)")
    retired: bool = Field(False, description="renders nothing new; stored variants are still served")
    version: int = 1
    versions: int = 1
    definition: dict[str, object] = Field(default_factory=dict, description="every field, as POST /v1/profiles takes")


class PlatformInfo(BaseModel):
    """Which profile a platform uses for each slot role: a built-in, or a tenant's (`NAMESPACE~NAME`)."""

    platform: str
    roles: dict[str, str]
    display_name: str = ""
    built_in: bool = True
    yours: bool = Field(False, description="a tenant platform you defined")
    published: bool = Field(True, description="every tenant may see and use it (built-ins are)")
    retired: bool = Field(False, description="serves no new listing, report or pull")
    version: int = 1


class MeResponse(BaseModel):
    """The tenant behind the API key, and the dedup limits in force."""

    tenant_id: str
    tenant_name: str
    kind: str
    can_upload: bool
    permissions: list[str] = Field(default_factory=list, description="what this key's tenant kind may do")


class KeyInfoResponse(BaseModel):
    """One API key as its tenant sees it: never the key or its hash."""

    key_id: str
    prefix: str
    label: str
    active: bool
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class NewKeyResponse(KeyInfoResponse):
    """A freshly issued key: `key` is shown this once."""

    key: str


class KeyRequest(BaseModel):
    """Issue or rotate a key; an expiry is optional."""

    label: str = Field("", max_length=100)
    expires_at: datetime | None = None


class GrantRequest(BaseModel):
    """Share the caller's listings with a platform tenant, by its name."""

    platform: str = Field(min_length=1, max_length=200)


class GrantResponse(BaseModel):
    """A platform the caller shares its listings with."""

    grant_id: str
    platform: str
    created_at: datetime


class MasterChangeResponse(BaseModel):
    """One change of an asset's master, as its owner sees it."""

    change_id: str
    reason: str = Field(description="better_copy, official or restore")
    previous_upload_id: str
    new_upload_id: str
    created_at: datetime


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
