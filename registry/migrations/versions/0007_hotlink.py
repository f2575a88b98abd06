"""hotlink: usage (variant hits and referring sites per day), tenant policies (signing, referrers), revocations

Revision ID: 0007_hotlink
Revises: 0005_catalog
Create Date: 2026-12-03 10:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_hotlink"
down_revision = "0005_catalog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "variant_hits",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("asset_id", sa.String(40), primary_key=True),
        sa.Column("profile", sa.String(60), primary_key=True),
        sa.Column("hits", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_variant_hits_asset_day", "variant_hits", ["asset_id", "day"])
    op.create_table(
        "asset_referrers",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("asset_id", sa.String(40), primary_key=True),
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("hits", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_asset_referrers_asset_day", "asset_referrers", ["asset_id", "day"])
    op.create_table(
        "hotlink_policies",
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("signed", sa.Boolean(), nullable=False),
        sa.Column("referrers", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(64), nullable=False),
        sa.Column("previous_secret", sa.String(64), nullable=False),
        sa.Column("previous_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "revoked_assets",
        sa.Column("asset_id", sa.String(40), primary_key=True),
        sa.Column("tenant_id", sa.String(40), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_revoked_assets_revoked_at", "revoked_assets", ["revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_revoked_assets_revoked_at", table_name="revoked_assets")
    op.drop_table("revoked_assets")
    op.drop_table("hotlink_policies")
    op.drop_index("ix_asset_referrers_asset_day", table_name="asset_referrers")
    op.drop_table("asset_referrers")
    op.drop_index("ix_variant_hits_asset_day", table_name="variant_hits")
    op.drop_table("variant_hits")
