"""End to end on real services: the API process and two worker processes on PostgreSQL, a broker
(Redis, and RabbitMQ in a smaller run) and S3; many concurrent uploads, then every upload, asset, SKU
slot and variant is checked for presence and consistency, through the API and in the stores."""

from __future__ import annotations

import hashlib
import io
import random
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import create_engine, func, select

from registry.models import Asset, ContentKey, Job, SkuSlot, Upload, Variant
from tests.fixtures.pictures import jpeg
from tests.scaleout.conftest import (
    ProcessSet,
    S3Bucket,
    Stack,
    create_api_key,
    start_api,
    start_worker,
    wait_until,
)
from tests.scaleout.helpers import picture

pytestmark = [pytest.mark.services, pytest.mark.slow]


@dataclass(frozen=True)
class Item:
    """One upload of the run: which picture group it belongs to and which tenant sends it."""

    index: int
    group: int
    kind: str  # original, exact or near
    tenant: str
    data: bytes

    @property
    def sku(self) -> str:
        """Each upload fills the main slot of a SKU of its own."""
        return f"E2E-{self.index:04d}"


def corpus(distinct: int, exact: int, near: int, seed: int) -> list[Item]:
    """`distinct` pictures, `exact` byte-identical copies (from a second tenant) and `near` re-encoded,
    downsized copies, shuffled so copies may arrive before, with or after their originals."""
    rng = random.Random(seed)
    originals = [picture(seed * 1000 + n, size=rng.choice((320, 400, 480))) for n in range(distinct)]
    items = [Item(0, g, "original", "alpha", data) for g, data in enumerate(originals)]
    for g in rng.sample(range(distinct), exact):
        items.append(Item(0, g, "exact", "beta", originals[g]))
    for g in rng.sample(range(distinct), near):  # the same picture, downsized and recompressed
        image = Image.open(io.BytesIO(originals[g]))
        smaller = image.resize((image.width * 9 // 10, image.height * 9 // 10), Image.Resampling.LANCZOS)
        items.append(Item(0, g, "near", "alpha", jpeg(smaller, 75)))
    rng.shuffle(items)
    return [Item(i, item.group, item.kind, item.tenant, item.data) for i, item in enumerate(items)]


def run_scale_out(procs: ProcessSet, stack: Stack, s3: S3Bucket, items: list[Item], *, wait_seconds: float,
                  uploaders: int = 8, samples: int = 24) -> None:
    """Start the API and two workers, upload `items` concurrently, wait for every variant, check it all."""
    keys = {tenant: create_api_key(stack, f"e2e-{tenant}") for tenant in {"alpha", "beta"}}  # also migrates
    api, base = start_api(procs, stack)
    workers = [start_worker(procs, stack, "worker-1", beat=True), start_worker(procs, stack, "worker-2")]
    auth = {tenant: {"Authorization": f"Bearer {key}"} for tenant, key in keys.items()}

    with httpx.Client(base_url=base, timeout=120, limits=httpx.Limits(max_connections=uploaders * 2)) as client:
        def send(item: Item) -> dict[str, Any]:
            response = client.post("/v1/media", headers=auth[item.tenant],
                                   files={"file": (f"{item.sku}.jpg", item.data, "image/jpeg")},
                                   data={"sku": item.sku, "role": "main"})
            assert response.status_code in (200, 201), f"{item}: {response.status_code} {response.text}"
            body: dict[str, Any] = response.json()
            return body

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=uploaders) as pool:
            answers = list(pool.map(send, items))
        uploaded = time.monotonic() - started

        # Uploads: one asset per picture group, distinct groups never merged, one "new" per group.
        asset_of_group: dict[int, set[str]] = defaultdict(set)
        for item, answer in zip(items, answers, strict=True):
            asset_of_group[item.group].add(answer["asset_id"])
            assert answer["sku"] == item.sku and answer["role"] == "main"
        split = {g: [(i.kind, a["dedup"], a["asset_id"], a.get("created"))
                     for i, a in zip(items, answers, strict=True) if i.group == g]
                 for g, ids in asset_of_group.items() if len(ids) > 1}
        assert not split, f"a picture group split in two: {split}"
        assets = {group: next(iter(ids)) for group, ids in asset_of_group.items()}
        assert len(set(assets.values())) == len(assets), "two different pictures were merged"
        news = Counter(item.group for item, answer in zip(items, answers, strict=True) if answer["created"])
        assert news == Counter(set(assets)), "each picture group is created exactly once"
        # Identical bytes resolve by SHA-256: all but the first upload of the same bytes are exact.
        first_of_bytes = Counter(hashlib.sha256(item.data).hexdigest()
                                 for item, answer in zip(items, answers, strict=True) if answer["dedup"] != "exact")
        assert set(first_of_bytes.values()) == {1}, "identical bytes were not resolved as exact copies"

        # Variants: wait until every asset has every profile rendered for its current master.
        remaining = set(assets.values())
        views: dict[str, dict[str, Any]] = {}

        def all_rendered() -> bool:
            for process in (api, *workers):
                process.ensure_alive()
            for asset_id in list(remaining):
                view = client.get(f"/v1/media/{asset_id}", headers=auth["alpha"]).json()
                # a marketplace profile the picture is too small for is flagged ("fail"), never rendered
                if all(v["rendered"] or v["compliance"] == "fail" for v in view["variants"]):
                    views[asset_id] = view
                    remaining.discard(asset_id)
            return not remaining

        wait_until(all_rendered, timeout=wait_seconds, interval=2.0,
                   what=f"every variant of {len(assets)} assets ({len(remaining)} left)")
        print(f"{len(items)} uploads in {uploaded:.1f}s; every variant of {len(assets)} assets after "
              f"{time.monotonic() - started:.1f}s")

        # Each upload is readable by its tenant and points at its group's asset; each SKU slot too.
        for item, answer in zip(items, answers, strict=True):
            upload = client.get(f"/v1/uploads/{answer['upload_id']}", headers=auth[item.tenant]).json()
            assert upload["asset_id"] == assets[item.group]
            assert upload["sha256"] == hashlib.sha256(item.data).hexdigest()
            listing = client.get(f"/v1/skus/{item.sku}/listing", params={"platform": "web"},
                                 headers=auth[item.tenant]).json()
            assert [slot["asset_id"] for slot in listing["slots"]] == [assets[item.group]]

        # A sample of variant URLs serves the stored bytes.
        rng = random.Random(len(items))
        sample = rng.sample([v for view in views.values() for v in view["variants"] if v["rendered"]], samples)
        for variant in sample:
            response = client.get(httpx.URL(variant["url"]).path)
            assert response.status_code == 200
            assert response.headers["content-type"] == variant["content_type"]
            assert len(response.content) == variant["size_bytes"]
            assert response.headers["etag"] == f'"{hashlib.sha256(response.content).hexdigest()[:32]}"'

    # The stores agree with each other: rows, slots, jobs and blobs.
    engine = create_engine(stack.values["database_url"])
    try:
        with engine.connect() as db:
            def count(model: Any) -> int:
                return int(db.scalar(select(func.count()).select_from(model)) or 0)

            assert count(Upload) == len(items)
            assert count(Asset) == len(assets)
            distinct_bytes = {hashlib.sha256(item.data).hexdigest() for item in items}
            assert count(ContentKey) == len(distinct_bytes)
            assert count(SkuSlot) == len(items)
            statuses = dict(db.execute(select(Job.status, func.count()).group_by(Job.status)).all())
            assert set(statuses) == {"done"}, statuses
            masters = dict(db.execute(select(Asset.id, Asset.master_sha256)).all())
            rows = db.execute(select(Variant.asset_id, Variant.profile, Variant.version, Variant.master_sha256,
                                     Variant.blob_key)).all()
    finally:
        engine.dispose()
    keys_of_rows = [(r.asset_id, r.profile, r.version) for r in rows]
    assert len(keys_of_rows) == len(set(keys_of_rows)), "duplicate variant rows"
    servable = sum(1 for view in views.values() for v in view["variants"] if v["rendered"])
    current = [r for r in rows if r.master_sha256 == masters[r.asset_id]]
    assert len(current) == servable
    assert set(s3.keys("variants/")) == {r.blob_key for r in rows}, "variant blobs and rows disagree"
    originals = s3.keys("originals/")
    assert sorted(key.rsplit("/", 1)[-1] for key in originals) == sorted(distinct_bytes)


def _stack(postgres_url: str, broker_url: str, s3: S3Bucket, data_dir: Path) -> Stack:
    return Stack({
        "database_url": postgres_url,
        "broker_url": broker_url,
        "data_dir": str(data_dir),
        **s3.values,
    })


def test_200_concurrent_uploads_on_postgres_redis_and_s3(
    postgres_url: str, machine_redis: str, s3_bucket: S3Bucket, tmp_path: Path, procs: ProcessSet
) -> None:
    items = corpus(distinct=150, exact=30, near=20, seed=31)
    assert len(items) == 200
    run_scale_out(procs, _stack(postgres_url, machine_redis, s3_bucket, tmp_path / "data"), s3_bucket, items,
                  wait_seconds=240)


def test_20_concurrent_uploads_on_postgres_rabbitmq_and_s3(
    postgres_url: str, rabbitmq_url: str, s3_bucket: S3Bucket, tmp_path: Path, procs: ProcessSet
) -> None:
    items = corpus(distinct=15, exact=3, near=2, seed=47)
    run_scale_out(procs, _stack(postgres_url, rabbitmq_url, s3_bucket, tmp_path / "data"), s3_bucket, items,
                  wait_seconds=120, uploaders=4, samples=8)
