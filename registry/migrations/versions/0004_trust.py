"""trust: key life cycle, master provenance and history, platform grants

Revision ID: 0004_trust
Revises: 0003
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0004_trust"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_keys") as batch:
        batch.add_column(sa.Column("label", sa.String(length=100), server_default="", nullable=False))
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("supplier_tenant_id", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("supplier_kind", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("official_brand", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("ai_content", sa.String(length=10), server_default="none", nullable=False))
    with op.batch_alter_table("uploads") as batch:
        batch.add_column(sa.Column("ai_content", sa.String(length=10), server_default="none", nullable=False))
    # Existing assets: their master's uploader supplied it, in the role of that tenant's kind.
    op.execute(
        "UPDATE assets SET supplier_tenant_id = (SELECT uploads.tenant_id FROM uploads "
        "WHERE uploads.id = assets.master_upload_id)"
    )
    op.execute(
        "UPDATE assets SET supplier_kind = (SELECT tenants.kind FROM tenants "
        "WHERE tenants.id = assets.supplier_tenant_id)"
    )
    op.create_table(
        "platform_grants",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("seller_tenant_id", sa.String(length=40), nullable=False),
        sa.Column("platform_tenant_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["platform_tenant_id"], ["tenants.id"],
                                name=op.f("fk_platform_grants_platform_tenant_id_tenants"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["seller_tenant_id"], ["tenants.id"],
                                name=op.f("fk_platform_grants_seller_tenant_id_tenants"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_platform_grants")),
        sa.UniqueConstraint("seller_tenant_id", "platform_tenant_id",
                            name=op.f("uq_platform_grants_seller_tenant_id_platform_tenant_id")),
    )
    op.create_index(op.f("ix_platform_grants_seller_tenant_id"), "platform_grants", ["seller_tenant_id"])
    op.create_index(op.f("ix_platform_grants_platform_tenant_id"), "platform_grants", ["platform_tenant_id"])
    op.create_table(
        "master_changes",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("asset_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("previous_upload_id", sa.String(length=40), nullable=False),
        sa.Column("previous_supplier_tenant_id", sa.String(length=40), nullable=True),
        sa.Column("previous_supplier_kind", sa.String(length=20), nullable=True),
        sa.Column("previous_official_brand", sa.String(length=200), nullable=True),
        sa.Column("new_upload_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], name=op.f("fk_master_changes_asset_id_assets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_master_changes")),
    )
    op.create_index(op.f("ix_master_changes_asset_id"), "master_changes", ["asset_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_master_changes_asset_id"), table_name="master_changes")
    op.drop_table("master_changes")
    op.drop_index(op.f("ix_platform_grants_platform_tenant_id"), table_name="platform_grants")
    op.drop_index(op.f("ix_platform_grants_seller_tenant_id"), table_name="platform_grants")
    op.drop_table("platform_grants")
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("ai_content")
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("ai_content")
        batch.drop_column("official_brand")
        batch.drop_column("supplier_kind")
        batch.drop_column("supplier_tenant_id")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
        batch.drop_column("label")
