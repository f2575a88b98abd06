"""All SQL for usage counts."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from registry.models import AssetReferrer, Sku, SkuSlot, Upload, VariantHit


class UsageRepository:
    """Adds to and reads the per-day usage tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def _add(self, model: type[VariantHit] | type[AssetReferrer], key: str,
             counts: Mapping[tuple[str, str], int], day: date) -> None:
        if not counts:
            return
        insert = postgresql.insert if self.session.get_bind().dialect.name == "postgresql" else sqlite.insert
        rows = [{"day": day, "asset_id": asset_id, key: other, "hits": hits}
                for (asset_id, other), hits in counts.items()]
        statement = insert(model).values(rows)
        self.session.execute(statement.on_conflict_do_update(
            index_elements=["day", "asset_id", key], set_={"hits": model.hits + statement.excluded.hits}))

    def add_hits(self, day: date, hits: Mapping[tuple[str, str], int],
                 referrers: Mapping[tuple[str, str], int]) -> None:
        """Add (asset, profile) hits and (asset, referring host) hits to one day's counts."""
        self._add(VariantHit, "profile", hits, day)
        self._add(AssetReferrer, "host", referrers, day)

    def tenant_assets(self, tenant_id: str) -> list[str]:
        """Assets a tenant uploaded or placed on a SKU."""
        uploaded = select(Upload.asset_id).where(Upload.tenant_id == tenant_id)
        placed = select(SkuSlot.asset_id).join(Sku, Sku.id == SkuSlot.sku_id).where(Sku.tenant_id == tenant_id)
        return sorted(set(self.session.scalars(uploaded.union(placed))))

    def hits_by_day(self, assets: list[str], since: date) -> list[tuple[date, int]]:
        """Hits per day over the assets."""
        rows = self.session.execute(
            select(VariantHit.day, func.sum(VariantHit.hits)).where(VariantHit.asset_id.in_(assets),
                                                                   VariantHit.day >= since)
            .group_by(VariantHit.day).order_by(VariantHit.day))
        return [(day, int(hits)) for day, hits in rows]

    def hits_by_asset(self, assets: list[str], since: date) -> dict[str, int]:
        """Hits per asset."""
        rows = self.session.execute(
            select(VariantHit.asset_id, func.sum(VariantHit.hits)).where(VariantHit.asset_id.in_(assets),
                                                                        VariantHit.day >= since)
            .group_by(VariantHit.asset_id))
        return {asset_id: int(hits) for asset_id, hits in rows}

    def sites_by_asset(self, assets: list[str], since: date) -> dict[str, set[str]]:
        """Referring sites per asset."""
        rows = self.session.execute(
            select(AssetReferrer.asset_id, AssetReferrer.host).where(AssetReferrer.asset_id.in_(assets),
                                                                    AssetReferrer.day >= since).distinct())
        found: dict[str, set[str]] = {}
        for asset_id, host in rows:
            found.setdefault(asset_id, set()).add(host)
        return found

    def skus_by_asset(self, tenant_id: str) -> dict[str, list[str]]:
        """The tenant's SKU codes showing each asset."""
        rows = self.session.execute(select(SkuSlot.asset_id, Sku.code).join(Sku, Sku.id == SkuSlot.sku_id)
                                    .where(Sku.tenant_id == tenant_id).distinct())
        found: dict[str, list[str]] = {}
        for asset_id, code in rows:
            found.setdefault(asset_id, []).append(code)
        return found

    def uploads(self, tenant_id: str) -> tuple[int, int, int]:
        """The tenant's uploads: all, deduplicated (an existing asset reused), bytes of the deduplicated ones."""
        total, reused, saved = self.session.execute(
            select(func.count(), func.count().filter(Upload.dedup != "new"),
                   func.coalesce(func.sum(Upload.size_bytes).filter(Upload.dedup != "new"), 0))
            .where(Upload.tenant_id == tenant_id)).one()
        return int(total), int(reused), int(saved)
