"""``summary.json`` of a run: totals, repeated-trial statistics, and every trial's verdicts.

Latencies use one vocabulary everywhere: a block names its metric and unit in its key
(``voice_to_voice_ms``) and holds ``n``, ``n_clusters``, ``p50``/``p90``/``p95`` (each
``{value, n, n_clusters, low, high}``, value null where n cannot support it) and ``max``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.report._figures import kind_pass_rates
from harness.report._trial import TrialOutcome

SUMMARY_FILE = "summary.json"
SUMMARY_SCHEMA_VERSION = 2
"""2: repeated-trial ``statistics``; per-trial ``turns`` (latencies of every answerable turn),
scenario and agent-config hashes; latency blocks in the one vocabulary above."""


def totals_of(trials: list[TrialOutcome]) -> dict[str, Any]:
    passed = sum(t.outcome == "passed" for t in trials)
    return {"trials": len(trials), "passed": passed,
            "failed": sum(t.outcome == "failed" for t in trials),
            "errored": sum(t.outcome == "errored" for t in trials),
            "pass_rate": passed / len(trials) if trials else None}


def write_summary(run_dir: Path, run: dict[str, Any], trials: list[TrialOutcome],
                  pages: list[str], statistics: dict[str, Any]) -> Path:
    """Write ``RUN_DIR/summary.json`` (versioned, machine-readable twin of the index page);
    ``statistics`` is ``run_statistics`` of the trials."""
    doc = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        **{k: run.get(k) for k in ("run_id", "target", "started_at", "finished_at",
                                   "harness_version", "machine")},
        "totals": totals_of(trials),
        "expectations": kind_pass_rates(trials),
        "statistics": statistics,
        "latency": statistics["latency"],
        "trials": [{
            "scenario": t.scenario, "scenario_file": t.scenario_file, "variant": t.variant,
            "trial": t.trial, "path": t.rel_path, "page": f"pages/{page}",
            "status": t.outcome, "run_status": t.run_status, "error": t.error,
            "duration_s": round(t.duration_s, 3),
            "scenario_hash": t.meta.get("scenario_hash"),
            "agent_config_hash": t.meta.get("agent_config_hash"),
            "turns": [turn.to_json() for turn in t.turns],
            "verdicts": [v.model_dump(mode="json") for v in t.verdicts],
        } for t, page in zip(trials, pages, strict=True)],
    }
    out = run_dir / SUMMARY_FILE
    out.write_text(json.dumps(doc, indent=1, ensure_ascii=False), encoding="utf-8")
    return out
