"""Dedup quality on the held-back corpus generated in tests/fixtures/heldout.py, through the service."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry.media import service as media
from registry.runtime import Runtime
from registry.settings import Settings
from registry.tenants.service import Principal, TenantKind, create_key
from tests.fixtures.heldout import Sample, build
from workers.bootstrap import close_runtime, create_runtime


@pytest.fixture(scope="module")
def resolved(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[Sample], dict[str, str]]]:
    """Upload the held-back corpus once (SQLite) and map each file to its asset id."""
    data_dir: Path = tmp_path_factory.mktemp("quality")
    settings = Settings(data_dir=data_dir, database_url="", storage_url="", broker_url="",
                        sweeper_interval_seconds=3600)
    rt: Runtime = create_runtime(settings, role="test")
    # Rendering is not under test here; keep the jobs from competing for the CPU.
    rt.publisher = type("NoJobs", (), {"publish": lambda self, job_id, kind: None})()
    try:
        with rt.db.unit_of_work() as session:
            tenant, _key = create_key(session, "quality", "merchant")
            principal = Principal(tenant.id, tenant.name, TenantKind.MERCHANT, "key")
        samples = build(n_models=4, size=700)
        asset_of = {}
        for sample in samples:
            outcome = media.upload(rt, principal, media.UploadCommand(data=sample.data, filename=sample.name))
            asset_of[sample.name] = outcome.asset_id
        yield samples, asset_of
    finally:
        close_runtime(rt)


def test_every_copy_resolves_to_its_original(resolved: tuple[list[Sample], dict[str, str]]) -> None:
    samples, asset_of = resolved
    pairs = [(a, b) for a, b in itertools.combinations(samples, 2) if a.group == b.group]
    missed = [f"{a.name} ~ {b.name}" for a, b in pairs if asset_of[a.name] != asset_of[b.name]]
    recall = 1 - len(missed) / len(pairs)
    assert recall >= 0.97, f"recall {recall:.3f}; missed: {missed[:10]}"


def test_no_look_alike_or_unrelated_picture_is_merged(resolved: tuple[list[Sample], dict[str, str]]) -> None:
    samples, asset_of = resolved
    merged = [f"{a.name} ~ {b.name}" for a, b in itertools.combinations(samples, 2)
              if a.group != b.group and asset_of[a.name] == asset_of[b.name]]
    assert merged == []
