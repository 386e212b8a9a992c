"""Fuzz the loaders at length: generated scenario files, agent configs and agent profiles (the
strategies of tests/fuzz_inputs.py, which CI runs 2,100 of) until CASES have run; prints how many
ended in a traceback instead of a located user error, the distinct ones, and the time taken.
Then hostile files: each kind with a recursive alias or a nested-alias bomb put anywhere (CASES
/ 20 of them), and the 423-byte billion laughs; prints how many were refused as they should be,
the time each refusal took and the process's peak memory.

    .venv/bin/python bench/fuzz.py [CASES] [WORKERS]      # default 100000 cases, 2 workers
    .venv/bin/python bench/fuzz.py hostile [CASES]        # only the hostile files
"""

from __future__ import annotations

import resource
import statistics
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


def _hostile(kind: str, hostile_kind: str, cases: int, seed: int
             ) -> tuple[int, list[float], Counter[str], dict[str, str]]:
    """Run ``cases`` hostile documents of one kind; (cases run, seconds per case, problems,
    an example text per problem)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as fixed_seed

    from tests import fuzz_inputs as inputs

    message = {"recursive": inputs.RECURSIVE_MESSAGE, "bomb": inputs.BOMB_MESSAGE}[hostile_kind]
    folder = Path(tempfile.mkdtemp(prefix=f"harness-hostile-{kind}-"))
    times: list[float] = []
    problems: Counter[str] = Counter()
    examples: dict[str, str] = {}

    @fixed_seed(seed)
    @settings(max_examples=cases, deadline=None, database=None,
              suppress_health_check=list(HealthCheck), phases=["generate"])
    @given(inputs.hostile(inputs.HOSTILE_LOADERS[kind][0], hostile_kind))
    def one(text: str) -> None:
        problem, elapsed = inputs.check_hostile(kind, text, folder, message)
        times.append(elapsed)
        if problem is not None:
            last = problem.strip().splitlines()[-1][:160]
            problems[last] += 1
            examples.setdefault(last, f"{problem}\n--- the file:\n{text}")

    one()
    return len(times), times, problems, examples


def hostile_files(cases: int) -> None:
    """The hostile part: generated files per kind, then the classic bomb from every loader."""
    from tests import fuzz_inputs as inputs

    print(f"hostile files: {cases:,} per kind of file and kind of hostility")
    problems: Counter[str] = Counter()
    examples: dict[str, str] = {}
    for kind in inputs.HOSTILE_LOADERS:
        for hostile_kind in ("recursive", "bomb"):
            ran, times, found, shown = _hostile(kind, hostile_kind, cases, seed=0)
            problems.update(found)
            examples.update(shown)
            ms = sorted(1000 * t for t in times)
            print(f"  {kind:8} {hostile_kind:9} {ran:5,} files, {ran - sum(found.values()):5,} "
                  f"refused right; refusal median {statistics.median(ms):6.1f} ms, "
                  f"max {ms[-1]:6.1f} ms")
    folder = Path(tempfile.mkdtemp(prefix="harness-hostile-"))
    bomb = inputs.alias_bomb(levels=9, width=10)
    for kind in inputs.HOSTILE_LOADERS:
        text = {"scenario": f"name: x\nturns:\n  - say: hi\nexpect: {bomb}\n",
                "agent": f"model: gpt-realtime\ntools: {bomb}\n",
                "profile": f"name: x\nintents: {bomb}\n"}[kind]
        problem, elapsed = inputs.check_hostile(kind, text, folder, inputs.BOMB_MESSAGE)
        print(f"  the {len(text.encode())}-byte billion laughs, {kind} file: "
              f"{'refused' if problem is None else problem} in {1000 * elapsed:.1f} ms")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory of this process: {peak_mb:,.0f} MB")
    print(f"hostile files not refused as they should be: {sum(problems.values())} "
          f"({len(problems)} distinct)")
    for last, n in problems.most_common():
        print(f"\n{n} × {last}\n{examples[last]}")


def main() -> None:
    if sys.argv[1:2] == ["hostile"]:
        hostile_files(int(sys.argv[2]) if len(sys.argv) > 2 else 5_000)
        return
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
    hostile_files(max(cases // 20, 1))


if __name__ == "__main__":
    main()
