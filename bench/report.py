"""Time to render the reports (HTML pages, JUnit, summary.json) of a synthetic 1,000-trial run.

Budget: ≤ 15 s on the team's 2-core machine. The trials are the hand-made calls of the report
tests (a pass with three tool exchanges, ~28 s of call with every caller audio chunk and agent
audio delta in events.jsonl; a fail with a barge-in; an errored trial), hard-linked so the run
costs little disk while every trial is still read and drawn on its own.

    .venv/bin/python bench/report.py [--trials 1000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "report"))

from report_factory import errored_trial, failing_trial, passing_trial, write_run  # noqa: E402

from harness.report import render_report  # noqa: E402

BUDGET_S = 15.0


def synthetic_run(run_dir: Path, n: int) -> Path:
    """``n`` trials: 80 % passing, 15 % failing, 5 % errored, over 20 scenario names."""
    templates = run_dir / "_templates"
    makers = {"pass": lambda rel: passing_trial(run_dir, rel, scale=3),
              "fail": lambda rel: failing_trial(run_dir, rel),
              "error": lambda rel: errored_trial(run_dir, rel)}
    template_entries = {k: make(f"_templates/{k}") for k, make in makers.items()}
    entries = []
    for i in range(n):
        kind = "error" if i % 20 == 0 else "fail" if i % 20 < 4 else "pass"
        scenario = f"{template_entries[kind]['scenario']}-{i % 20:02d}"
        rel = f"{scenario}/trial-{i // 20}"
        dest = run_dir / rel
        dest.mkdir(parents=True)
        for f in (templates / kind).iterdir():
            if f.name == "meta.json":
                meta = json.loads(f.read_text())
                meta.update(scenario=scenario, trial=i // 20)
                (dest / f.name).write_text(json.dumps(meta))
            else:
                os.link(f, dest / f.name)
        entries.append({**template_entries[kind], "scenario": scenario, "trial": i // 20,
                        "path": rel})
    return write_run(run_dir, entries)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--keep", type=Path, help="build the run here and keep it")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-report-"))
    run_dir = root / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    try:
        synthetic_run(run_dir, args.trials)
        lines = sum(1 for _ in open(run_dir / "_templates" / "pass" / "events.jsonl"))
        t0 = time.perf_counter()
        outcome = render_report(run_dir)
        elapsed = time.perf_counter() - t0
        totals = outcome.totals
        print(f"trials: {totals['trials']} (passed {totals['passed']}, failed "
              f"{totals['failed']}, errored {totals['errored']}); events.jsonl of a passing "
              f"trial: {lines} lines")
        pages = sum(p.stat().st_size for p in outcome.pages)
        print(f"report render: {elapsed:.2f} s ({1000 * elapsed / totals['trials']:.1f} ms per "
              f"trial; pages {pages / 1e6:.1f} MB, index "
              f"{outcome.index_html.stat().st_size / 1e3:.0f} kB) — budget {BUDGET_S:.0f} s: "
              f"{'OK' if elapsed <= BUDGET_S else 'OVER'}")
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
