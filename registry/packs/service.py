"""Pack rules: brands compose and publish immutable versions with terms; sellers subscribe, link SKUs, pull."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from processing.errors import OverByteLimit, TooSmallForProfile
from processing.profiles import Profile
from registry.catalog import service as catalog
from registry.catalog.gtin import normalise_gtin
from registry.catalog.repository import CatalogRepository
from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.hotlink.service import enqueue_purge
from registry.ids import new_id
from registry.media.repository import MediaRepository
from registry.models import Asset, ListingLink, Pack, PackAsset, PackSubscription, PackVersion, utcnow
from registry.packs import events
from registry.packs.repository import PackRepository
from registry.packs.terms import asset_visibility
from registry.platforms import service as platforms
from registry.records import asset_record
from registry.runtime import Runtime
from registry.skus.service import listing_file_name, normalise_sku
from registry.tenants.service import Principal, TenantKind
from registry.variants import service as variants

_PACK_NAME = re.compile(r"^[\w.-]{1,100}$")
MAX_PACK_PRODUCTS = 5000
# Platforms whose own naming rule a ZIP follows; every other platform gets GS1 names.
NAMINGS = ("amazon", "walmart", "gs1")


@dataclass(frozen=True)
class Terms:
    """What travels with a published version."""

    licence: str = ""
    platforms: tuple[str, ...] = ()
    embargo_until: datetime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class VersionView:
    """A published version: number, changelog, terms and its product snapshot."""

    brand: str
    pack: str
    number: int
    changelog: str
    terms: Terms
    published_at: datetime
    contents: tuple[dict[str, object], ...]
    embargoed: bool
    expired: bool


@dataclass(frozen=True)
class PackView:
    """A pack with its draft product list and the versions the caller may see."""

    brand: str
    name: str
    title: str
    draft_gtins: tuple[str, ...]
    versions: tuple[VersionView, ...]
    subscribed: bool


@dataclass(frozen=True)
class SubscriptionView:
    """A seller's subscription; the secret signs its webhooks."""

    id: str
    brand: str
    pack: str
    webhook_url: str
    webhook_secret: str


@dataclass(frozen=True)
class LinkView:
    """A seller SKU following a brand product."""

    sku: str
    gtin: str
    brand: str
    pack: str
    pinned_version: int | None
    following_version: int | None


@dataclass(frozen=True)
class ManifestFile:
    """One file of a platform pull: where it comes from, its name and its checksum."""

    sku: str
    gtin: str
    role: str
    position: int
    file: str
    asset_id: str
    profile: str
    ref: variants.VariantRef
    size: int
    sha256: str
    blob_key: str
    content_type: str


@dataclass(frozen=True)
class RejectedFile:
    """A slot whose picture the platform would reject (too small, over its byte limit): reported, not produced."""

    sku: str
    gtin: str
    role: str
    position: int
    asset_id: str
    profile: str
    code: str
    reason: str


@dataclass(frozen=True)
class Manifest:
    """A platform pull of a pack version or a seller SKU."""

    title: str
    platform: str
    version: int | None
    files: tuple[ManifestFile, ...]
    not_after: datetime | None
    rejected: tuple[RejectedFile, ...] = ()


def clean_pack_name(raw: str) -> str:
    """Pack names: letters, digits, '.', '-', '_' (any script), 1 to 100 characters."""
    name = unicodedata.normalize("NFC", raw or "").strip()
    if not _PACK_NAME.fullmatch(name) or name in (".", ".."):
        raise InvalidInput("a pack name has 1 to 100 letters, digits, '.', '-' or '_'", field="pack")
    return name


def _brand_id(repository: PackRepository, brand: str) -> str:
    tenant = repository.tenant_by_name(unicodedata.normalize("NFC", brand).strip())
    if tenant is None or tenant.kind != TenantKind.BRAND.value:
        raise NotFound(f"no brand {brand!r}", field="brand")
    return tenant.id


def _pack(repository: PackRepository, brand: str, name: str) -> Pack:
    pack = repository.pack(_brand_id(repository, brand), clean_pack_name(name))
    if pack is None:
        raise NotFound(f"no pack {name!r} of brand {brand!r}", field="pack")
    return pack


def _is_embargoed(version: PackVersion, now: datetime) -> bool:
    return version.embargo_until is not None and version.embargo_until > now


def _is_expired(version: PackVersion, now: datetime) -> bool:
    return version.expires_at is not None and version.expires_at <= now


def _version_view(brand: str, pack: Pack, version: PackVersion, now: datetime) -> VersionView:
    return VersionView(
        brand=brand, pack=pack.name, number=version.number, changelog=version.changelog,
        terms=Terms(licence=version.licence, platforms=tuple(version.platforms), embargo_until=version.embargo_until,
                    expires_at=version.expires_at),
        published_at=version.published_at, contents=tuple(version.contents),
        embargoed=_is_embargoed(version, now), expired=_is_expired(version, now),
    )


def _visible_versions(repository: PackRepository, pack: Pack, viewer: str, now: datetime) -> list[PackVersion]:
    """Newest first; others never see a version before its embargo ends."""
    versions = repository.versions(pack.id)
    if viewer == pack.brand_tenant_id:
        return versions
    return [v for v in versions if not _is_embargoed(v, now)]


def _pack_view(session: Session, pack: Pack, viewer: str) -> PackView:
    repository = PackRepository(session)
    now = utcnow()
    tenant = repository.tenant(pack.brand_tenant_id)
    brand = tenant.name if tenant else ""
    products = CatalogRepository(session).by_ids(list(pack.draft_product_ids))
    order = {pid: i for i, pid in enumerate(pack.draft_product_ids)}
    draft = tuple(p.gtin for p in sorted(products, key=lambda p: order.get(p.id, 0)))
    return PackView(
        brand=brand, name=pack.name, title=pack.title,
        draft_gtins=draft if viewer == pack.brand_tenant_id else (),
        versions=tuple(_version_view(brand, pack, v, now) for v in _visible_versions(repository, pack, viewer, now)),
        subscribed=repository.subscription(pack.id, viewer) is not None,
    )


def save_pack(rt: Runtime, principal: Principal, name: str, title: str, gtins: list[str]) -> PackView:
    """Create or replace a brand's pack draft: its title and products (by GTIN, from its own catalogue)."""
    catalog.require_brand(principal)
    clean = clean_pack_name(name)
    if len(gtins) > MAX_PACK_PRODUCTS:
        raise InvalidInput(f"a pack holds at most {MAX_PACK_PRODUCTS} products", field="gtins")
    normalised = list(dict.fromkeys(normalise_gtin(g) for g in gtins))
    with rt.db.unit_of_work() as session:
        products = CatalogRepository(session)
        ids = []
        for gtin in normalised:
            product = products.by_gtin(principal.tenant_id, gtin)
            if product is None:
                raise NotFound(f"no product with GTIN {gtin} in this catalogue", field="gtins")
            ids.append(product.id)
        repository = PackRepository(session)
        pack = repository.pack(principal.tenant_id, clean)
        if pack is None:
            pack = Pack(id=new_id("pck"), brand_tenant_id=principal.tenant_id, name=clean, title=title[:300],
                        draft_product_ids=ids)
            repository.add(pack)
        else:
            pack.title, pack.draft_product_ids = title[:300], ids
            session.flush()
        return _pack_view(session, pack, principal.tenant_id)


def clean_terms(rt: Runtime, terms: Terms) -> Terms:
    """Check the terms: known platforms, expiry after embargo, aware times."""
    unknown = [p for p in terms.platforms if p not in rt.catalog.platforms]
    if unknown:
        known = ", ".join(sorted(rt.catalog.platforms))
        raise InvalidInput(f"unknown platform(s) {', '.join(unknown)}; known: {known}", field="platforms")
    for moment, name in ((terms.embargo_until, "embargo_until"), (terms.expires_at, "expires_at")):
        if moment is not None and moment.tzinfo is None:
            raise InvalidInput(f"{name} needs a time zone (e.g. 2027-01-01T00:00:00Z)", field=name)
    if terms.embargo_until and terms.expires_at and terms.expires_at <= terms.embargo_until:
        raise InvalidInput("expires_at must come after embargo_until", field="expires_at")
    if len(terms.licence) > 20_000:
        raise InvalidInput("the licence text has more than 20000 characters", field="licence")
    return Terms(licence=unicodedata.normalize("NFC", terms.licence), platforms=tuple(dict.fromkeys(terms.platforms)),
                 embargo_until=terms.embargo_until, expires_at=terms.expires_at)


def publish(rt: Runtime, principal: Principal, name: str, changelog: str, terms: Terms) -> VersionView:
    """Publish the draft as the next immutable version, tell subscribers, and return it."""
    catalog.require_brand(principal)
    clean = clean_terms(rt, terms)
    with rt.db.unit_of_work() as session:
        repository = PackRepository(session)
        pack = repository.pack_for_update(principal.tenant_id, clean_pack_name(name))
        if pack is None:
            raise NotFound(f"no pack {name!r}", field="pack")
        contents: list[dict[str, object]] = []
        asset_ids: set[str] = set()
        products = {p.id: p for p in CatalogRepository(session).by_ids(list(pack.draft_product_ids))}
        for product_id in pack.draft_product_ids:
            product = products.get(product_id)
            if product is None:
                continue
            shown = catalog.view(session, product)
            if not shown.slots:
                raise Conflict(f"product {product.gtin} has no official pictures yet", field="gtins", gtin=product.gtin)
            contents.append({"gtin": shown.gtin, "sku": shown.sku, "title": shown.title,
                             "slots": [{"role": s.role, "position": s.position, "facet": s.facet,
                                        "asset_id": s.asset_id} for s in shown.slots]})
            asset_ids.update(s.asset_id for s in shown.slots)
        if not contents:
            raise Conflict("the pack has no products to publish", field="gtins")
        version = PackVersion(
            id=new_id("pkv"), pack_id=pack.id, number=repository.latest_number(pack.id) + 1,
            changelog=unicodedata.normalize("NFC", changelog)[:20_000], licence=clean.licence,
            platforms=list(clean.platforms), embargo_until=clean.embargo_until, expires_at=clean.expires_at,
            contents=contents,
        )
        repository.add(version)
        repository.add(*[PackAsset(id=new_id("pka"), version_id=version.id, asset_id=asset_id,
                                   brand_tenant_id=principal.tenant_id, embargo_until=clean.embargo_until,
                                   expires_at=clean.expires_at) for asset_id in sorted(asset_ids)])
        events.pack_published(rt, session, pack, version, principal.tenant_name)
        return _version_view(principal.tenant_name, pack, version, utcnow())


def revoke_asset(rt: Runtime, principal: Principal, asset_id: str) -> int:
    """A brand withdraws a picture from all its packs: nobody else is served it again; returns rows revoked."""
    catalog.require_brand(principal)
    with rt.db.unit_of_work() as session:
        media = MediaRepository(session)
        asset = media.asset(asset_id)
        survivor = asset.id if asset is not None else asset_id
        # merges both ways: the id the brand sees now may be the survivor of its pack picture
        ids = media.merge_family(asset_id)
        rows = [r for r in PackRepository(session).terms_rows(ids) if r.brand_tenant_id == principal.tenant_id]
        if not rows:
            raise NotFound(f"no pack of yours holds asset {asset_id!r}", field="asset_id")
        now = utcnow()
        for row in rows:
            row.revoked_at = row.revoked_at or now
        session.flush()
        events.asset_changed(rt, session, survivor, "asset.revoked")
        # the edges and the CDN keep public copies cached for up to a year: replace them (outbox job), the
        # URLs of each withdrawn pack picture (a merged one keeps its own variant and alias URLs) and the
        # survivor's
        for withdrawn in dict.fromkeys([survivor, *sorted({row.asset_id for row in rows})]):
            enqueue_purge(rt, session, withdrawn)
        return len(rows)


def list_packs(rt: Runtime, principal: Principal) -> list[PackView]:
    """Packs the caller may see: its own, and every other brand's with a released version."""
    with rt.db.read_only() as session:
        views = [_pack_view(session, pack, principal.tenant_id) for pack in PackRepository(session).packs()]
    return [v for v in views if v.versions or v.draft_gtins or _owns(principal, v)]


def _owns(principal: Principal, pack: PackView) -> bool:
    return pack.brand == principal.tenant_name and principal.kind is TenantKind.BRAND


def get_pack(rt: Runtime, principal: Principal, brand: str, name: str) -> PackView:
    """One pack as the caller may see it."""
    with rt.db.read_only() as session:
        pack = _pack(PackRepository(session), brand, name)
        shown = _pack_view(session, pack, principal.tenant_id)
    if not shown.versions and pack.brand_tenant_id != principal.tenant_id:
        raise NotFound(f"no pack {name!r} of brand {brand!r}", field="pack")
    return shown


def _version(session: Session, pack: Pack, viewer: str, number: str | int | None) -> PackVersion:
    visible = _visible_versions(PackRepository(session), pack, viewer, utcnow())
    if number in (None, "", "latest"):
        if not visible:
            raise NotFound("this pack has no published version you may see yet", field="version")
        return visible[0]
    text = str(number)
    if not text.isdecimal():
        raise InvalidInput("version is a number or 'latest'", field="version")
    for version in visible:
        if version.number == int(text):
            return version
    raise NotFound(f"no version {text} of this pack", field="version")


def get_version(rt: Runtime, principal: Principal, brand: str, name: str, number: str | None) -> VersionView:
    """One published version (latest by default) as the caller may see it."""
    with rt.db.read_only() as session:
        pack = _pack(PackRepository(session), brand, name)
        version = _version(session, pack, principal.tenant_id, number)
        tenant = PackRepository(session).tenant(pack.brand_tenant_id)
        return _version_view(tenant.name if tenant else brand, pack, version, utcnow())


def _check_webhook_url(url: str) -> str:
    url = url.strip()
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > 2000:
        raise InvalidInput("webhook_url must be an absolute http(s) URL", field="webhook_url")
    return url


def subscribe(rt: Runtime, principal: Principal, brand: str, name: str, webhook_url: str) -> SubscriptionView:
    """Follow a brand's pack (again: updates the webhook URL); the secret that signs webhooks is returned."""
    if not principal.can_upload:
        raise Forbidden("only merchant and brand keys subscribe to packs")
    url = _check_webhook_url(webhook_url)
    with rt.db.unit_of_work() as session:
        repository = PackRepository(session)
        pack = _pack(repository, brand, name)
        if not _visible_versions(repository, pack, principal.tenant_id, utcnow()):
            raise NotFound(f"no pack {name!r} of brand {brand!r}", field="pack")
        row = repository.subscription(pack.id, principal.tenant_id)
        if row is None:
            row = PackSubscription(id=new_id("sub"), pack_id=pack.id, seller_tenant_id=principal.tenant_id,
                                   webhook_url=url, webhook_secret="whsec_" + secrets.token_urlsafe(24))
            repository.add(row)
        else:
            row.webhook_url = url
        tenant = repository.tenant(pack.brand_tenant_id)
        return SubscriptionView(id=row.id, brand=tenant.name if tenant else brand, pack=pack.name, webhook_url=url,
                                webhook_secret=row.webhook_secret)


def _subscription_of(repository: PackRepository, principal: Principal, subscription_id: str) -> PackSubscription:
    row = repository.subscription_by_id(subscription_id) if subscription_id.isascii() else None
    if row is None or row.seller_tenant_id != principal.tenant_id:
        raise NotFound(f"no subscription {subscription_id!r} of yours", field="subscription_id")
    return row


def link_sku(rt: Runtime, principal: Principal, sku: str, gtin: str, brand: str, name: str,
             pinned_version: int | None) -> LinkView:
    """Make a seller SKU show a subscribed pack's product (by GTIN); pin a version or follow the latest."""
    if not principal.can_upload:
        raise Forbidden("only merchant and brand keys link SKUs")
    code, clean_gtin = normalise_sku(sku), normalise_gtin(gtin)
    with rt.db.unit_of_work() as session:
        repository = PackRepository(session)
        pack = _pack(repository, brand, name)
        subscription = repository.subscription(pack.id, principal.tenant_id)
        if subscription is None:
            raise Conflict("subscribe to the pack before linking SKUs to it", field="pack")
        visible = _visible_versions(repository, pack, principal.tenant_id, utcnow())
        holding = [v for v in visible if _entry(v, clean_gtin) is not None]
        if not holding:
            raise NotFound(f"no published version of this pack has GTIN {clean_gtin}", field="gtin")
        if pinned_version is not None and pinned_version not in {v.number for v in holding}:
            raise NotFound(f"version {pinned_version} of this pack does not hold GTIN {clean_gtin}",
                           field="pinned_version")
        row = repository.link(principal.tenant_id, code)
        if row is None:
            row = ListingLink(id=new_id("lnk"), seller_tenant_id=principal.tenant_id, sku=code,
                              subscription_id=subscription.id, gtin=clean_gtin, pinned_version=pinned_version)
            repository.add(row)
        else:
            row.subscription_id, row.gtin, row.pinned_version = subscription.id, clean_gtin, pinned_version
            session.flush()
        following = pinned_version if pinned_version is not None else holding[0].number
        tenant = repository.tenant(pack.brand_tenant_id)
        return LinkView(sku=code, gtin=clean_gtin, brand=tenant.name if tenant else brand, pack=pack.name,
                        pinned_version=pinned_version, following_version=following)


def _entry(version: PackVersion, gtin: str) -> dict[str, object] | None:
    return next((item for item in version.contents if item.get("gtin") == gtin), None)


@dataclass(frozen=True)
class _Slot:
    sku: str
    gtin: str
    role: str
    position: int
    facet: str
    asset_id: str


def linked_slots(session: Session, tenant_id: str, code: str) -> tuple[PackVersion, Pack, list[_Slot]] | None:
    """A linked SKU's slots from the version it follows (pinned, or the newest released); None if not linked."""
    repository = PackRepository(session)
    link = repository.link(tenant_id, normalise_sku(code))
    if link is None:
        return None
    subscription = repository.subscription_by_id(link.subscription_id)
    pack = repository.pack_by_id(subscription.pack_id) if subscription else None
    if pack is None:
        return None
    now = utcnow()
    candidates = [v for v in _visible_versions(repository, pack, tenant_id, now)
                  if _entry(v, link.gtin) is not None]
    if link.pinned_version is not None:
        candidates = [v for v in candidates if v.number == link.pinned_version]
    if not candidates:
        return None
    version = candidates[0]
    entry = _entry(version, link.gtin) or {}
    raw_slots = entry.get("slots", [])
    slots = [_Slot(sku=link.sku, gtin=link.gtin, role=str(s["role"]), position=int(s["position"]),
                   facet=str(s.get("facet", "")), asset_id=str(s["asset_id"]))
             for s in (raw_slots if isinstance(raw_slots, list) else [])]
    return version, pack, slots


def describe_link(rt: Runtime, principal: Principal, code: str) -> LinkView:
    """A seller's linked SKU and the version it currently shows."""
    with rt.db.read_only() as session:
        repository = PackRepository(session)
        link = repository.link(principal.tenant_id, normalise_sku(code))
        if link is None:
            raise NotFound(f"SKU {code!r} is not linked to a brand product", field="sku")
        found = linked_slots(session, principal.tenant_id, code)
        subscription = repository.subscription_by_id(link.subscription_id)
        pack = repository.pack_by_id(subscription.pack_id) if subscription else None
        tenant = repository.tenant(pack.brand_tenant_id) if pack else None
        return LinkView(sku=link.sku, gtin=link.gtin, brand=tenant.name if tenant else "",
                        pack=pack.name if pack else "", pinned_version=link.pinned_version,
                        following_version=found[0].number if found else None)


def platform_file_name(naming: str, code: str, gtin: str, role: str, position: int, facet: str,
                       extension: str) -> str:
    """A file name by the platform's convention: Amazon `<ID>.MAIN.jpg`/`PT01`, Walmart GTIN, GS1 names."""
    if naming == "amazon":
        return listing_file_name(code, role, position, extension)
    if naming == "walmart":
        if role == "main":
            return f"{gtin}.{extension}"
        suffix = "swatch" if role == "swatch" else str(position + 1)
        return f"{gtin}_{suffix}.{extension}"
    if facet:
        tail = "" if role == "main" else f"_s{position + 1:02d}"
        return f"{gtin}_{facet}{tail}.{extension}"
    default = {"main": "C1N1", "swatch": "A0N0"}.get(role, "C0N0")
    tail = "" if role == "main" else f"_s{position + 1:02d}"
    return f"{gtin}_{default}{tail}.{extension}"


def naming_for(platform: str, naming: str | None) -> str:
    """The naming a pull uses: asked for, else the platform's own (Amazon, Walmart), else GS1."""
    if naming:
        if naming not in NAMINGS:
            raise InvalidInput(f"naming must be one of {', '.join(NAMINGS)}", field="naming")
        return naming
    return platform if platform in ("amazon", "walmart") else "gs1"


def _manifest(rt: Runtime, principal: Principal, slots: list[_Slot], platform: str, naming: str,
              id_of: str) -> tuple[list[ManifestFile], list[RejectedFile], datetime | None]:
    """Render (if needed) and checksum every slot's variant for a platform; names follow `naming`."""
    chosen = platforms.resolve(rt, principal.tenant_id, platform)
    files: list[ManifestFile] = []
    rejected: list[RejectedFile] = []
    not_after: datetime | None = None
    seen_names: set[str] = set()
    for slot in slots:
        profile: Profile | None = chosen.roles.get(slot.role)
        if profile is None:
            continue
        with rt.db.read_only() as session:
            shown = asset_visibility(session, slot.asset_id, principal.tenant_id)
            asset = MediaRepository(session).asset(slot.asset_id)
            if asset is not None:
                session.expunge(asset)
        if not shown.allowed or asset is None or not platforms.usable_on(rt, profile, [asset.id]):
            continue  # expired or revoked pictures are left out, never served; so are others' under a private profile
        if shown.until is not None:
            not_after = shown.until if not_after is None else min(not_after, shown.until)
        try:
            row = variants.ensure(rt, asset_record(asset), profile)
        except (TooSmallForProfile, OverByteLimit) as refusal:  # a marketplace would reject it: say so
            rejected.append(RejectedFile(sku=slot.sku, gtin=slot.gtin, role=slot.role, position=slot.position,
                                         asset_id=asset.id, profile=profile.name, code=refusal.code,
                                         reason=str(refusal)))
            continue
        data = rt.store.get(row.blob_key)
        ref = variants.current_ref(asset, profile)
        code = slot.sku if id_of == "sku" else slot.gtin
        name = platform_file_name(naming, code, slot.gtin, slot.role, slot.position, slot.facet, profile.extension)
        if name in seen_names:
            continue
        seen_names.add(name)
        files.append(ManifestFile(sku=slot.sku, gtin=slot.gtin, role=slot.role, position=slot.position, file=name,
                                  asset_id=asset.id, profile=profile.name, ref=ref, size=len(data),
                                  sha256=hashlib.sha256(data).hexdigest(), blob_key=row.blob_key,
                                  content_type=row.content_type))
    return files, rejected, not_after


def pack_manifest(rt: Runtime, principal: Principal, brand: str, name: str, number: str | None, platform: str,
                  naming: str | None = None) -> Manifest:
    """Every picture of a pack version rendered for a platform, named by its convention, with checksums."""
    with rt.db.read_only() as session:
        pack = _pack(PackRepository(session), brand, name)
        version = _version(session, pack, principal.tenant_id, number)
        is_brand = pack.brand_tenant_id == principal.tenant_id
    if not is_brand:
        if _is_expired(version, utcnow()):
            raise Forbidden(f"version {version.number} of this pack expired on {version.expires_at:%Y-%m-%d}")
        if version.platforms and platform not in version.platforms:
            raise Forbidden(f"the licence of this pack allows only {', '.join(version.platforms)}", field="platform")
    slots = []
    for item in version.contents:
        raw = item.get("slots", [])
        for s in raw if isinstance(raw, list) else []:
            slots.append(_Slot(sku=str(item.get("sku", "")), gtin=str(item.get("gtin", "")), role=str(s["role"]),
                               position=int(s["position"]), facet=str(s.get("facet", "")),
                               asset_id=str(s["asset_id"])))
    files, rejected, not_after = _manifest(rt, principal, slots, platform, naming_for(platform, naming), "gtin")
    return Manifest(title=f"{brand}/{pack.name}", platform=platform, version=version.number, files=tuple(files),
                    not_after=not_after, rejected=tuple(rejected))


def sku_manifest(rt: Runtime, principal: Principal, code: str, platform: str, naming: str | None = None) -> Manifest:
    """A seller SKU's pictures for a platform: its linked brand product's, else its own slots."""
    clean = normalise_sku(code)
    with rt.db.read_only() as session:
        found = linked_slots(session, principal.tenant_id, clean)
        version_number = found[0].number if found else None
        if found is not None and found[0].platforms and platform not in found[0].platforms:
            raise Forbidden(f"the brand's licence allows only {', '.join(found[0].platforms)}", field="platform")
        if found is None:
            from registry.skus.service import get_slots

            _sku, own = get_slots(session, principal.tenant_id, clean)
            slots = [_Slot(sku=clean, gtin="", role=s.role, position=s.position, facet="", asset_id=s.asset_id)
                     for s in own]
        else:
            slots = found[2]
    if found is None and naming not in (None, "", "amazon"):
        raise InvalidInput("GTIN-based names need a SKU linked to a brand product; use naming=amazon",
                           field="naming")
    chosen = naming_for(platform, naming) if found is not None else "amazon"  # own slots have no GTIN
    files, rejected, not_after = _manifest(rt, principal, slots, platform, chosen, "sku")
    return Manifest(title=clean, platform=platform, version=version_number, files=tuple(files), not_after=not_after,
                    rejected=tuple(rejected))


def subscriptions(rt: Runtime, principal: Principal) -> list[SubscriptionView]:
    """The caller's subscriptions."""
    with rt.db.read_only() as session:
        repository = PackRepository(session)
        views = []
        for row in repository.subscriptions_of_seller(principal.tenant_id):
            pack = repository.pack_by_id(row.pack_id)
            tenant = repository.tenant(pack.brand_tenant_id) if pack else None
            views.append(SubscriptionView(id=row.id, brand=tenant.name if tenant else "",
                                          pack=pack.name if pack else "", webhook_url=row.webhook_url,
                                          webhook_secret=row.webhook_secret))
        return views


def deliveries(rt: Runtime, principal: Principal, subscription_id: str, limit: int) -> list[events.DeliveryView]:
    """The delivery log of one of the caller's subscriptions, newest first."""
    with rt.db.read_only() as session:
        repository = PackRepository(session)
        _subscription_of(repository, principal, subscription_id)
        return [events.delivery_view(row) for row in repository.deliveries(subscription_id, limit)]


def redeliver(rt: Runtime, principal: Principal, subscription_id: str, delivery_id: str) -> events.DeliveryView:
    """Send a delivery again (whatever its status) through the job machinery."""
    with rt.db.unit_of_work() as session:
        repository = PackRepository(session)
        _subscription_of(repository, principal, subscription_id)
        row = repository.delivery_for_update(delivery_id) if delivery_id.isascii() else None
        if row is None or row.subscription_id != subscription_id:
            raise NotFound(f"no delivery {delivery_id!r} for this subscription", field="delivery_id")
        events.requeue(rt, session, row)
        return events.delivery_view(row)


@dataclass(frozen=True)
class LinkedEntry:
    """One slot of a linked SKU's listing: the brand's asset as the followed version names it."""

    link_id: str
    role: str
    position: int
    asset: Asset
    profile: Profile
    version: int


def link_listing(rt: Runtime, tenant_id: str, code: str, platform: str,
                 viewer_tenant_id: str | None = None) -> tuple[str, list[LinkedEntry]] | None:
    """A linked SKU's listing for a platform the viewer may use (None if the SKU is not linked); hidden pictures
    left out."""
    chosen = platforms.resolve(rt, viewer_tenant_id if viewer_tenant_id is not None else tenant_id, platform)
    with rt.db.read_only() as session:
        link = PackRepository(session).link(tenant_id, normalise_sku(code))
        if link is None:
            return None
        found = linked_slots(session, tenant_id, link.sku)
        entries: list[LinkedEntry] = []
        for slot in found[2] if found else []:
            profile = chosen.roles.get(slot.role)
            if profile is None:
                continue
            asset = MediaRepository(session).asset(slot.asset_id)
            if asset is None or not asset_visibility(session, slot.asset_id, tenant_id).allowed:
                continue
            session.expunge(asset)
            entries.append(LinkedEntry(link_id=link.id, role=slot.role, position=slot.position, asset=asset,
                                       profile=profile, version=found[0].number if found else 0))
        return link.sku, entries


def follow_target(rt: Runtime, link_id: str, platform: str, role: str, position: int,
                  extension: str) -> variants.VariantRef:
    """Where a seller's follow alias points now: the slot's asset in the version the link follows."""
    with rt.db.read_only() as session:
        repository = PackRepository(session)
        link = session.get(ListingLink, link_id) if link_id.isascii() and len(link_id) <= 40 else None
        if link is None:
            raise NotFound("no such listing link", field="link_id")
        seller = repository.tenant(link.seller_tenant_id)
        if seller is None:
            raise NotFound("no such listing link", field="link_id")
        found = linked_slots(session, seller.id, link.sku)
        slot = next((s for s in (found[2] if found else []) if s.role == role and s.position == position), None)
        if slot is None:
            raise NotFound("this listing has no such slot", field="slot")
        # Follow aliases are fetched anonymously by marketplaces: only released pictures resolve.
        if not asset_visibility(session, slot.asset_id, None).allowed:
            raise NotFound("this listing has no such slot", field="slot")
        asset = MediaRepository(session).asset(slot.asset_id)
        if asset is None:
            raise NotFound("this listing has no such slot", field="slot")
        try:
            # fetched anonymously: a built-in, a published tenant platform, or one of the seller's own
            chosen = platforms.resolve(rt, seller.id, platform)
        except InvalidInput as exc:
            raise NotFound("this listing has no such slot", field="slot") from exc
        profile = chosen.roles.get(role)
        if profile is None:
            raise NotFound(f"{platform} has no {role} images", field="slot")
        if extension != profile.extension:
            raise NotFound(f"this slot serves .{profile.extension}, not .{extension}")
        return variants.current_ref(asset, profile)
