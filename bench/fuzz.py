"""Fuzz the loaders at length: generated scenario files, agent configs and agent profiles (the
strategies of tests/fuzz_inputs.py, which CI runs 2,100 of) until CASES have run; prints how many
ended in a traceback instead of a located user error, the distinct ones, and the time taken.

    .venv/bin/python bench/fuzz.py [CASES] [WORKERS]      # default 100000 cases, 2 workers
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

KINDS = ("scenario", "agent", "profile")


def _fuzz(kind: str, cases: int, seed: int) -> tuple[int, Counter[str], dict[str, str]]:
    """Run ``cases`` generated documents of one kind; (cases run, traceback kinds, examples)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as fixed_seed

    from tests import fuzz_inputs as inputs

    strategy = {"scenario": inputs.scenario_texts, "agent": inputs.agent_texts,
                "profile": inputs.profile_texts}[kind]
    check = {"scenario": inputs.check_scenario, "agent": inputs.check_agent,
             "profile": inputs.check_profile}[kind]
    folder = Path(tempfile.mkdtemp(prefix=f"harness-fuzz-{kind}-"))
    ran = 0
    started = time.perf_counter()
    tracebacks: Counter[str] = Counter()
    examples: dict[str, str] = {}

    @fixed_seed(seed)
    @settings(max_examples=cases, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(strategy)
    def one(text: str) -> None:
        nonlocal ran
        ran += 1
        if ran % 5000 == 0:
            print(f"{kind} (seed {seed}): {ran:,} cases, {sum(tracebacks.values())} tracebacks, "
                  f"{time.perf_counter() - started:,.0f} s", flush=True)
        found = check(text, folder)
        if found is not None:
            last = found.strip().splitlines()[-1][:160]
            tracebacks[last] += 1
            examples.setdefault(last, found)

    one()
    return ran, tracebacks, examples


def main() -> None:
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    chunks = [(KINDS[i % 3], cases // (3 * workers) + 1, i) for i in range(3 * workers)]
    started = time.perf_counter()
    total = 0
    tracebacks: Counter[str] = Counter()
    examples: dict[str, str] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for ran, found, shown in pool.map(_fuzz, *zip(*chunks, strict=True)):
            total += ran
            tracebacks.update(found)
            for key, text in shown.items():
                examples.setdefault(key, text)
    elapsed = time.perf_counter() - started
    print(f"fuzzed {total:,} documents (scenario files, agent configs, agent profiles) "
          f"in {elapsed:,.0f} s ({1000 * elapsed / max(total, 1):.1f} ms each, {workers} workers)")
    print(f"tracebacks: {sum(tracebacks.values())} ({len(tracebacks)} distinct)")
    for last, n in tracebacks.most_common():
        print(f"\n{n} × {last}\n{examples[last]}")


if __name__ == "__main__":
    main()
