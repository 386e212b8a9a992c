"""Synthetic run folders (``run.json`` and a ``summary.json`` of the current version) for the
history store's tests and benchmark: scenarios with a chosen pass probability and latency, drawn
from a seeded generator, so A/A pairs come from one distribution and a regression is planted."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from harness.report import run_statistics
from harness.scoring import TurnMetrics

KINDS = ("latency", "preamble", "entity_confirmed")


@dataclass
class _Trial:
    scenario: str
    variant: str | None
    trial: int
    outcome: str
    verdicts: list[dict[str, Any]]
    turns: list[TurnMetrics] = field(default_factory=list)

    @property
    def kind_statuses(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for v in self.verdicts:
            out.setdefault(v["kind"], []).append(v["status"])
        return out


def synthetic_run(run_dir: Path, *, seed: int, scenarios: int = 10, trials: int = 5,
                  pass_p: float = 0.8, latency_ms: float = 900.0, latency_sd: float = 150.0,
                  turns: int = 3, started: datetime | None = None, faults: list[str] | None = None,
                  scenario_effects: dict[str, float] | None = None,
                  preamble_p: float | None = None) -> Path:
    """Write a run folder of ``scenarios`` × ``trials`` trials. Each scenario has its own pass
    probability around ``pass_p`` and its own latency level around ``latency_ms`` (fixed by the
    scenario index, so runs with different seeds are A/A draws of one suite); ``preamble_p``
    replaces the preamble kind's pass probability."""
    rng = np.random.default_rng(seed)
    base = np.random.default_rng(12345)  # scenario traits: the same in every run
    levels = latency_ms + base.normal(0, 200, scenarios)
    probs = np.clip(pass_p + base.normal(0, 0.1, scenarios), 0.05, 1.0)
    run_dir.mkdir(parents=True, exist_ok=True)
    started = started or datetime(2025, 6, 1, 2, 0, tzinfo=UTC)
    out: list[_Trial] = []
    for s in range(scenarios):
        name = f"scenario-{s:03d}"
        shift = (scenario_effects or {}).get(name, 0.0)
        for k in range(trials):
            verdicts = []
            chance = {"latency": probs[s], "entity_confirmed": max(probs[s], 0.95),
                      "preamble": max(probs[s], 0.95) if preamble_p is None else preamble_p}
            for kind in KINDS:
                ok = rng.random() < chance[kind]
                verdicts.append({"kind": kind, "params": {"max_ms": 2000} if kind == "latency"
                                 else {}, "status": "pass" if ok else "fail",
                                 "summary": f"{kind} {'held' if ok else 'broke'}",
                                 "measured": {"graded": {"n": turns, "p50": 900.0}, "count": 1},
                                 "evidence": []})
            status = "passed" if all(v["status"] == "pass" for v in verdicts) else "failed"
            values = rng.normal(levels[s] + shift, latency_sd, turns).clip(50, None)
            out.append(_Trial(name, None, k, status, verdicts, [
                TurnMetrics(i, i == 1, float(v), float(v) - 25, 400.0, float(v) * 0.6)
                for i, v in enumerate(values)]))
    run_id = run_dir.name
    finished = started + timedelta(minutes=20)
    iso = "%Y-%m-%dT%H:%M:%S.000Z"
    (run_dir / "run.json").write_text(json.dumps({
        "schema_version": 1, "run_id": run_id, "started_at": started.strftime(iso),
        "finished_at": finished.strftime(iso), "target": "local", "harness_version": "0.1.0",
        "machine": {"cpu_count": 2}, "faults": faults or [],
        "trials": [{"scenario": t.scenario, "variant": None, "trial": t.trial,
                    "path": f"{t.scenario}/trial-{t.trial}", "status": "completed",
                    "error": None, "duration_s": 20.0} for t in out]}), encoding="utf-8")
    (run_dir / "index.html").write_text(f"<!doctype html><title>{run_id}</title>",
                                        encoding="utf-8")
    (run_dir / "summary.json").write_text(json.dumps({
        "schema_version": 2, "run_id": run_id, "statistics": run_statistics(out, resamples=200),
        "trials": [{"scenario": t.scenario, "variant": None, "trial": t.trial,
                    "path": f"{t.scenario}/trial-{t.trial}", "status": t.outcome, "error": None,
                    "duration_s": 20.0, "scenario_hash": f"{hash(t.scenario) & 0xffff:016x}",
                    "agent_config_hash": "1" * 16, "turns": [m.to_json() for m in t.turns],
                    "verdicts": t.verdicts} for t in out]}), encoding="utf-8")
    return run_dir
