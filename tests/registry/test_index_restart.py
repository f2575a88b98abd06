"""The near-duplicate index is rebuilt from the database: it survives restarts on every backend."""

from __future__ import annotations

import pytest

from registry.media import service as media
from registry.settings import Settings
from registry.tenants.service import Principal, TenantKind, create_key
from tests.fixtures.pictures import encode, jpeg, product
from workers.bootstrap import close_runtime, create_runtime


class _NoJobs:
    def publish(self, job_id: str, kind: str) -> None:
        """Rendering is not under test."""


@pytest.mark.parametrize("snapshot", [True, False])
def test_a_restarted_process_still_finds_near_copies(settings: Settings, snapshot: bool) -> None:
    settings = settings.model_copy(update={"index_snapshot": snapshot})
    picture = product(91, size=600)
    first = create_runtime(settings, role="test")
    first.publisher = _NoJobs()
    try:
        with first.db.unit_of_work() as session:
            tenant, _ = create_key(session, "restart", "merchant")
            principal = Principal(tenant.id, tenant.name, TenantKind.MERCHANT, "key")
        original = media.upload(first, principal, media.UploadCommand(data=jpeg(picture, 95)))
    finally:
        close_runtime(first)

    second = create_runtime(settings, role="test")
    second.publisher = _NoJobs()
    try:
        # from the snapshot saved at shutdown, or else nothing yet: then it must come from the database
        assert (len(second.index) > 0) == snapshot
        copy = media.upload(second, principal, media.UploadCommand(data=encode(picture, "WEBP", quality=80)))
        assert (copy.dedup, copy.asset_id) == ("near", original.asset_id)
        assert len(second.index) > 0
    finally:
        close_runtime(second)


def test_processes_sharing_a_database_see_each_others_pictures(settings: Settings) -> None:
    picture = product(92, size=600)
    one, two = create_runtime(settings, role="test"), create_runtime(settings, role="test")
    one.publisher = two.publisher = _NoJobs()
    try:
        with one.db.unit_of_work() as session:
            tenant, _ = create_key(session, "two-processes", "merchant")
            principal = Principal(tenant.id, tenant.name, TenantKind.MERCHANT, "key")
        two.index.search([0], 0, 1)  # warm the second index before the first process writes
        original = media.upload(one, principal, media.UploadCommand(data=jpeg(picture, 95)))
        copy = media.upload(two, principal, media.UploadCommand(data=encode(picture, "PNG")))
        assert (copy.dedup, copy.asset_id) == ("near", original.asset_id)
    finally:
        close_runtime(one)
        close_runtime(two)
