"""All SQL for tenant profiles, their versions and namespaces."""

from __future__ import annotations

from sqlalchemy import ColumnElement, exists, or_, select

from registry.definitions.repository import DefinitionRepository
from registry.models import (
    Asset,
    PlatformGrant,
    Product,
    ProductSlot,
    ProfileNamespace,
    Sku,
    SkuSlot,
    TenantProfile,
    TenantProfileVersion,
    Upload,
)


class ProfileRepository(DefinitionRepository[TenantProfile, TenantProfileVersion]):
    """Queries on tenant profiles and the namespaces of tenants' profiles and platforms."""

    row = TenantProfile
    version = TenantProfileVersion

    def _versions_of(self, definition_id: str) -> ColumnElement[bool]:
        """A profile's version rows."""
        return TenantProfileVersion.profile_id == definition_id

    def namespace_of(self, tenant_id: str) -> str | None:
        """The tenant's profile namespace, once it has one."""
        return self.session.scalar(select(ProfileNamespace.namespace).where(ProfileNamespace.tenant_id == tenant_id))

    def namespace_taken(self, namespace: str) -> bool:
        """Whether any tenant holds this namespace."""
        return self.session.scalar(select(exists().where(ProfileNamespace.namespace == namespace))) or False

    def tenant_uses_asset(self, tenant_id: str, asset_ids: list[str]) -> bool:
        """Whether a tenant has to do with any of these assets: owns, supplied or uploaded one, shows one in its
        SKUs or products, or (a platform) one is in the listings of a seller that shares with it."""
        ids = [a for a in dict.fromkeys(asset_ids) if a]
        owned = select(Asset.id).where(Asset.id.in_(ids), or_(Asset.owner_tenant_id == tenant_id,
                                                               Asset.supplier_tenant_id == tenant_id))
        uploaded = select(Upload.id).where(Upload.asset_id.in_(ids), Upload.tenant_id == tenant_id)
        slotted = (select(SkuSlot.id).join(Sku, Sku.id == SkuSlot.sku_id)
                   .where(SkuSlot.asset_id.in_(ids), Sku.tenant_id == tenant_id))
        official = (select(ProductSlot.id).join(Product, Product.id == ProductSlot.product_id)
                    .where(ProductSlot.asset_id.in_(ids), Product.brand_tenant_id == tenant_id))
        shared = (select(SkuSlot.id).join(Sku, Sku.id == SkuSlot.sku_id)
                  .join(PlatformGrant, PlatformGrant.seller_tenant_id == Sku.tenant_id)
                  .where(SkuSlot.asset_id.in_(ids), PlatformGrant.platform_tenant_id == tenant_id))
        return any(self.session.scalar(select(exists(query))) for query in (owned, uploaded, slotted, official,
                                                                             shared))
