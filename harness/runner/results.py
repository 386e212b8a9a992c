"""What a suite run leaves in ``run.json``: every planned trial and how it ended, the target,
the machine. Written atomically after each trial, so a stopped run leaves a consistent file."""

from __future__ import annotations

import functools
import os
import platform
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import harness
from harness.realtime.targets import Target, parse_spec
from harness.runner.capture import write_json_atomic

RUN_SCHEMA_VERSION = 1
RUN_FILE = "run.json"

TrialStatus = Literal["completed", "errored", "incomplete"]


@dataclass
class TrialResult:
    """How one trial ended. ``path`` is relative to the run folder (``cancel-order/trial-0``)."""

    scenario: str
    scenario_file: str | None
    variant: str | None
    trial: int
    path: str
    status: TrialStatus
    error: str | None = None
    duration_s: float = 0.0
    attempts: int = 0
    recording_dir: Path | None = None

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "scenario_file": self.scenario_file,
                "variant": self.variant, "trial": self.trial, "path": self.path,
                "status": self.status, "error": self.error,
                "duration_s": round(self.duration_s, 3)}


@dataclass
class RunResult:
    """A finished (or stopped) suite run."""

    run_dir: Path
    run_id: str
    target: str
    started_at: str
    finished_at: str | None
    trials: list[TrialResult] = field(default_factory=list)

    @property
    def errored(self) -> list[TrialResult]:
        return [t for t in self.trials if t.status == "errored"]

    @property
    def completed(self) -> list[TrialResult]:
        return [t for t in self.trials if t.status == "completed"]


@dataclass
class ProgressEvent:
    """For a progress bar: ``kind`` says what happened; ``done``/``total`` count trials."""

    kind: Literal["run_started", "trial_started", "trial_retry", "trial_finished",
                  "run_finished"]
    done: int
    total: int
    scenario: str | None = None
    variant: str | None = None
    trial: int | None = None
    status: str | None = None
    message: str | None = None


@functools.lru_cache(maxsize=1)
def machine_info() -> dict[str, Any]:
    """What the numbers of a run depend on (no user names, no paths)."""
    return {"platform": platform.platform(), "python": platform.python_version(),
            "machine": platform.machine(), "cpu_count": os.cpu_count(),
            "node": platform.node()}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def target_label(target: str, dialect: str | None = None) -> str:
    """How ``run.json`` names the target: a URL may carry a key in its query, the label not."""
    name, _ = parse_spec(target, dialect)
    return Target("", name).safe_url if "://" in name else target


def new_run(out_dir: Path, target: str, dialect: str | None = None) -> RunResult:
    """A run that starts now, with a fresh id."""
    return RunResult(Path(out_dir), uuid.uuid4().hex[:12], target_label(target, dialect),
                     _now_iso(), None)


def write_run_file(run: RunResult, faults: list[str]) -> None:
    """Write ``run.json`` for ``run`` as its trials stand (atomically: readers never see half)."""
    write_json_atomic(run.run_dir / RUN_FILE, {
        "schema_version": RUN_SCHEMA_VERSION, "run_id": run.run_id,
        "started_at": run.started_at, "finished_at": run.finished_at, "target": run.target,
        "harness_version": harness.__version__, "machine": machine_info(),
        "faults": faults, "trials": [t.to_json() for t in run.trials]})
