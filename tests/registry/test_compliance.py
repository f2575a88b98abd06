"""Compliance of an asset's variants with a platform: what a marketplace would reject is reported."""

from __future__ import annotations

import pytest

from processing.compliance import Verdict
from registry.errors import InvalidInput, NotFound
from registry.media import service as media
from registry.media.repository import MediaRepository
from registry.records import AssetRecord
from registry.runtime import Runtime
from registry.variants.compliance import asset_verdicts, platform_compliance
from tests.fixtures.pictures import jpeg, product
from tests.scaleout.helpers import principal_for


class _Dropped:
    def publish(self, job_id: str, kind: str) -> None:
        """No worker: only what the compliance check renders exists."""


def _upload(rt: Runtime, seed: int, size: int) -> str:
    rt.publisher = _Dropped()
    data = jpeg(product(seed, size=size, label=f"C {seed}"), 92)
    return media.upload(rt, principal_for(rt, f"compliance-{seed}"), media.UploadCommand(data=data)).asset_id


def test_a_big_picture_passes_every_amazon_profile(runtime: Runtime) -> None:
    asset_id = _upload(runtime, 1, 3200)
    reports = {c.profile.name: c for c in platform_compliance(runtime, asset_id, "amazon")}
    assert set(reports) == {"amazon_main", "amazon_gallery", "amazon_swatch"}
    main = reports["amazon_main"]
    assert main.roles == ("main",) and main.ref is not None
    checks = {c.name: c for c in main.report.checks}
    assert main.report.verdict is Verdict.PASS, main.report.as_dict()
    assert checks["background"].value == 1.0 and checks["pixel_size"].value == "2000x2000"
    assert all(not c.report.rejected for c in reports.values())


def test_a_small_picture_is_reported_as_rejected_and_not_rendered(runtime: Runtime) -> None:
    asset_id = _upload(runtime, 2, 500)
    reports = {c.profile.name: c for c in platform_compliance(runtime, asset_id, "amazon")}
    main = reports["amazon_main"]
    assert main.report.rejected and main.ref is None
    assert {c.name for c in main.report.checks} == {"render", "upscale"}
    with runtime.db.read_only() as session:
        row = MediaRepository(session).asset(asset_id)
        assert row is not None
        asset = AssetRecord.of(row)
    quick = asset_verdicts(runtime, asset, [])
    assert quick["amazon_main"] is not None and quick["amazon_main"].rejected
    assert quick["web_thumb"] is None  # servable, not rendered yet: nothing known without pixels


def test_unknown_platform_and_asset_are_refused(runtime: Runtime) -> None:
    asset_id = _upload(runtime, 3, 400)
    with pytest.raises(InvalidInput):
        platform_compliance(runtime, asset_id, "nowhere")
    with pytest.raises(NotFound):
        platform_compliance(runtime, "ast_01m8xp0bzrs6t1kr4eh968zzt0", "amazon")
