"""fingerprint detail summary, so rejected candidates skip their detail image

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 03:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("fingerprints") as batch:
        batch.add_column(sa.Column("detail_side", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("detail_edge_energy", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fingerprints") as batch:
        batch.drop_column("detail_edge_energy")
        batch.drop_column("detail_side")
