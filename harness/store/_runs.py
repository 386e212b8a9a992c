"""Stored runs as the history store hands them out: plain data, detached from the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from harness.report import run_statistics
from harness.report._statistics import cluster_name, kind_passed
from harness.scoring.verdict import statuses_by_kind

TURN_METRICS = ("voice_to_voice_ms", "first_audio_ms", "endpointing_ms", "dead_air_ms")


@dataclass
class StoredTurn:
    """How one caller turn was answered (ms; None where it was not)."""

    turn_index: int
    tool_turn: bool
    voice_to_voice_ms: float | None
    first_audio_ms: float | None
    endpointing_ms: float | None
    dead_air_ms: float | None


@dataclass
class StoredVerdict:
    """One expectation's verdict: kind, parameters, status, summary and its scalar numbers."""

    kind: str
    params: dict[str, Any]
    params_hash: str
    status: str
    summary: str
    measured: dict[str, Any]


@dataclass
class StoredTrial:
    """One scenario trial: ``status`` is passed / failed / errored."""

    scenario: str
    scenario_hash: str | None
    variant: str | None
    trial: int
    status: str
    error: str | None
    duration_s: float | None
    recording_path: str | None
    verdicts: list[StoredVerdict] = field(default_factory=list)
    turns: list[StoredTurn] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        return self.status

    @property
    def kind_statuses(self) -> dict[str, list[str]]:
        return statuses_by_kind(self.verdicts)


@dataclass
class RunInfo:
    """A stored run's header: what ran, when, where, and its headline figures."""

    run_id: str
    label: str | None
    started_at: datetime
    finished_at: datetime | None
    harness_version: str | None
    suite_commit: str | None
    machine: dict[str, Any]
    target: str | None
    faults: list[Any]
    agent_config_hashes: dict[str, Any]
    report_path: str | None
    trial_count: int
    figures: dict[str, Any] | None
    """``summary.json``'s ``statistics`` (see ``harness.report.run_statistics``); None for runs
    stored before figures were kept (:meth:`StoredRun.statistics` recomputes them)."""


@dataclass
class StoredRun(RunInfo):
    """A stored run with every trial, verdict and turn metric."""

    trials: list[StoredTrial] = field(default_factory=list)

    def statistics(self) -> dict[str, Any]:
        """The run's repeated-trial figures, as stored or recomputed from its trials."""
        if self.figures is None:
            self.figures = run_statistics(self.trials)
        return self.figures

    def _graded(self, variant: str | None) -> list[StoredTrial]:
        return sorted((t for t in self.trials if t.status != "errored"
                       and (variant is None or t.variant == variant)),
                      key=lambda t: (cluster_name(t), t.trial))

    def pass_outcomes(self, variant: str | None = None) -> dict[str, list[bool]]:
        """Scenario → passed or not per graded trial, in trial order (errored trials left out:
        they say nothing about the agent). ``variant`` selects one variant's trials; without it
        a variant run's scenarios are named ``name[variant]``."""
        out: dict[str, list[bool]] = {}
        for t in self._graded(variant):
            out.setdefault(t.scenario if variant else cluster_name(t), []).append(
                t.status == "passed")
        return out

    def kind_outcomes(self, kind: str, variant: str | None = None) -> dict[str, list[bool]]:
        """Scenario → whether expectation ``kind`` passed, per graded trial that graded it."""
        out: dict[str, list[bool]] = {}
        for t in self._graded(variant):
            passed = kind_passed(t.kind_statuses.get(kind, []))
            if passed is not None:
                out.setdefault(t.scenario if variant else cluster_name(t), []).append(passed)
        return out

    def trial_outcomes(self, kind: str | None = None) -> dict[str, dict[int, bool]]:
        """Scenario → trial index → whether the trial (or expectation ``kind`` in it) passed,
        over graded trials; the trial index is what pairs a trial with its baseline's."""
        out: dict[str, dict[int, bool]] = {}
        for t in self._graded(None):
            passed = (t.status == "passed" if kind is None
                      else kind_passed(t.kind_statuses.get(kind, [])))
            if passed is not None:
                out.setdefault(cluster_name(t), {})[t.trial] = passed
        return out

    def trial_turns(self, metric: str = "voice_to_voice_ms") -> dict[str, dict[int, list[float]]]:
        """Scenario → trial index → the answered turns' ``metric`` of that graded trial."""
        if metric not in TURN_METRICS:
            raise ValueError(f"unknown turn metric {metric!r}; one of {', '.join(TURN_METRICS)}")
        out: dict[str, dict[int, list[float]]] = {}
        for t in self._graded(None):
            out.setdefault(cluster_name(t), {})[t.trial] = [
                v for turn in t.turns if (v := getattr(turn, metric)) is not None]
        return out

    def turn_values(self, metric: str = "voice_to_voice_ms", variant: str | None = None
                    ) -> dict[str, list[float]]:
        """Scenario → every answered turn's ``metric`` (one of ``TURN_METRICS``) over its
        graded trials."""
        if metric not in TURN_METRICS:
            raise ValueError(f"unknown turn metric {metric!r}; one of {', '.join(TURN_METRICS)}")
        out: dict[str, list[float]] = {}
        for t in self._graded(variant):
            values = [v for turn in t.turns if (v := getattr(turn, metric)) is not None]
            out.setdefault(t.scenario if variant else cluster_name(t), []).extend(values)
        return out
