"""All SQL for SKUs and their image slots."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import Sku, SkuSlot


class SkuRepository:
    """Queries on SKUs and slots."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, tenant_id: str, code: str) -> Sku | None:
        """The tenant's SKU with this code."""
        return self.session.scalars(
            select(Sku).where(Sku.tenant_id == tenant_id, Sku.code == code)
        ).one_or_none()

    def add(self, *rows: object) -> None:
        """Stage rows and flush."""
        self.session.add_all(rows)
        self.session.flush()

    def slot(self, sku_id: str, role: str, position: int) -> SkuSlot | None:
        """The slot at role/position."""
        return self.session.scalars(
            select(SkuSlot).where(SkuSlot.sku_id == sku_id, SkuSlot.role == role, SkuSlot.position == position)
        ).one_or_none()

    def next_position(self, sku_id: str, role: str) -> int:
        """One past the highest position used for a role."""
        highest = self.session.scalar(
            select(func.max(SkuSlot.position)).where(SkuSlot.sku_id == sku_id, SkuSlot.role == role)
        )
        return 0 if highest is None else int(highest) + 1

    def slots(self, sku_id: str) -> list[SkuSlot]:
        """All slots of a SKU in listing order."""
        return list(self.session.scalars(select(SkuSlot).where(SkuSlot.sku_id == sku_id)))

    def list_skus(self, tenant_id: str, limit: int, after: str | None) -> list[Sku]:
        """A page of the tenant's SKUs ordered by code."""
        query = select(Sku).where(Sku.tenant_id == tenant_id).order_by(Sku.code).limit(limit)
        if after is not None:
            query = query.where(Sku.code > after)
        return list(self.session.scalars(query))

    def slots_using_asset(self, asset_id: str) -> list[SkuSlot]:
        """Slots that point at an asset."""
        return list(self.session.scalars(select(SkuSlot).where(SkuSlot.asset_id == asset_id)))
