"""Usage: hotlink hits counted in memory by the API and flushed here; per-tenant analytics."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from registry.runtime import Runtime
from registry.usage.repository import UsageRepository

# The assumption behind "design work avoided": every upload that reused an existing asset spared one
# retouch of a product photo for marketplaces (cut-out, white background, crops): 20 minutes of a designer.
MINUTES_PER_REUSED_PICTURE = 20


@dataclass(frozen=True)
class AssetUsage:
    """One asset's hotlink usage: hits, the sites showing it that the caller may see named (`sites`) and
    how many others did (`other_sites`), the caller's SKUs, how many shops use it (a count, never who),
    and the caller's uploads that reused it."""

    asset_id: str
    hits: int
    sites: tuple[str, ...]
    other_sites: int
    skus: tuple[str, ...]
    shops: int
    uploads_deduplicated: int
    storage_saved_bytes: int


@dataclass(frozen=True)
class SkuUsage:
    """One of the caller's SKUs: its pictures' hits and the sites showing them."""

    sku: str
    pictures: int
    hits: int
    sites: int


@dataclass(frozen=True)
class BrandProductUsage:
    """One catalogue product of a brand: its official pictures' reach among other shops."""

    gtin: str
    sku: str
    title: str
    pictures: int
    shops: int
    hits: int
    uploads_deduplicated: int
    storage_saved_bytes: int
    linked_pictures: int
    design_minutes_avoided: int


@dataclass(frozen=True)
class BrandPackUsage:
    """One pack of a brand: how many sellers follow it and how many show its products through links."""

    name: str
    title: str
    followers: int
    shops_linking: int


@dataclass(frozen=True)
class BrandPictureUsage:
    """One official picture of a brand, among other shops."""

    asset_id: str
    shops: int
    hits: int
    sites: int
    uploads_deduplicated: int
    storage_saved_bytes: int


@dataclass(frozen=True)
class BrandUsage:
    """How far a brand's catalogue and pack pictures went among the shops reusing them.

    Counts only: the brand learns how many shops use its pictures, never which (docs/security.md §2).
    """

    pictures: int
    shops: int
    hits: int
    sites: int
    uploads_deduplicated: int
    storage_saved_bytes: int
    linked_pictures: int
    design_minutes_avoided: int
    by_day: tuple[tuple[date, int], ...]
    products: tuple[BrandProductUsage, ...]
    packs: tuple[BrandPackUsage, ...]
    top_pictures: tuple[BrandPictureUsage, ...]


@dataclass(frozen=True)
class TenantUsage:
    """What a tenant's pictures were used for and what deduplication saved it."""

    since: date
    hits: int
    sites: int
    uploads: int
    uploads_deduplicated: int
    storage_saved_bytes: int
    design_minutes_avoided: int
    by_day: tuple[tuple[date, int], ...]
    assets: tuple[AssetUsage, ...]
    skus: tuple[SkuUsage, ...]
    brand: BrandUsage | None


def record_hits(rt: Runtime, day: date, hits: Mapping[tuple[str, str], int],
                referrers: Mapping[tuple[str, str], int]) -> None:
    """Add one flush of in-memory counts to a day's totals (one transaction)."""
    if not hits and not referrers:
        return
    with rt.db.unit_of_work() as session:
        UsageRepository(session).add_hits(day, hits, referrers)


def tenant_usage(rt: Runtime, tenant_id: str, days: int, top: int = 20, *, brand: bool = False) -> TenantUsage:
    """The tenant's usage over the last `days` UTC days, its most hotlinked assets and SKUs first; for a
    brand also the reach of its catalogue and pack pictures among other shops."""
    since = datetime.now(UTC).date() - timedelta(days=days - 1)
    with rt.db.read_only() as session:
        repository = UsageRepository(session)
        assets = repository.tenant_assets(tenant_id)
        by_day = repository.hits_by_day(assets, since) if assets else []
        hits = repository.hits_by_asset(assets, since) if assets else {}
        sites = repository.sites_by_asset(assets, since) if assets else {}
        skus = repository.skus_by_asset(tenant_id)
        uploads, reused, saved = repository.uploads(tenant_id)
        ranked = sorted(hits, key=lambda asset_id: (-hits[asset_id], asset_id))[:top]
        shops = repository.shops_by_asset(ranked) if ranked else {}
        others = repository.shops_by_asset(ranked, exclude=tenant_id) if ranked else {}
        rules = repository.referrer_rules(tenant_id)
        own = repository.reuse_by_asset(ranked, tenant_id=tenant_id) if ranked else {}
        by_sku = repository.hits_by_sku(tenant_id, since, top)
        found_brand = _brand_usage(repository, tenant_id, since, top) if brand else None
    return TenantUsage(
        since=since, hits=sum(hits.values()), sites=len(set().union(*sites.values())) if sites else 0,
        uploads=uploads, uploads_deduplicated=reused, storage_saved_bytes=saved,
        design_minutes_avoided=reused * MINUTES_PER_REUSED_PICTURE, by_day=tuple(by_day),
        assets=tuple(AssetUsage(a, hits[a], *visible_sites(sites.get(a, set()), rules, alone=not others.get(a)),
                                tuple(sorted(skus.get(a, ()))), shops.get(a, 0), *own.get(a, (0, 0)))
                     for a in ranked),
        skus=tuple(SkuUsage(*row) for row in by_sku),
        brand=found_brand,
    )


def visible_sites(hosts: set[str], rules: tuple[str, ...], *, alone: bool) -> tuple[tuple[str, ...], int]:
    """The referring sites of one asset the caller may see named, and how many others showed it.

    Hits are counted per asset, not per tenant, so a host cannot be attributed to the shop whose page it
    is. Every host is named only while no other tenant uses the asset; on a shared picture only the
    caller's own sites are: hosts equal to an entry of its referrer allow-list, and hosts under one of
    its `.suffix` rules shown as that rule (a broad rule like `.com` names nothing). Others are a count.
    """
    if alone:
        return tuple(sorted(hosts)), 0
    named: set[str] = set()
    hidden = 0
    for host in hosts:
        if host in rules:
            named.add(host)
        elif suffix := next((r for r in rules if r.startswith(".") and host.endswith(r)), None):
            named.add(suffix)
        else:
            hidden += 1
    return tuple(sorted(named)), hidden


def _brand_usage(repository: UsageRepository, brand_id: str, since: date, top: int) -> BrandUsage:
    """A brand's pictures among other shops: totals, per day, per product, per pack, the top pictures."""
    reach = repository.brand_reach(brand_id, since)
    pictures = repository.brand_assets(brand_id)
    hits = repository.hits_by_asset(pictures, since) if pictures else {}
    shops = repository.shops_by_asset(pictures, exclude=brand_id) if pictures else {}
    reuse = repository.reuse_by_asset(pictures, exclude=brand_id) if pictures else {}
    sites = repository.site_counts(pictures, since) if pictures else {}
    ranked = sorted(pictures, key=lambda a: (-hits.get(a, 0), -shops.get(a, 0), a))[:top]
    products = tuple(
        BrandProductUsage(gtin, sku, title, count, shops_, hits_, uploads, size, linked,
                          (uploads + linked) * MINUTES_PER_REUSED_PICTURE)
        for gtin, sku, title, count, shops_, hits_, uploads, size, linked in repository.brand_products(
            brand_id, since, top))
    return BrandUsage(
        pictures=len(pictures), shops=reach.shops, hits=reach.hits, sites=reach.sites,
        uploads_deduplicated=reach.uploads_deduplicated, storage_saved_bytes=reach.storage_saved_bytes,
        linked_pictures=reach.linked,
        design_minutes_avoided=(reach.uploads_deduplicated + reach.linked) * MINUTES_PER_REUSED_PICTURE,
        by_day=tuple(repository.brand_hits_by_day(brand_id, since)), products=products,
        packs=tuple(BrandPackUsage(*row) for row in repository.brand_packs(brand_id)),
        top_pictures=tuple(BrandPictureUsage(a, shops.get(a, 0), hits.get(a, 0), sites.get(a, 0),
                                             *reuse.get(a, (0, 0))) for a in ranked),
    )
