"""The first history schema: runs, trials, verdicts, turn metrics.

Revision ID: 0001
Revises:
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("label", sa.String(200), index=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("harness_version", sa.String(50)),
        sa.Column("suite_commit", sa.String(80)),
        sa.Column("machine", sa.JSON, nullable=False),
        sa.Column("target", sa.String(500)),
        sa.Column("faults", sa.JSON, nullable=False),
        sa.Column("agent_config_hashes", sa.JSON, nullable=False),
        sa.Column("report_path", sa.Text),
        sa.Column("run_schema_version", sa.Integer),
        sa.Column("trial_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "trials",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("scenario_hash", sa.String(64)),
        sa.Column("variant", sa.String(200)),
        sa.Column("trial_index", sa.Integer, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("duration_s", sa.Float),
        sa.Column("recording_path", sa.Text),
    )
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("kind", sa.String(100), nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("params_hash", sa.String(64), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("measured", sa.JSON, nullable=False),
    )
    op.create_table(
        "turn_metrics",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("trial_id", sa.Integer, sa.ForeignKey("trials.id", ondelete="CASCADE"),
                  nullable=False, index=True),
        sa.Column("turn_index", sa.Integer, nullable=False),
        sa.Column("tool_turn", sa.Boolean, nullable=False),
        sa.Column("voice_to_voice_ms", sa.Float),
        sa.Column("first_audio_ms", sa.Float),
        sa.Column("endpointing_ms", sa.Float),
        sa.Column("dead_air_ms", sa.Float),
    )


def downgrade() -> None:
    for table in ("turn_metrics", "verdicts", "trials", "runs"):
        op.drop_table(table)
