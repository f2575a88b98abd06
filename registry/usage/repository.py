"""All SQL for usage counts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Select, Subquery, and_, func, select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from registry.models import (
    AssetReferrer,
    HotlinkPolicy,
    ListingLink,
    Pack,
    PackAsset,
    PackSubscription,
    Product,
    ProductSlot,
    Sku,
    SkuSlot,
    Upload,
    VariantHit,
)

# (gtin, sku, title, pictures, shops, hits, uploads deduplicated by others, their bytes, linked pictures)
ProductRow = tuple[str, str, str, int, int, int, int, int, int]


@dataclass(frozen=True)
class Reach:
    """How far a set of pictures went: shops using them, hits, sites, reuse and what it saved."""

    shops: int
    hits: int
    sites: int
    uploads_deduplicated: int
    storage_saved_bytes: int
    linked: int  # (shop, picture) pairs shown through pack links, no upload needed


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

    def referrer_rules(self, tenant_id: str) -> tuple[str, ...]:
        """The sites the tenant declared its own: its hotlink referrer allow-list (hosts, `.suffix` rules)."""
        row = self.session.get(HotlinkPolicy, tenant_id)
        return tuple(row.referrers) if row is not None else ()

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

    # ------------------------------------------------------------------ per SKU and per asset

    def hits_by_sku(self, tenant_id: str, since: date, top: int) -> list[tuple[str, int, int, int]]:
        """The tenant's SKUs by hits: (code, pictures, hits, referring sites), most hotlinked first."""
        pairs = (select(Sku.code.label("code"), SkuSlot.asset_id.label("asset_id"))
                 .join(Sku, Sku.id == SkuSlot.sku_id).where(Sku.tenant_id == tenant_id).distinct().subquery())
        hits = (select(VariantHit.asset_id.label("asset_id"), func.sum(VariantHit.hits).label("hits"))
                .where(VariantHit.day >= since, VariantHit.asset_id.in_(select(pairs.c.asset_id)))
                .group_by(VariantHit.asset_id).subquery())
        sites = (select(pairs.c.code.label("code"), func.count(AssetReferrer.host.distinct()).label("sites"))
                 .join(AssetReferrer, and_(AssetReferrer.asset_id == pairs.c.asset_id, AssetReferrer.day >= since))
                 .group_by(pairs.c.code).subquery())
        total = func.coalesce(func.sum(hits.c.hits), 0)
        rows = self.session.execute(
            select(pairs.c.code, func.count(pairs.c.asset_id.distinct()), total,
                   func.coalesce(func.max(sites.c.sites), 0))
            .outerjoin(hits, hits.c.asset_id == pairs.c.asset_id)
            .outerjoin(sites, sites.c.code == pairs.c.code)
            .group_by(pairs.c.code).order_by(total.desc(), pairs.c.code).limit(top))
        return [(code, int(pictures), int(hits_), int(sites_)) for code, pictures, hits_, sites_ in rows]

    def shops_by_asset(self, assets: list[str], exclude: str | None = None) -> dict[str, int]:
        """How many tenants (other than `exclude`) use each asset: uploaded it, show it in a SKU, or link a
        pack product showing it. Counts only: who they are never leaves the repository."""
        users = _users(assets, exclude)
        rows = self.session.execute(select(users.c.asset_id, func.count(users.c.tenant_id.distinct()))
                                    .group_by(users.c.asset_id))
        return {asset_id: int(count) for asset_id, count in rows}

    def reuse_by_asset(self, assets: list[str], *, tenant_id: str | None = None,
                       exclude: str | None = None) -> dict[str, tuple[int, int]]:
        """Deduplicated uploads per asset and their bytes: the tenant's own, or everyone's but `exclude`'s."""
        wanted = [Upload.dedup != "new", Upload.asset_id.in_(assets)]
        if tenant_id is not None:
            wanted.append(Upload.tenant_id == tenant_id)
        if exclude is not None:
            wanted.append(Upload.tenant_id != exclude)
        rows = self.session.execute(select(Upload.asset_id, func.count(), func.sum(Upload.size_bytes))
                                    .where(*wanted).group_by(Upload.asset_id))
        return {asset_id: (int(count), int(size)) for asset_id, count, size in rows}

    def site_counts(self, assets: list[str], since: date) -> dict[str, int]:
        """How many referring sites showed each asset."""
        rows = self.session.execute(
            select(AssetReferrer.asset_id, func.count(AssetReferrer.host.distinct()))
            .where(AssetReferrer.asset_id.in_(assets), AssetReferrer.day >= since).group_by(AssetReferrer.asset_id))
        return {asset_id: int(count) for asset_id, count in rows}

    # ------------------------------------------------------------------ a brand's pictures

    def brand_assets(self, brand_id: str) -> list[str]:
        """Pictures of the brand's catalogue (current official slots) and of its published packs."""
        return sorted(self.session.scalars(_brand_assets(brand_id)))

    def brand_reach(self, brand_id: str, since: date) -> Reach:
        """Totals over every picture of the brand's catalogue and packs, others' use counted, never named."""
        mine = _brand_assets(brand_id)
        users = _users(mine, brand_id)
        shops = self.session.scalar(select(func.count(users.c.tenant_id.distinct())))
        hits = self.session.scalar(select(func.coalesce(func.sum(VariantHit.hits), 0))
                                   .where(VariantHit.asset_id.in_(mine), VariantHit.day >= since))
        sites = self.session.scalar(select(func.count(AssetReferrer.host.distinct()))
                                    .where(AssetReferrer.asset_id.in_(mine), AssetReferrer.day >= since))
        reused, saved = self.session.execute(
            select(func.count(), func.coalesce(func.sum(Upload.size_bytes), 0))
            .where(Upload.asset_id.in_(mine), Upload.tenant_id != brand_id, Upload.dedup != "new")).one()
        pairs = _links(brand_id).distinct().subquery()
        linked = self.session.scalar(select(func.count()).select_from(pairs))
        return Reach(int(shops or 0), int(hits or 0), int(sites or 0), int(reused), int(saved), int(linked or 0))

    def brand_hits_by_day(self, brand_id: str, since: date) -> list[tuple[date, int]]:
        """Hits per day over the brand's pictures."""
        rows = self.session.execute(
            select(VariantHit.day, func.sum(VariantHit.hits))
            .where(VariantHit.asset_id.in_(_brand_assets(brand_id)), VariantHit.day >= since)
            .group_by(VariantHit.day).order_by(VariantHit.day))
        return [(day, int(hits)) for day, hits in rows]

    def brand_products(self, brand_id: str, since: date, top: int) -> list[ProductRow]:
        """Per catalogue product (its current official pictures), most hotlinked first: (gtin, sku, title,
        pictures, shops, hits, uploads deduplicated by others, their bytes, pictures shown through links)."""
        slots = (select(Product.id.label("product_id"), ProductSlot.asset_id.label("asset_id"))
                 .join(ProductSlot, ProductSlot.product_id == Product.id)
                 .where(Product.brand_tenant_id == brand_id).distinct().subquery())
        in_slots = select(slots.c.asset_id)
        hits = (select(VariantHit.asset_id.label("asset_id"), func.sum(VariantHit.hits).label("hits"))
                .where(VariantHit.day >= since, VariantHit.asset_id.in_(in_slots))
                .group_by(VariantHit.asset_id).subquery())
        reuse = (select(Upload.asset_id.label("asset_id"), func.count().label("uploads"),
                        func.sum(Upload.size_bytes).label("size"))
                 .where(Upload.tenant_id != brand_id, Upload.dedup != "new", Upload.asset_id.in_(in_slots))
                 .group_by(Upload.asset_id).subquery())
        pairs = _links(brand_id).distinct().subquery()
        linked = (select(pairs.c.asset_id.label("asset_id"), func.count().label("linked"))
                  .group_by(pairs.c.asset_id).subquery())
        per_asset = (select(slots.c.product_id, slots.c.asset_id,
                            func.coalesce(hits.c.hits, 0).label("hits"),
                            func.coalesce(reuse.c.uploads, 0).label("uploads"),
                            func.coalesce(reuse.c.size, 0).label("size"),
                            func.coalesce(linked.c.linked, 0).label("linked"))
                     .outerjoin(hits, hits.c.asset_id == slots.c.asset_id)
                     .outerjoin(reuse, reuse.c.asset_id == slots.c.asset_id)
                     .outerjoin(linked, linked.c.asset_id == slots.c.asset_id).subquery())
        users = _users(in_slots, brand_id)
        shops = (select(slots.c.product_id.label("product_id"),
                        func.count(users.c.tenant_id.distinct()).label("shops"))
                 .join(users, users.c.asset_id == slots.c.asset_id).group_by(slots.c.product_id).subquery())
        total = func.sum(per_asset.c.hits)
        rows = self.session.execute(
            select(Product.gtin, Product.sku, Product.title, func.count(per_asset.c.asset_id),
                   func.coalesce(func.max(shops.c.shops), 0), total, func.sum(per_asset.c.uploads),
                   func.sum(per_asset.c.size), func.sum(per_asset.c.linked))
            .join(per_asset, per_asset.c.product_id == Product.id)
            .outerjoin(shops, shops.c.product_id == Product.id)
            .group_by(Product.id, Product.gtin, Product.sku, Product.title)
            .order_by(total.desc(), Product.gtin).limit(top))
        return [(gtin, sku, title, int(pictures), int(shops_), int(hits_), int(uploads), int(size), int(links))
                for gtin, sku, title, pictures, shops_, hits_, uploads, size, links in rows]

    def brand_packs(self, brand_id: str) -> list[tuple[str, str, int, int]]:
        """The brand's packs: (name, title, followers, shops showing one of its products through a link)."""
        followers = (select(PackSubscription.pack_id.label("pack_id"), func.count().label("followers"))
                     .group_by(PackSubscription.pack_id).subquery())
        linking = (select(PackSubscription.pack_id.label("pack_id"),
                          func.count(ListingLink.seller_tenant_id.distinct()).label("shops"))
                   .join(ListingLink, ListingLink.subscription_id == PackSubscription.id)
                   .group_by(PackSubscription.pack_id).subquery())
        rows = self.session.execute(
            select(Pack.name, Pack.title, func.coalesce(followers.c.followers, 0), func.coalesce(linking.c.shops, 0))
            .outerjoin(followers, followers.c.pack_id == Pack.id).outerjoin(linking, linking.c.pack_id == Pack.id)
            .where(Pack.brand_tenant_id == brand_id).order_by(Pack.name))
        return [(name, title, int(count), int(shops)) for name, title, count, shops in rows]


AssetIds = list[str] | Select[str]


def _brand_assets(brand_id: str) -> Select[str]:
    """The ids of a brand's pictures: current official slots of its products and every pack version's."""
    either = union(
        select(ProductSlot.asset_id.label("asset_id")).join(Product, Product.id == ProductSlot.product_id)
        .where(Product.brand_tenant_id == brand_id),
        select(PackAsset.asset_id.label("asset_id")).where(PackAsset.brand_tenant_id == brand_id),
    ).subquery()
    return select(either.c.asset_id)


def _links(brand_id: str | None) -> Select[str, str]:
    """(asset, seller) for each official picture a seller's SKU shows through a pack link (not an upload)."""
    query = (select(ProductSlot.asset_id.label("asset_id"), ListingLink.seller_tenant_id.label("tenant_id"))
             .join(PackSubscription, PackSubscription.id == ListingLink.subscription_id)
             .join(Pack, Pack.id == PackSubscription.pack_id)
             .join(Product, and_(Product.brand_tenant_id == Pack.brand_tenant_id, Product.gtin == ListingLink.gtin))
             .join(ProductSlot, ProductSlot.product_id == Product.id))
    if brand_id is not None:
        query = query.where(Pack.brand_tenant_id == brand_id, ListingLink.seller_tenant_id != brand_id)
    return query


def _users(assets: AssetIds, exclude: str | None) -> Subquery:
    """(asset, tenant) for every tenant using one of the assets, `exclude` left out, as a subquery."""
    uploaded = select(Upload.asset_id.label("asset_id"), Upload.tenant_id.label("tenant_id")).where(
        Upload.asset_id.in_(assets))
    placed = (select(SkuSlot.asset_id.label("asset_id"), Sku.tenant_id.label("tenant_id"))
              .join(Sku, Sku.id == SkuSlot.sku_id).where(SkuSlot.asset_id.in_(assets)))
    linked = _links(None).where(ProductSlot.asset_id.in_(assets))
    if exclude is not None:
        uploaded = uploaded.where(Upload.tenant_id != exclude)
        placed = placed.where(Sku.tenant_id != exclude)
        linked = linked.where(ListingLink.seller_tenant_id != exclude)
    return union(uploaded, placed, linked).subquery()
