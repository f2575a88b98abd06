"""All SQL for assets, uploads, content keys, fingerprints and dedup decisions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from registry.ids import is_well_formed
from registry.models import Asset, ContentKey, DedupDecision, Fingerprint, Upload


class MediaRepository:
    """Queries on the media tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, *rows: object) -> None:
        """Stage new rows and flush so constraint errors surface here."""
        self.session.add_all(rows)
        self.session.flush()

    def content_key(self, sha256: str) -> ContentKey | None:
        """The exact-duplicate entry for these bytes, if any."""
        return self.session.get(ContentKey, sha256)

    def asset(self, asset_id: str) -> Asset | None:
        """The asset with this id, following manual merges to the asset that absorbed it."""
        if not is_well_formed(asset_id):
            return None
        asset = self.session.get(Asset, asset_id)
        for _ in range(16):  # merges chain; bounded so a bad cycle cannot hang a request
            if asset is None or asset.merged_into_id is None:
                return asset
            asset = self.session.get(Asset, asset.merged_into_id)
        return asset

    def merge_family(self, asset_id: str) -> list[str]:
        """The asset, the asset it was merged into, and every asset merged into that one (merges are kept
        flat: merging re-points earlier merges at the survivor), the requested id first."""
        survivor = self.asset(asset_id)
        ids = [asset_id]
        if survivor is not None:
            ids.append(survivor.id)
            ids += self.session.scalars(select(Asset.id).where(Asset.merged_into_id == survivor.id).order_by(Asset.id))
        return list(dict.fromkeys(ids))

    def asset_exact(self, asset_id: str) -> Asset | None:
        """The asset row with this id, without following merges."""
        return self.session.get(Asset, asset_id) if is_well_formed(asset_id) else None

    def asset_for_update(self, asset_id: str) -> Asset | None:
        """The asset row, locked for update where the database supports it."""
        return self.session.scalars(select(Asset).where(Asset.id == asset_id).with_for_update()).one_or_none()

    def upload(self, upload_id: str) -> Upload | None:
        """The upload with this id."""
        return self.session.get(Upload, upload_id) if is_well_formed(upload_id) else None

    def first_upload_with_sha(self, sha256: str) -> Upload | None:
        """The earliest upload of these exact bytes."""
        return self.session.scalars(
            select(Upload).where(Upload.sha256 == sha256).order_by(Upload.created_at, Upload.id).limit(1)
        ).one_or_none()

    def uploads_of_asset(self, asset_id: str, limit: int = 200) -> list[Upload]:
        """Uploads resolved to an asset, oldest first."""
        return list(self.session.scalars(
            select(Upload).where(Upload.asset_id == asset_id).order_by(Upload.created_at, Upload.id).limit(limit)
        ))

    def recent_uploads(self, tenant_id: str, limit: int, before: str | None) -> list[Upload]:
        """A tenant's uploads, newest first; ids sort by time, so `before` pages backwards."""
        query = select(Upload).where(Upload.tenant_id == tenant_id).order_by(Upload.id.desc()).limit(limit)
        if before is not None:
            query = query.where(Upload.id < before)
        return list(self.session.scalars(query))

    def count_uploads(self, asset_id: str) -> int:
        """How many uploads resolved to an asset."""
        return int(self.session.scalar(select(func.count()).select_from(Upload).where(Upload.asset_id == asset_id))
                   or 0)

    def fingerprints_after(self, seq: int, limit: int) -> list[tuple[int, int, int, int, int]]:
        """Active, informative fingerprint hashes with seq above `seq`, in seq order."""
        rows = self.session.execute(
            select(Fingerprint.seq, Fingerprint.h0, Fingerprint.h1, Fingerprint.h2, Fingerprint.h3)
            .where(Fingerprint.seq > seq, Fingerprint.active.is_(True), Fingerprint.informative.is_(True))
            .order_by(Fingerprint.seq)
            .limit(limit)
        ).all()
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]

    def fingerprints_by_seq(self, seqs: Sequence[int]) -> list[Fingerprint]:
        """Active fingerprint rows among `seqs`."""
        if not seqs:
            return []
        return list(self.session.scalars(
            select(Fingerprint).where(Fingerprint.seq.in_(list(seqs)), Fingerprint.active.is_(True))
        ))

    def fingerprint_of_upload(self, upload_id: str) -> Fingerprint | None:
        """The fingerprint row an upload created, if any."""
        return self.session.scalars(select(Fingerprint).where(Fingerprint.upload_id == upload_id)).one_or_none()

    def fingerprints_of_asset(self, asset_id: str) -> list[Fingerprint]:
        """Active fingerprint rows of an asset."""
        return list(self.session.scalars(
            select(Fingerprint).where(Fingerprint.asset_id == asset_id, Fingerprint.active.is_(True))
        ))

    def distinct_from(self, asset_id: str) -> set[str]:
        """Assets an owner ruled to be different pictures from `asset_id`."""
        rows = self.session.execute(
            select(DedupDecision.asset_id, DedupDecision.other_asset_id).where(
                DedupDecision.relation == "distinct",
                (DedupDecision.asset_id == asset_id) | (DedupDecision.other_asset_id == asset_id),
            )
        ).all()
        return {b if a == asset_id else a for a, b in rows}

    def move_asset_references(self, source_asset_id: str, target_asset_id: str) -> None:
        """Point every upload, content key and fingerprint of one asset at another."""
        for model in (Upload, ContentKey, Fingerprint):
            self.session.execute(
                update(model).where(model.asset_id == source_asset_id).values(asset_id=target_asset_id)
            )
        self.session.execute(
            update(Asset).where(Asset.merged_into_id == source_asset_id).values(merged_into_id=target_asset_id)
        )
