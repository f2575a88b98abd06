"""The media use cases called directly (no HTTP): split, merge, promotion and upload, on factory rows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from registry.errors import Conflict, Forbidden, InvalidInput, NotFound
from registry.media import service as media
from registry.media.promotion import promote
from registry.models import Asset, DedupDecision, Fingerprint, Job, Upload
from registry.records import AssetRecord
from registry.runtime import Runtime
from tests.conftest import wait_for_jobs
from tests.registry.factories import add_upload, picture_bytes, tenant


def _jobs_for(rt: Runtime, asset_id: str) -> int:
    with rt.db.read_only() as session:
        return len(session.scalars(select(Job.id).where(Job.subject == asset_id)).all())


class TestMerge:
    def test_merge_folds_the_duplicate_in_and_its_id_keeps_resolving(self, runtime: Runtime) -> None:
        owner = tenant(runtime, "merge-owner")
        target, duplicate = add_upload(runtime, owner, 1), add_upload(runtime, owner, 2)
        merged = media.merge(runtime, owner, target.asset_id, duplicate.asset_id)
        assert isinstance(merged, AssetRecord) and merged.id == target.asset_id
        assert media.describe_asset(runtime, duplicate.asset_id).asset.id == target.asset_id
        assert media.describe_asset(runtime, target.asset_id).uploads == 2
        with runtime.db.read_only() as session:
            decision = session.scalars(select(DedupDecision)).one()
            moved = session.get(Upload, duplicate.upload_id)
            assert moved is not None and moved.asset_id == target.asset_id
        assert (decision.relation, decision.asset_id, decision.other_asset_id) == (
            "same", target.asset_id, duplicate.asset_id)

    def test_merge_refuses_itself_unknown_and_foreign_assets(self, runtime: Runtime) -> None:
        owner, stranger = tenant(runtime, "merge-a"), tenant(runtime, "merge-b")
        mine, theirs = add_upload(runtime, owner, 3), add_upload(runtime, stranger, 4)
        with pytest.raises(InvalidInput):
            media.merge(runtime, owner, mine.asset_id, mine.asset_id)
        with pytest.raises(NotFound):
            media.merge(runtime, owner, mine.asset_id, "ast_missing")
        with pytest.raises(Forbidden):
            media.merge(runtime, owner, mine.asset_id, theirs.asset_id)
        with pytest.raises(Forbidden):
            media.merge(runtime, stranger, mine.asset_id, theirs.asset_id)
        with runtime.db.read_only() as session:
            assert session.scalars(select(DedupDecision)).all() == []

    def test_merging_an_already_merged_asset_is_a_conflict(self, runtime: Runtime) -> None:
        owner = tenant(runtime, "merge-twice")
        target, duplicate = add_upload(runtime, owner, 5), add_upload(runtime, owner, 6)
        media.merge(runtime, owner, target.asset_id, duplicate.asset_id)
        with pytest.raises(Conflict):
            media.merge(runtime, owner, target.asset_id, duplicate.asset_id)


class TestSplit:
    def test_split_moves_the_upload_its_fingerprint_and_remembers_the_ruling(self, runtime: Runtime) -> None:
        owner = tenant(runtime, "split-owner")
        master = add_upload(runtime, owner, 7)
        stray = add_upload(runtime, owner, 8, asset_id=master.asset_id)
        new_asset = media.split(runtime, owner, master.asset_id, stray.upload_id)
        wait_for_jobs(runtime)
        assert isinstance(new_asset, AssetRecord)
        assert new_asset.id != master.asset_id
        assert (new_asset.master_upload_id, new_asset.master_sha256) == (stray.upload_id, stray.sha256)
        with runtime.db.read_only() as session:
            fingerprint = session.scalars(select(Fingerprint).where(Fingerprint.upload_id == stray.upload_id)).one()
            decision = session.scalars(select(DedupDecision)).one()
        assert fingerprint.asset_id == new_asset.id
        assert (decision.relation, decision.asset_id, decision.other_asset_id) == (
            "distinct", master.asset_id, new_asset.id)
        assert _jobs_for(runtime, new_asset.id) == 1
        assert media.describe_asset(runtime, master.asset_id).uploads == 1

    def test_split_fingerprints_a_picture_that_had_no_fingerprint(self, runtime: Runtime) -> None:
        owner = tenant(runtime, "split-refingerprint")
        master = add_upload(runtime, owner, 9)
        stray = add_upload(runtime, owner, 10, asset_id=master.asset_id, fingerprint=False)
        new_asset = media.split(runtime, owner, master.asset_id, stray.upload_id)
        wait_for_jobs(runtime)
        with runtime.db.read_only() as session:
            rows = session.scalars(select(Fingerprint).where(Fingerprint.asset_id == new_asset.id)).all()
        assert [row.upload_id for row in rows] == [stray.upload_id]

    def test_split_refuses_the_master_a_foreign_upload_and_other_tenants(self, runtime: Runtime) -> None:
        owner, stranger = tenant(runtime, "split-a"), tenant(runtime, "split-b")
        master = add_upload(runtime, owner, 11)
        elsewhere = add_upload(runtime, owner, 12)
        with pytest.raises(Conflict):
            media.split(runtime, owner, master.asset_id, master.upload_id)
        with pytest.raises(NotFound):
            media.split(runtime, owner, master.asset_id, elsewhere.upload_id)
        with pytest.raises(Forbidden):
            media.split(runtime, stranger, master.asset_id, master.upload_id)
        with pytest.raises(NotFound):
            media.split(runtime, owner, "ast_missing", master.upload_id)


class TestPromotion:
    # Which copies may be promoted (like-with-like sharpness, upscales, crops, edits, official masters)
    # is tested on real pictures in tests/security/test_trust.py.
    def test_promote_makes_the_copy_master_bumps_the_version_and_queues_a_render(self, runtime: Runtime) -> None:
        owner = tenant(runtime, "promote")
        master = add_upload(runtime, owner, 13)
        better = add_upload(runtime, owner, 14, asset_id=master.asset_id)
        with runtime.db.unit_of_work() as session:
            asset = session.get(Asset, master.asset_id)
            row = session.get(Upload, better.upload_id)
            assert asset is not None and row is not None
            promote(runtime, session, asset, row)
        wait_for_jobs(runtime)
        view = media.describe_asset(runtime, master.asset_id)
        assert (view.asset.master_upload_id, view.asset.master_sha256) == (better.upload_id, better.sha256)
        assert view.asset.master_version == 2
        assert _jobs_for(runtime, master.asset_id) == 1


class TestUpload:
    def test_the_same_bytes_twice_resolve_exactly_to_one_asset(self, runtime: Runtime) -> None:
        owner = tenant(runtime, "upload-exact")
        data = picture_bytes(15)
        first = media.upload(runtime, owner, media.UploadCommand(data=data, filename="dir/a.jpg"))
        second = media.upload(runtime, owner, media.UploadCommand(data=data))
        wait_for_jobs(runtime)
        assert (first.created, first.dedup) == (True, media.DedupKind.NEW)
        assert (second.created, second.dedup, second.asset_id) == (False, media.DedupKind.EXACT, first.asset_id)
        detail = media.describe_upload(runtime, owner, first.upload_id)
        assert detail.filename == "a.jpg" and detail.asset_id == first.asset_id
        assert [u.id for u in media.recent_uploads(runtime, owner, 10, None)] == [second.upload_id, first.upload_id]

    def test_a_platform_may_not_upload_and_nobody_sees_another_tenants_upload(self, runtime: Runtime) -> None:
        from registry.tenants.service import TenantKind

        platform = tenant(runtime, "upload-platform", TenantKind.PLATFORM)
        with pytest.raises(Forbidden):
            media.upload(runtime, platform, media.UploadCommand(data=picture_bytes(16)))
        owner, stranger = tenant(runtime, "upload-owner"), tenant(runtime, "upload-stranger")
        made = add_upload(runtime, owner, 17)
        with pytest.raises(NotFound):
            media.describe_upload(runtime, stranger, made.upload_id)
        with pytest.raises(NotFound):
            media.describe_asset(runtime, "ast_missing")
