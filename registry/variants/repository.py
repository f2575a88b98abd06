"""All SQL for rendered variants."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.ids import is_well_formed
from registry.models import Variant


class VariantRepository:
    """Queries on the variants table."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, asset_id: str, profile: str, version: str) -> Variant | None:
        """The variant row for one asset, profile and version."""
        if not (is_well_formed(asset_id) and version.isascii() and version.isalnum()):
            return None  # not a URL this registry made; a NUL byte would be an error on PostgreSQL
        return self.session.scalars(
            select(Variant).where(Variant.asset_id == asset_id, Variant.profile == profile,
                                  Variant.version == version)
        ).one_or_none()

    def of_asset(self, asset_id: str) -> list[Variant]:
        """Every variant ever rendered for an asset."""
        return list(self.session.scalars(select(Variant).where(Variant.asset_id == asset_id)))

    def add(self, variant: Variant) -> None:
        """Stage and flush a variant row."""
        self.session.add(variant)
        self.session.flush()
