"""Runs keep their headline figures, and are found by label and start time with one index.

A trend over a hundred runs then reads one row per run instead of every verdict. Runs stored
before this revision have no figures; the store computes them from their trials when asked.

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("figures", sa.JSON, nullable=True))
    op.create_index("ix_runs_label_started", "runs", ["label", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_label_started", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("figures")
