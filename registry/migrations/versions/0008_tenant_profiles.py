"""tenant profiles: namespaces, profiles (published, retired) and their immutable versions

Revision ID: 0008_tenant_profiles
Revises: 0007_hotlink
Create Date: 2026-12-04 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_tenant_profiles"
down_revision = "0007_hotlink"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "profile_namespaces",
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("namespace", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_profile_namespaces_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_profile_namespaces")),
        sa.UniqueConstraint("namespace", name=op.f("uq_profile_namespaces_namespace")),
    )
    op.create_table(
        "tenant_profiles",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(60), nullable=False),
        sa.Column("tenant_id", sa.String(40), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name=op.f("fk_tenant_profiles_tenant_id_tenants")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_profiles")),
        sa.UniqueConstraint("name", name=op.f("uq_tenant_profiles_name")),
    )
    op.create_index(op.f("ix_tenant_profiles_tenant_id"), "tenant_profiles", ["tenant_id"], unique=False)
    op.create_table(
        "tenant_profile_versions",
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("digest", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["profile_id"], ["tenant_profiles.id"],
                                name=op.f("fk_tenant_profile_versions_profile_id_tenant_profiles"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_profile_versions")),
        sa.UniqueConstraint("profile_id", "number", name=op.f("uq_tenant_profile_versions_profile_id_number")),
    )
    op.create_index(op.f("ix_tenant_profile_versions_profile_id"), "tenant_profile_versions", ["profile_id"],
                    unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_tenant_profile_versions_profile_id"), table_name="tenant_profile_versions")
    op.drop_table("tenant_profile_versions")
    op.drop_index(op.f("ix_tenant_profiles_tenant_id"), table_name="tenant_profiles")
    op.drop_table("tenant_profiles")
    op.drop_table("profile_namespaces")
