"""Render throughput of a scenario suite: caller audio seconds rendered per wall-clock second.

Cold: a fresh process with an empty render cache (speech worker start, TTS, noise beds, cache
writes). Warm: a fresh process whose cache is full (what a CI run sees the second time), and the
same process rendering again (what a suite run with many trials sees). ``harness render`` (clips,
previews and manifests written to disk) is timed warm as well.

    .venv/bin/python bench/render.py [PATH ...] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BUDGET_COLD = 20.0
BUDGET_WARM = 500.0


def _child(paths: list[str], cache: str, rounds: int, out_dir: str | None) -> None:
    """Runs in a fresh process: load the suite, render it ``rounds`` times, print JSON."""
    from harness.audio import render_scenario, render_suite
    from harness.scenario.loader import load_suite

    started = time.perf_counter()
    scenarios = load_suite(paths)
    load_s = time.perf_counter() - started
    timings = []
    audio_s = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        audio_s = 0.0
        for scenario in scenarios:
            script = render_scenario(scenario, cache)
            audio_s += sum(t.duration_ms for t in script.turns) / 1000
        timings.append(time.perf_counter() - started)
    suite_s = None
    if out_dir is not None:
        started = time.perf_counter()
        render_suite(paths, out_dir, cache_dir=cache)
        suite_s = time.perf_counter() - started
    print(json.dumps({"scenarios": len(scenarios), "audio_s": audio_s, "load_s": load_s,
                      "render_s": timings, "suite_s": suite_s}))


def _run_child(paths: list[str], cache: Path, rounds: int, out_dir: Path | None = None) -> dict:
    cmd = [sys.executable, __file__, "--child", "--cache", str(cache), "--rounds", str(rounds),
           *(["--out", str(out_dir)] if out_dir else []), *paths]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(REPO / "scenarios")])
    parser.add_argument("--repeat", type=int, default=3, help="cold and warm runs (best kept)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cache", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.paths, args.cache, args.rounds, args.out)
        return

    cold, warm_disk, warm_memory, suite = [], [], [], []
    audio_s = 0.0
    with tempfile.TemporaryDirectory(prefix="bench-render-") as tmp:
        for i in range(args.repeat):
            cache = Path(tmp) / f"cache-{i}"
            first = _run_child(args.paths, cache, rounds=1)
            cold.append(first["render_s"][0])
            audio_s = first["audio_s"]
            again = _run_child(args.paths, cache, rounds=3, out_dir=Path(tmp) / f"out-{i}")
            warm_disk.append(again["render_s"][0])
            warm_memory.append(min(again["render_s"][1:]))
            suite.append(again["suite_s"])
        scenarios = first["scenarios"]

    def rate(seconds: list[float]) -> float:
        return audio_s / min(seconds)

    print(f"render benchmark: {scenarios} scenarios, {audio_s:.1f} s of caller audio "
          f"(best of {args.repeat})")
    rows = [
        ("cold (new process, empty cache)", cold, BUDGET_COLD),
        ("warm (new process, full cache)", warm_disk, BUDGET_WARM),
        ("warm (same process)", warm_memory, BUDGET_WARM),
        ("harness render, warm (+ YAML, WAV writes)", suite, None),
    ]
    for label, seconds, budget in rows:
        verdict = "" if budget is None else (
            f"  budget >= {budget:.0f}x: {'ok' if rate(seconds) >= budget else 'MISSED'}")
        print(f"  {label:38s} {min(seconds) * 1000:8.1f} ms  {rate(seconds):8.0f}x real time"
              f"{verdict}")


if __name__ == "__main__":
    main()
