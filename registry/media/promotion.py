"""Promotion: a verified, strictly better copy of unchanged content becomes its asset's master.

The rules (stricter than merging) are `registry.media.trust.promotion_verdict`; every promotion is
recorded in the master history like any other master change.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from registry.media.trust import ChangeReason, MasterChangeInfo, change_master, promotion_verdict
from registry.models import Asset, Upload
from registry.runtime import Runtime

__all__ = ["promote", "promotion_verdict"]


def promote(rt: Runtime, session: Session, asset: Asset, row: Upload, *, by_tenant_id: str | None = None,
            supplier_kind: str = "merchant") -> MasterChangeInfo:
    """Make a better copy the asset's master; the id stays, variant URLs move, aliases follow."""
    return change_master(rt, session, asset, row, by_tenant_id=by_tenant_id or row.tenant_id,
                         reason=ChangeReason.BETTER_COPY, supplier_kind=supplier_kind)
