"""Live A/A comparisons against the local agent: how often three identical variants of the
example suite's agent are declared different on anything.

Each repetition is a live, interleaved comparison of 5 example scenarios × 2 trials with three
variants that are the same agent config (A, B, C): 30 real-time calls. It prints, per
repetition, the metrics declared better or worse (there should be none) and the start-order
effect, then how many repetitions declared anything (the comparison's promise: at most 5 %,
so at most 1 of 20).

    .venv/bin/python bench/live_aa.py [--repetitions 20] [--concurrency 3] [--trials 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from pathlib import Path

from harness.compare import ComparisonSpec, VariantSpec, run_comparison_async

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ["order-status", "cancel-confirmed", "digit-correction", "cut-off-order-id",
             "human-request"]


async def _one(index: int, root: Path, trials: int, concurrency: int) -> list[str]:
    spec = ComparisonSpec(scenarios=[ROOT / "scenarios" / f"{s}.yaml" for s in SCENARIOS],
                          trials=trials,
                          variants={"A": VariantSpec(), "B": VariantSpec(), "C": VariantSpec()})
    folder = root / f"rep-{index:02d}"
    folder.mkdir(parents=True)
    outcome = await run_comparison_async(spec, concurrency=concurrency, run_dir=folder,
                                         session_timeout_s=240.0)
    declared = [f"{p.candidate}:{m.metric}:{m.verdict}" for p in outcome.pairs
                for m in p.metrics if m.verdict in ("better", "worse")]
    effect = (outcome.document.get("order") or {}).get("effect") or {}
    print(f"repetition {index + 1}: declared {declared or 'nothing'}; errored "
          f"{outcome.errored}; start order first − last "
          f"{effect.get('first_minus_last', float('nan')):+.0f} ms "
          f"(p = {effect.get('p_value', float('nan')):.2g})", flush=True)
    return declared


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repetitions", type=int, default=20)
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="live-aa-") as tmp:
        results = [asyncio.run(_one(i, Path(tmp), args.trials, args.concurrency))
                   for i in range(args.repetitions)]
    anything = sum(bool(r) for r in results)
    print(f"{anything} of {args.repetitions} live A/A comparisons (5 scenarios × {args.trials} "
          f"trials, 3 identical variants) declared anything; {time.perf_counter() - started:.0f}"
          f" s; load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
