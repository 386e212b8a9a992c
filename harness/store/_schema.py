"""The history store's tables (SQLAlchemy 2 models): runs, trials, verdicts and turn metrics.

The schema is versioned by the Alembic migrations in ``harness/store/migrations``; a change here
goes with a new migration in the same commit. Recordings (audio, events) stay in the run folders:
rows hold their paths. Nothing here ever holds an API key or an auth header: targets are stored
as run.json names them (without a URL's query).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(DeclarativeBase):
    """Declarative base of the history tables."""

    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class RunRow(Base):
    """One stored run: where, when, with what, and where its report is."""

    __tablename__ = "runs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    label: Mapped[str | None] = mapped_column(String(200), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    stored_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    harness_version: Mapped[str | None] = mapped_column(String(50))
    suite_commit: Mapped[str | None] = mapped_column(String(80))
    machine: Mapped[dict[str, Any]] = mapped_column(default=dict)
    target: Mapped[str | None] = mapped_column(String(500))
    faults: Mapped[list[Any]] = mapped_column(default=list)
    agent_config_hashes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """variant (``""`` for a run without variants) → the agent config's content hash."""
    report_path: Mapped[str | None] = mapped_column(Text)
    """The run's ``index.html``, absolute when stored."""
    run_schema_version: Mapped[int | None] = mapped_column(Integer)
    """The version of the run folder's ``run.json`` this row was read from."""
    trial_count: Mapped[int] = mapped_column(Integer, default=0)
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The run's headline figures (pass rate, pass^k, latency percentiles with n and intervals),
    as its summary.json gives them, so a trend over many runs reads one row per run."""

    trials: Mapped[list[TrialRow]] = relationship(
        back_populates="run", cascade="all, delete-orphan", order_by="TrialRow.id")

    __table_args__ = (Index("ix_runs_label_started", "label", "started_at"),)


class TrialRow(Base):
    """One scenario trial of a run."""

    __tablename__ = "trials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    scenario: Mapped[str] = mapped_column(String(200))
    scenario_hash: Mapped[str | None] = mapped_column(String(64))
    variant: Mapped[str | None] = mapped_column(String(200))
    trial_index: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    """passed / failed / errored."""
    error: Mapped[str | None] = mapped_column(Text)
    duration_s: Mapped[float | None] = mapped_column(Float)
    recording_path: Mapped[str | None] = mapped_column(Text)
    """The trial folder (absolute when stored)."""

    run: Mapped[RunRow] = relationship(back_populates="trials")
    verdicts: Mapped[list[VerdictRow]] = relationship(
        back_populates="trial", cascade="all, delete-orphan", order_by="VerdictRow.id")
    turns: Mapped[list[TurnMetricRow]] = relationship(
        back_populates="trial", cascade="all, delete-orphan", order_by="TurnMetricRow.turn_index")


class VerdictRow(Base):
    """One expectation's verdict on one trial, with the key numbers behind it."""

    __tablename__ = "verdicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20))
    """pass / fail / error."""
    summary: Mapped[str] = mapped_column(Text, default="")
    measured: Mapped[dict[str, Any]] = mapped_column(default=dict)
    """The verdict's scalar measurements (nested ones flattened to dotted keys)."""

    trial: Mapped[TrialRow] = relationship(back_populates="verdicts")


class TurnMetricRow(Base):
    """How one caller turn of a trial was answered, in milliseconds on the session clock."""

    __tablename__ = "turn_metrics"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    trial_id: Mapped[int] = mapped_column(ForeignKey("trials.id", ondelete="CASCADE"), index=True)
    turn_index: Mapped[int] = mapped_column(Integer)
    tool_turn: Mapped[bool] = mapped_column(Boolean, default=False)
    voice_to_voice_ms: Mapped[float | None] = mapped_column(Float)
    first_audio_ms: Mapped[float | None] = mapped_column(Float)
    endpointing_ms: Mapped[float | None] = mapped_column(Float)
    dead_air_ms: Mapped[float | None] = mapped_column(Float)

    trial: Mapped[TrialRow] = relationship(back_populates="turns")
