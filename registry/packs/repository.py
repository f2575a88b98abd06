"""All SQL for packs, versions, terms rows, subscriptions, listing links and webhook deliveries."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import (
    ListingLink,
    Pack,
    PackAsset,
    PackSubscription,
    PackVersion,
    Tenant,
    WebhookDelivery,
)


class PackRepository:
    """Queries on the pack tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *rows: object) -> None:
        """Stage rows and flush."""
        self.session.add_all(rows)
        self.session.flush()

    def tenant_by_name(self, name: str) -> Tenant | None:
        """A tenant by its (NFC) name."""
        return self.session.scalars(select(Tenant).where(Tenant.name == name)).one_or_none()

    def tenant(self, tenant_id: str) -> Tenant | None:
        """A tenant by id."""
        return self.session.get(Tenant, tenant_id)

    def pack(self, brand_tenant_id: str, name: str) -> Pack | None:
        """A brand's pack by name."""
        return self.session.scalars(
            select(Pack).where(Pack.brand_tenant_id == brand_tenant_id, Pack.name == name)
        ).one_or_none()

    def pack_for_update(self, brand_tenant_id: str, name: str) -> Pack | None:
        """A brand's pack, locked until the transaction ends (publishes of one pack run one at a time)."""
        return self.session.scalars(
            select(Pack).where(Pack.brand_tenant_id == brand_tenant_id, Pack.name == name).with_for_update()
        ).one_or_none()

    def pack_by_id(self, pack_id: str) -> Pack | None:
        """A pack by id."""
        return self.session.get(Pack, pack_id)

    def packs(self, limit: int = 500) -> list[Pack]:
        """Every pack, oldest first."""
        return list(self.session.scalars(select(Pack).order_by(Pack.created_at, Pack.id).limit(limit)))

    def versions(self, pack_id: str) -> list[PackVersion]:
        """A pack's published versions, newest first."""
        return list(self.session.scalars(
            select(PackVersion).where(PackVersion.pack_id == pack_id).order_by(PackVersion.number.desc())
        ))

    def latest_number(self, pack_id: str) -> int:
        """The highest published version number (0 when none)."""
        return int(self.session.scalar(
            select(func.max(PackVersion.number)).where(PackVersion.pack_id == pack_id)) or 0)

    def terms_rows(self, asset_ids: list[str]) -> list[PackAsset]:
        """Terms rows naming any of these assets."""
        return list(self.session.scalars(select(PackAsset).where(PackAsset.asset_id.in_(asset_ids))))

    def pack_ids_with_asset(self, asset_ids: list[str]) -> list[str]:
        """Packs with a published version holding any of these assets."""
        return list(self.session.scalars(
            select(PackVersion.pack_id).join(PackAsset, PackAsset.version_id == PackVersion.id)
            .where(PackAsset.asset_id.in_(asset_ids)).distinct()
        ))

    def subscription(self, pack_id: str, seller_tenant_id: str) -> PackSubscription | None:
        """A seller's subscription to a pack."""
        return self.session.scalars(select(PackSubscription).where(
            PackSubscription.pack_id == pack_id, PackSubscription.seller_tenant_id == seller_tenant_id
        )).one_or_none()

    def subscription_by_id(self, subscription_id: str) -> PackSubscription | None:
        """A subscription by id."""
        return self.session.get(PackSubscription, subscription_id)

    def subscriptions_of_packs(self, pack_ids: list[str]) -> list[PackSubscription]:
        """Every subscription to these packs."""
        if not pack_ids:
            return []
        return list(self.session.scalars(select(PackSubscription).where(PackSubscription.pack_id.in_(pack_ids))))

    def subscriptions_of_seller(self, seller_tenant_id: str) -> list[PackSubscription]:
        """A seller's subscriptions."""
        return list(self.session.scalars(
            select(PackSubscription).where(PackSubscription.seller_tenant_id == seller_tenant_id)
            .order_by(PackSubscription.created_at)
        ))

    def link(self, seller_tenant_id: str, sku: str) -> ListingLink | None:
        """A seller's SKU linked to a brand product."""
        return self.session.scalars(select(ListingLink).where(
            ListingLink.seller_tenant_id == seller_tenant_id, ListingLink.sku == sku
        )).one_or_none()

    def delivery(self, delivery_id: str) -> WebhookDelivery | None:
        """A webhook delivery by id."""
        return self.session.get(WebhookDelivery, delivery_id)

    def delivery_for_update(self, delivery_id: str) -> WebhookDelivery | None:
        """A webhook delivery, locked until the transaction ends."""
        return self.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
        ).one_or_none()

    def deliveries(self, subscription_id: str, limit: int) -> list[WebhookDelivery]:
        """A subscription's deliveries, newest first."""
        return list(self.session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.subscription_id == subscription_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit)
        ))
