"""``summary.json`` of a run: totals, pass rate per expectation kind, and every trial's verdicts."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from harness.report._figures import kind_pass_rates
from harness.report._trial import TrialOutcome

SUMMARY_FILE = "summary.json"
SUMMARY_SCHEMA_VERSION = 1


def totals_of(trials: list[TrialOutcome]) -> dict[str, Any]:
    passed = sum(t.outcome == "passed" for t in trials)
    return {"trials": len(trials), "passed": passed,
            "failed": sum(t.outcome == "failed" for t in trials),
            "errored": sum(t.outcome == "errored" for t in trials),
            "pass_rate": passed / len(trials) if trials else None}


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "p50": None, "max": None}
    return {"n": len(values), "p50": round(statistics.median(values), 1),
            "max": round(max(values), 1)}


def write_summary(run_dir: Path, run: dict[str, Any], trials: list[TrialOutcome],
                  pages: list[str]) -> Path:
    """Write ``RUN_DIR/summary.json`` (versioned, machine-readable twin of the index page)."""
    doc = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        **{k: run.get(k) for k in ("run_id", "target", "started_at", "finished_at",
                                   "harness_version", "machine")},
        "totals": totals_of(trials),
        "expectations": kind_pass_rates(trials),
        "latency": {"voice_to_voice_ms": _stats([x for t in trials for x in t.voice_to_voice_ms])},
        "trials": [{
            "scenario": t.scenario, "scenario_file": t.scenario_file, "variant": t.variant,
            "trial": t.trial, "path": t.rel_path, "page": f"pages/{page}",
            "status": t.outcome, "run_status": t.run_status, "error": t.error,
            "duration_s": round(t.duration_s, 3),
            "latency": {"voice_to_voice_ms": [round(x, 1) for x in t.voice_to_voice_ms],
                        **{k: v for k, v in _stats(t.voice_to_voice_ms).items() if k != "n"}},
            "verdicts": [v.model_dump(mode="json") for v in t.verdicts],
        } for t, page in zip(trials, pages, strict=True)],
    }
    out = run_dir / SUMMARY_FILE
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return out
