"""tenant platforms: brands' and platforms' own slot maps (role → profile) and their immutable versions

Revision ID: 0009_tenant_platforms
Revises: 0008_tenant_profiles
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_tenant_platforms"
down_revision = "0008_tenant_profiles"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tenant_platforms",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_platforms_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_platforms")),
        sa.UniqueConstraint("name", name=op.f("uq_tenant_platforms_name")),
    )
    op.create_index(op.f("ix_tenant_platforms_tenant_id"), "tenant_platforms", ["tenant_id"], unique=False)
    op.create_table(
        "tenant_platform_versions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("platform_id", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["platform_id"], ["tenant_platforms.id"],
                                name=op.f("fk_tenant_platform_versions_platform_id_tenant_platforms"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_platform_versions")),
        sa.UniqueConstraint("platform_id", "number", name=op.f("uq_tenant_platform_versions_platform_id_number")),
    )
    op.create_index(op.f("ix_tenant_platform_versions_platform_id"), "tenant_platform_versions", ["platform_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tenant_platform_versions_platform_id"), table_name="tenant_platform_versions")
    op.drop_table("tenant_platform_versions")
    op.drop_index(op.f("ix_tenant_platforms_tenant_id"), table_name="tenant_platforms")
    op.drop_table("tenant_platforms")
