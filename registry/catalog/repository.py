"""All SQL for the brand catalogue: products and their official slots."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Product, ProductSlot


class CatalogRepository:
    """Queries on products and product slots."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *rows: object) -> None:
        """Stage rows and flush."""
        self.session.add_all(rows)
        self.session.flush()

    def by_gtin(self, brand_tenant_id: str, gtin: str) -> Product | None:
        """The brand's product with this GTIN-14."""
        return self.session.scalars(
            select(Product).where(Product.brand_tenant_id == brand_tenant_id, Product.gtin == gtin)
        ).one_or_none()

    def by_sku(self, brand_tenant_id: str, sku: str) -> Product | None:
        """The brand's product with this SKU."""
        return self.session.scalars(
            select(Product).where(Product.brand_tenant_id == brand_tenant_id, Product.sku == sku)
        ).one_or_none()

    def by_ids(self, product_ids: list[str]) -> list[Product]:
        """Products by id."""
        if not product_ids:
            return []
        return list(self.session.scalars(select(Product).where(Product.id.in_(product_ids))))

    def list_products(self, brand_tenant_id: str, limit: int, after: str | None) -> list[Product]:
        """A page of the brand's products ordered by GTIN."""
        query = select(Product).where(Product.brand_tenant_id == brand_tenant_id).order_by(Product.gtin).limit(limit)
        if after is not None:
            query = query.where(Product.gtin > after)
        return list(self.session.scalars(query))

    def slots(self, product_id: str) -> list[ProductSlot]:
        """A product's slots."""
        return list(self.session.scalars(select(ProductSlot).where(ProductSlot.product_id == product_id)))

    def slot(self, product_id: str, role: str, position: int) -> ProductSlot | None:
        """The slot at role/position."""
        return self.session.scalars(select(ProductSlot).where(
            ProductSlot.product_id == product_id, ProductSlot.role == role, ProductSlot.position == position
        )).one_or_none()
