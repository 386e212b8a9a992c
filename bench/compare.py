"""Time to compute a comparison's statistics and write its reports for 2 variants × 200 scenarios
× 10 trials (4,000 synthetic trials: outcomes, six expectation kinds, five continuous metrics,
a transcript and verdicts with evidence each).

Budget: ≤ 10 s on the team's 2-core machine, statistics and report together.

    .venv/bin/python bench/compare.py [--scenarios 200] [--trials 10] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from harness.compare import Side, TrialMetrics, compare_sides, finish

BUDGET_S = 10.0
KINDS = ["latency", "preamble", "entity_confirmed", "confirmation_before_write", "escalation",
         "turn_answered"]


def synthetic_trial(rng: random.Random, scenario: int, variant: str, k: int,
                    shift_ms: float) -> TrialMetrics:
    """One trial whose pass chances and latencies depend on its scenario (and the variant)."""
    base = 800 + 40 * (scenario % 25)
    kinds = {kind: rng.random() < 0.9 - 0.02 * (scenario % 5) for kind in KINDS}
    passed = all(kinds.values())
    v2v = base + shift_ms + rng.gauss(0, 120)
    values = {"voice_to_voice_ms": v2v, "first_audio_ms": v2v - 40 + rng.gauss(0, 10),
              "dead_air_ms": v2v + 600 + rng.gauss(0, 200),
              "barge_in_stop_ms": 180 + rng.gauss(0, 40), "input_wer": abs(rng.gauss(0.05, 0.03))}
    transcript = [{"t_ms": 400.0 + 3000 * i, "who": who, "title": who, "text": text, "notes": []}
                  for i, (who, text) in enumerate([
                      ("caller", "Hi, where is my order eight three five two one?"),
                      ("agent", "I'll check that order now."),
                      ("tool", 'lookup_order({"order_id": "83521"})'),
                      ("agent", "It has shipped and should arrive on April 25."),
                      ("caller", "Great, thanks."), ("agent", "You're welcome. Goodbye!")])]
    verdicts = [{"kind": kind, "status": "pass" if ok else "fail",
                 "summary": f"{kind} {'held' if ok else 'did not hold'} over 2 turns",
                 "evidence": [{"t_ms": 2400.0, "label": f"{kind}: turn 0", "excerpt": None}]}
                for kind, ok in kinds.items()]
    return TrialMetrics(scenario=f"scenario-{scenario:03d}", variant=variant, trial=k,
                        run_dir=Path("."), path=f"scenario-{scenario:03d}/{variant}/trial-{k}",
                        outcome="passed" if passed else "failed", kinds=kinds, values=values,
                        audio=f"scenario-{scenario:03d}/{variant}/trial-{k}/call.wav",
                        transcript=transcript, verdicts=verdicts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=200)
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--keep", type=Path, help="write the reports here and keep them")
    args = parser.parse_args()
    rng = random.Random(0)
    sides = [Side(name, [synthetic_trial(rng, s, name, k, shift)
                         for s in range(args.scenarios) for k in range(args.trials)])
             for name, shift in (("A", 0.0), ("B", 25.0))]
    out_dir = args.keep or Path(tempfile.mkdtemp(prefix="bench-compare-"))
    try:
        started = time.perf_counter()
        pairs = compare_sides(sides)
        stats_s = time.perf_counter() - started
        started = time.perf_counter()
        outcome = finish(sides, out_dir, gate=None)  # statistics again, then every report
        total_s = time.perf_counter() - started
        html_mb = outcome.compare_html.stat().st_size / 1e6
    finally:
        if args.keep is None:
            shutil.rmtree(out_dir, ignore_errors=True)
    n = sum(len(s.trials) for s in sides)
    print(f"{len(sides)} variants × {args.scenarios} scenarios × {args.trials} trials "
          f"({n} trials, {len(pairs[0].metrics)} metrics)")
    print(f"statistics:          {stats_s:6.2f} s")
    print(f"statistics + report: {total_s:6.2f} s (compare.html {html_mb:.1f} MB)  "
          f"budget {BUDGET_S:.0f} s: {'ok' if total_s <= BUDGET_S else 'OVER'}")
    for m in pairs[0].metrics:
        print(f"  {m.metric:28s} {m.verdict:26s} p(Holm)={m.p_adjusted:.3g}")
    return 0 if total_s <= BUDGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
