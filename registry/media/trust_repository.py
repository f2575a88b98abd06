"""All SQL for master history and the tenants behind an asset's uploads and slots."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from registry.models import Asset, MasterChange, Sku, SkuSlot, Upload


class TrustRepository:
    """Queries the trust rules need."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *rows: object) -> None:
        """Stage rows and flush."""
        self.session.add_all(rows)
        self.session.flush()

    def latest_change(self, asset_id: str) -> MasterChange | None:
        """The newest master change of an asset."""
        return self.session.scalars(
            select(MasterChange).where(MasterChange.asset_id == asset_id)
            .order_by(MasterChange.created_at.desc(), MasterChange.id.desc()).limit(1)
        ).one_or_none()

    def changes(self, asset_id: str, limit: int = 50) -> list[MasterChange]:
        """An asset's master changes, newest first."""
        return list(self.session.scalars(
            select(MasterChange).where(MasterChange.asset_id == asset_id)
            .order_by(MasterChange.created_at.desc(), MasterChange.id.desc()).limit(limit)
        ))

    def uploads_of_asset(self, asset_id: str) -> list[Upload]:
        """Every upload resolved to an asset."""
        return list(self.session.scalars(select(Upload).where(Upload.asset_id == asset_id)))

    def slots_of_tenant_on_asset(self, tenant_id: str, asset_id: str) -> list[SkuSlot]:
        """A tenant's SKU slots that point at an asset."""
        return list(self.session.scalars(
            select(SkuSlot).join(Sku, Sku.id == SkuSlot.sku_id)
            .where(SkuSlot.asset_id == asset_id, Sku.tenant_id == tenant_id)
        ))

    def other_tenants_on_asset(self, tenant_id: str, asset_id: str) -> bool:
        """Whether any other tenant has an upload or a SKU slot on an asset."""
        upload = self.session.scalars(
            select(Upload.id).where(Upload.asset_id == asset_id, Upload.tenant_id != tenant_id).limit(1)
        ).first()
        if upload is not None:
            return True
        slot = self.session.scalars(
            select(SkuSlot.id).join(Sku, Sku.id == SkuSlot.sku_id)
            .where(SkuSlot.asset_id == asset_id, Sku.tenant_id != tenant_id).limit(1)
        ).first()
        return slot is not None

    def own_upload_ids(self, tenant_id: str, upload_ids: list[str]) -> set[str]:
        """Which of these upload ids belong to the tenant."""
        if not upload_ids:
            return set()
        return set(self.session.scalars(
            select(Upload.id).where(Upload.id.in_(upload_ids), Upload.tenant_id == tenant_id)
        ))

    def own_asset_ids(self, tenant_id: str, asset_ids: list[str]) -> set[str]:
        """Which of these assets the tenant owns or supplied the master of."""
        if not asset_ids:
            return set()
        return set(self.session.scalars(
            select(Asset.id).where(Asset.id.in_(asset_ids),
                                   or_(Asset.owner_tenant_id == tenant_id, Asset.supplier_tenant_id == tenant_id))
        ))
