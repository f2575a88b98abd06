"""SQLAlchemy models: the registry's tables."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware, SQLite included."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Store aware times converted to UTC; naive ones are taken as UTC already."""
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Attach UTC where the database dropped the zone."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with constraint naming fixed for migrations."""

    metadata = MetaData(naming_convention=NAMING)


class Tenant(Base):
    """A brand, merchant or platform using the registry."""

    __tablename__ = "tenants"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    """A hashed API key; the plain key is shown once and never stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    label: Mapped[str] = mapped_column(String(100), default="", server_default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Written at most once per KEY_USE_RESOLUTION (registry.tenants.service), not on every request.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Asset(Base):
    """One canonical picture; every exact or near copy resolves to it."""

    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    owner_tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    master_upload_id: Mapped[str] = mapped_column(String(40))
    master_sha256: Mapped[str] = mapped_column(String(64))
    master_format: Mapped[str] = mapped_column(String(10))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    master_version: Mapped[int] = mapped_column(Integer, default=1)
    merged_into_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # Provenance of the current master: who supplied it, in what role, whether it is the brand's
    # official picture, and whether the supplier declared it AI-generated or AI-edited.
    supplier_tenant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    supplier_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    official_brand: Mapped[str | None] = mapped_column(String(200), nullable=True)
    ai_content: Mapped[str] = mapped_column(String(10), default="none", server_default="none")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Upload(Base):
    """One received file and how it resolved to an asset."""

    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    filename: Mapped[str] = mapped_column(String(500), default="")
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(10))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    dedup: Mapped[str] = mapped_column(String(10))
    match: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    content_pixels: Mapped[int] = mapped_column(BigInteger, default=0)
    sharpness: Mapped[float] = mapped_column(Float, default=0.0)
    jpeg_quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    lossless: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # none, generated or edited: what the uploader declared about AI in this picture.
    ai_content: Mapped[str] = mapped_column(String(10), default="none", server_default="none")


class ContentKey(Base):
    """Exact-duplicate map: the SHA-256 of uploaded bytes to the asset those bytes resolved to."""

    __tablename__ = "content_keys"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Fingerprint(Base):
    """Perceptual hashes of one indexed picture; `seq` orders rows for incremental index loads."""

    __tablename__ = "fingerprints"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    upload_id: Mapped[str] = mapped_column(String(40), unique=True)
    signature_key: Mapped[str] = mapped_column(String(300))
    algo_version: Mapped[int] = mapped_column(Integer)
    h0: Mapped[int] = mapped_column(BigInteger)
    h1: Mapped[int] = mapped_column(BigInteger)
    h2: Mapped[int] = mapped_column(BigInteger)
    h3: Mapped[int] = mapped_column(BigInteger)
    content_width: Mapped[int] = mapped_column(Integer)
    content_height: Mapped[int] = mapped_column(Integer)
    informative: Mapped[bool] = mapped_column(Boolean)
    thumb: Mapped[bytes | None] = mapped_column(LargeBinary(), nullable=True)
    # The detail image's long side and edge energy (processing.verify.DetailSummary): with them a
    # candidate rejected on colour is judged without fetching its detail image. Null on older rows.
    detail_side: Mapped[int | None] = mapped_column(Integer, nullable=True)
    detail_edge_energy: Mapped[float | None] = mapped_column(Float, nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DedupDecision(Base):
    """An owner's ruling that two assets are different pictures (split) or the same (merge)."""

    __tablename__ = "dedup_decisions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    relation: Mapped[str] = mapped_column(String(10))
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    other_asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Sku(Base):
    """A tenant's product code; codes are any Unicode text."""

    __tablename__ = "skus"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    code: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SkuSlot(Base):
    """One image position of a SKU: role and position point at an asset."""

    __tablename__ = "sku_slots"
    __table_args__ = (UniqueConstraint("sku_id", "role", "position"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sku_id: Mapped[str] = mapped_column(ForeignKey("skus.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    upload_id: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Variant(Base):
    """A rendered variant; `version` hashes the master and the profile, so its URL never changes meaning."""

    __tablename__ = "variants"
    __table_args__ = (UniqueConstraint("asset_id", "profile", "version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    profile: Mapped[str] = mapped_column(String(60))
    version: Mapped[str] = mapped_column(String(32))
    master_sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(300))
    content_type: Mapped[str] = mapped_column(String(40))
    etag: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Job(Base):
    """Outbox row for background work: written with the change, published after commit."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_updated", "status", "updated_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VariantHit(Base):
    """Hotlink hits of one asset's variant profile on one UTC day, added up in memory and flushed."""

    __tablename__ = "variant_hits"
    __table_args__ = (Index("ix_variant_hits_asset_day", "asset_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    profile: Mapped[str] = mapped_column(String(60), primary_key=True)
    hits: Mapped[int] = mapped_column(BigInteger, default=0)


class AssetReferrer(Base):
    """Hits of an asset's variants from pages of one site (the Referer's host) on one UTC day."""

    __tablename__ = "asset_referrers"
    __table_args__ = (Index("ix_asset_referrers_asset_day", "asset_id", "day"),)

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    asset_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    hits: Mapped[int] = mapped_column(BigInteger, default=0)


class HotlinkPolicy(Base):
    """How a tenant's pictures may be hotlinked: public or signed URLs, and which sites may show them."""

    __tablename__ = "hotlink_policies"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    signed: Mapped[bool] = mapped_column(Boolean, default=False)
    referrers: Mapped[list[str]] = mapped_column(JSON, default=list)
    secret: Mapped[str] = mapped_column(String(64), default="")
    previous_secret: Mapped[str] = mapped_column(String(64), default="")
    previous_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class RevokedAsset(Base):
    """An asset its owner withdrew: none of its URLs answers any more."""

    __tablename__ = "revoked_assets"

    asset_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"))
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class PlatformGrant(Base):
    """A seller's explicit consent that a platform tenant may read its listings."""

    __tablename__ = "platform_grants"
    __table_args__ = (UniqueConstraint("seller_tenant_id", "platform_tenant_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seller_tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    platform_tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class MasterChange(Base):
    """One change of an asset's master: who made it, why, and what the master was before."""

    __tablename__ = "master_changes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    tenant_id: Mapped[str] = mapped_column(String(40))
    reason: Mapped[str] = mapped_column(String(40))
    previous_upload_id: Mapped[str] = mapped_column(String(40))
    previous_supplier_tenant_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    previous_supplier_kind: Mapped[str | None] = mapped_column(String(20), nullable=True)
    previous_official_brand: Mapped[str | None] = mapped_column(String(200), nullable=True)
    new_upload_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Product(Base):
    """A brand's catalogue entry: its SKU, its GTIN (always 14 digits), title and free attributes."""

    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("brand_tenant_id", "gtin"), UniqueConstraint("brand_tenant_id", "sku"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    brand_tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    sku: Mapped[str] = mapped_column(String(200))
    gtin: Mapped[str] = mapped_column(String(14), index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    attributes: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProductSlot(Base):
    """One official picture of a product: role and position, plus the GS1 facet it came with."""

    __tablename__ = "product_slots"
    __table_args__ = (UniqueConstraint("product_id", "role", "position"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    product_id: Mapped[str] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    position: Mapped[int] = mapped_column(Integer)
    facet: Mapped[str] = mapped_column(String(8), default="")
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id"), index=True)
    upload_id: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Pack(Base):
    """A brand's named set of products that sellers subscribe to; its draft lists the products."""

    __tablename__ = "packs"
    __table_args__ = (UniqueConstraint("brand_tenant_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    brand_tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(300), default="")
    draft_product_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PackVersion(Base):
    """A published, immutable version of a pack: a snapshot of its products and slots with its terms."""

    __tablename__ = "pack_versions"
    __table_args__ = (UniqueConstraint("pack_id", "number"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pack_id: Mapped[str] = mapped_column(ForeignKey("packs.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    changelog: Mapped[str] = mapped_column(Text, default="")
    licence: Mapped[str] = mapped_column(Text, default="")
    platforms: Mapped[list[str]] = mapped_column(JSON, default=list)
    embargo_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    contents: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PackAsset(Base):
    """Which assets a pack version holds, with its terms copied: the serving check reads only this."""

    __tablename__ = "pack_assets"
    __table_args__ = (UniqueConstraint("version_id", "asset_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("pack_versions.id", ondelete="CASCADE"), index=True)
    asset_id: Mapped[str] = mapped_column(String(40), index=True)
    brand_tenant_id: Mapped[str] = mapped_column(String(40))
    embargo_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class PackSubscription(Base):
    """A seller following a brand's pack, with the webhook it wants change events on."""

    __tablename__ = "pack_subscriptions"
    __table_args__ = (UniqueConstraint("pack_id", "seller_tenant_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pack_id: Mapped[str] = mapped_column(ForeignKey("packs.id", ondelete="CASCADE"), index=True)
    seller_tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    webhook_url: Mapped[str] = mapped_column(String(2000), default="")
    webhook_secret: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ListingLink(Base):
    """A seller's SKU that shows a brand product's slots from a subscribed pack (latest or pinned)."""

    __tablename__ = "listing_links"
    __table_args__ = (UniqueConstraint("seller_tenant_id", "sku"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    seller_tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    sku: Mapped[str] = mapped_column(String(200))
    subscription_id: Mapped[str] = mapped_column(ForeignKey("pack_subscriptions.id", ondelete="CASCADE"),
                                                 index=True)
    gtin: Mapped[str] = mapped_column(String(14))
    pinned_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookDelivery(Base):
    """One change event for one subscription; sent and retried by a job, logged attempt by attempt."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("pack_subscriptions.id", ondelete="CASCADE"),
                                                 index=True)
    event: Mapped[str] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    log: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ProfileNamespace(Base):
    """The prefix a tenant's profile names carry (`namespace~name`): one per tenant, never reused."""

    __tablename__ = "profile_namespaces"

    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(20), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TenantDefinition:
    """The columns a tenant's named, versioned definition (a profile or a platform) has: its name, owner and state.

    Its content lives in immutable version rows (`DefinitionVersion`); `current_version` numbers the latest."""

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    tenant_id: Mapped[str] = mapped_column(ForeignKey("tenants.id"), index=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    if TYPE_CHECKING:
        # the models' declarative constructor (Base's), so shared code may make a row of either kind
        def __init__(self, **columns: Any) -> None: ...


class DefinitionVersion:
    """The columns every version row of a tenant definition has; each model adds its owner key and content.

    The sort orders keep the tables' column order as migrated: id, the owner key (its model gives it sort order
    -2), number, the content, created_at."""

    id: Mapped[str] = mapped_column(String(40), primary_key=True, sort_order=-3)
    number: Mapped[int] = mapped_column(Integer, sort_order=-1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, sort_order=1)


class TenantProfile(TenantDefinition, Base):
    """A render profile a brand or platform defined; its definitions are its versions (immutable rows)."""

    __tablename__ = "tenant_profiles"


class TenantProfileVersion(DefinitionVersion, Base):
    """One definition of a tenant profile, never changed: old variant URLs are rendered from it."""

    __tablename__ = "tenant_profile_versions"
    __table_args__ = (UniqueConstraint("profile_id", "number"),)

    profile_id: Mapped[str] = mapped_column(ForeignKey("tenant_profiles.id", ondelete="CASCADE"), index=True,
                                            sort_order=-2)
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    digest: Mapped[str] = mapped_column(String(16))


class TenantPlatform(TenantDefinition, Base):
    """A brand's or platform's own slot map (role → profile), named `namespace~name` like its profiles."""

    __tablename__ = "tenant_platforms"


class TenantPlatformVersion(DefinitionVersion, Base):
    """One slot map of a tenant platform, never changed (the history of what listings used)."""

    __tablename__ = "tenant_platform_versions"
    __table_args__ = (UniqueConstraint("platform_id", "number"),)

    platform_id: Mapped[str] = mapped_column(ForeignKey("tenant_platforms.id", ondelete="CASCADE"), index=True,
                                             sort_order=-2)
    roles: Mapped[dict[str, object]] = mapped_column(JSON)
