"""How far ``harness calls score`` agrees with a live run: the whole example suite (or any run
folder) graded again as production calls, from a stereo WAV alone and from the WAV with a
sidecar made from the call's events and tool calls.

Usage: ``.venv/bin/python bench/calls_agreement.py [--run RUN_DIR] [--trials 1]
[--concurrency 4] [--keep DIR]``

Without ``--run`` the example suite (``scenarios/``) is first run against the local agent. Each
completed trial is then stripped and graded with its own scenario's expectations and agent
config (``harness.calls.regrade_run``). Printed for each strip: verdict agreement per expectation
kind (not-applicable verdicts counted apart, never as agreement), every disagreement with both
verdicts' summaries, and the voice-to-voice error of the rebuilt turns against the live
measurement (p50, p95, max, n). Acceptance: ≥ 95 % agreement with the sidecar; voice-to-voice
error p50 ≤ 20 ms from the audio alone.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import api  # noqa: E402
from harness.calls import Agreement, measure_agreement, regrade_run  # noqa: E402


def _print(label: str, found: Agreement) -> None:
    agree, total = sum(found.agree.values()), sum(found.total.values())
    rate = f"{100 * found.rate:.1f} %" if found.rate is not None else "n/a"
    print(f"\n{label}: {agree} of {total} verdicts as live ({rate})")
    print(f"  {'kind':<28} {'agree':>7} {'n/a':>5}")
    for kind in sorted(set(found.total) | set(found.not_applicable)):
        print(f"  {kind:<28} {found.agree[kind]:>3}/{found.total[kind]:<3} "
              f"{found.not_applicable[kind]:>5}")
    for line in found.disagreements:
        print(f"  disagreement: {line}")
    for line in found.refused:
        print(f"  refused: {line}")
    errors = np.array(found.v2v_errors_ms)
    if len(errors):
        print(f"  voice-to-voice error against the live run: p50 {np.percentile(errors, 50):.1f} "
              f"ms, p95 {np.percentile(errors, 95):.1f} ms, max {errors.max():.1f} ms "
              f"(n {len(errors)} answered turns)")
        for name, start, live, got in found.v2v_turns:
            if abs(got - live) > 50:
                print(f"  off by more than 50 ms: {name}, the turn at {start / 1000:.1f} s: "
                      f"live {live:,.0f} ms, rebuilt {got:,.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="a run folder to grade again (default: run the "
                        "example suite against the local agent first)")
    parser.add_argument("--trials", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="keep the graded calls in this folder")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="calls-agreement-"))
    run_dir = args.run
    if run_dir is None:
        t0 = time.monotonic()
        outcome = api.run([ROOT / "scenarios"], trials=args.trials,
                          concurrency=args.concurrency, out_dir=work / "live")
        run_dir = outcome.run_dir
        print(f"live run: {run_dir} ({time.monotonic() - t0:.0f} s, exit {outcome.exit_code}, "
              f"load average {os.getloadavg()[0]:.1f})")
    for label, sidecar in (("audio alone", False), ("with sidecar", True)):
        t0 = time.monotonic()
        calls = regrade_run(run_dir, work / label.replace(" ", "-"), with_sidecar=sidecar)
        found = measure_agreement(calls)
        _print(f"{label} ({len(calls)} calls graded in {time.monotonic() - t0:.0f} s)", found)
    print(f"\nload average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
