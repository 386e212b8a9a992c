"""Time to score 1,000 recorded trials (load, score every expectation, write verdicts.json).

Budget: ≤ 10 s on the team's 2-core machine. The trials are the hand-built support calls of the
scoring tests (eight caller turns: a cut-off ID, read-back, lookup with a preamble, confirmation,
cancellation, barge-in, hold music, hand-off; the scoring tests' eleven expectations plus one of
each caller-facing kind: tool-failure recovery, claims, tool honesty, one question, filler,
language), fault-free and with each of the local agent's eight faults in turn, written to a
temporary run folder as real trial folders. ``rubric`` is left out: its time is the judge's.
``--appends`` also writes one ``input_audio_buffer.append`` frame per 20 ms caller chunk, as a
real recording holds. ``speech_matches_transcript`` (faster-whisper ASR of the agent's audio) is
not among the expectations: it costs seconds per trial and is timed on its own elsewhere.

    .venv/bin/python bench/score.py [--trials 1000] [--workers N] [--appends]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.scoring import score_run  # noqa: E402
from tests.scoring.calls import EXPECT, FAULTS, order_call  # noqa: E402

BUDGET_S = 10.0
CHUNK_MS = 20.0

CALLER_KINDS = [
    {"tool_failure_recovery": {}},
    {"claims_backed": {}},
    {"tools_honest": {"turns": [1]}},
    {"one_question": {"clarification": {"max_sentences": 2}}},
    {"no_filler_on_noise": {}},
    {"language": {"expected": "en"}},
]
"""The caller-facing kinds, graded on every trial beside the scoring tests' expectations."""


def write_run(run_dir: Path, n: int, appends: bool) -> int:
    """``n`` trial folders plus run.json; returns the frames per trial (mean)."""
    variants = [None, *FAULTS]
    builders = [order_call(v, expect=EXPECT + CALLER_KINDS) for v in variants]
    frames_total = 0
    entries = []
    for i in range(n):
        b = builders[i % len(builders)]
        if appends and not getattr(b, "_with_appends", False):
            end = max(f[0] for f in b._frames)
            for k in range(int(end // CHUNK_MS)):
                b.add(50.0 + (k + 1) * CHUNK_MS, "sent", "input_audio_buffer.append",
                      {"audio": {"audio_ref": {"track": "caller", "start_sample": k * 480,
                                               "samples": 480, "sample_rate": 24000}}})
            b._with_appends = True  # type: ignore[attr-defined]
        rel = f"{variants[i % len(variants)] or 'clean'}/trial-{i}"
        rec = b.write(run_dir / rel)
        frames_total += len(rec.frames)
        entries.append({"scenario": rel.split("/")[0], "trial": i, "path": rel,
                        "status": "completed", "error": None})
    (run_dir / "run.json").write_text(json.dumps({"schema_version": 1, "run_id": "bench",
                                                  "trials": entries}))
    return frames_total // n


def _cpu_s() -> float:
    """CPU seconds of this process and its finished worker processes."""
    own, children = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                      resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=None,
                        help="scoring processes (default: score_run's choice, one per core)")
    parser.add_argument("--appends", action="store_true",
                        help="also write the caller's audio append frames")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-score-") as tmp:
        run_dir = Path(tmp)
        frames = write_run(run_dir, args.trials, args.appends)
        start, cpu_start = time.perf_counter(), _cpu_s()
        results = score_run(run_dir, workers=args.workers)
        elapsed, cpu = time.perf_counter() - start, _cpu_s() - cpu_start
    verdicts = sum(len(v) for v in results.values())
    failing = sum(v.status == "fail" for vs in results.values() for v in vs)
    # CPU time is reported too: on a shared machine wall time mostly measures the neighbours.
    print(f"scored {len(results)} trials ({frames} frames each, {verdicts} verdicts, "
          f"{failing} failing) in {elapsed:.2f} s wall, {cpu:.2f} s CPU = "
          f"{1000 * elapsed / len(results):.2f} ms/trial (budget {BUDGET_S:.0f} s per 1,000: "
          f"{'OK' if elapsed <= BUDGET_S else 'OVER'}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
