"""Comparisons of real calls against the local agent: false positives and power.

One session records a plain run with 6 trials per scenario (split 20 times at random into two
halves of 3 for A/A comparisons) and two live comparisons of the fault-free agent with a variant
that is worse on purpose (no preambles; 300 ms added before every answer). The A/A run uses 8 of
the example scenarios, not all 15, so that the three runs (96 calls) fit in a few minutes on two
cores. The A/A run and the preamble comparison share the machine; the latency comparison runs
after them, alone, because its figure is the agent's latency, and the local agent's recogniser
shares two cores with every call of the session: with eight calls at once its answers were ready
up to 70 ms sooner or later, differently for the two variants, from one session to the next.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness import api
from harness.compare import (
    ComparisonSpec,
    Side,
    VariantSpec,
    compare_pair,
    compare_runs,
    run_comparison_async,
)
from harness.compare._analysis import paired_values
from harness.compare._sources import side_from_run
from harness.stats import scenario_t_interval

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = ROOT / "scenarios"
PREAMBLE_SCENARIOS = ["order-status", "cancel-confirmed", "update-email-spelled",
                      "human-request", "cut-off-order-id", "dropped-line"]
LATENCY_SCENARIOS = [*PREAMBLE_SCENARIOS, "digit-correction", "spelled-id-with-dash",
                     "cancel-declined", "frustrated-escalation", "noisy-caller", "barge-in"]
A_A_SCENARIOS = ["order-status", "digit-correction", "barge-in", "cancel-declined",
                 "noisy-caller", "hold-music", "long-silence", "mid-sentence-pause"]
A_A_TRIALS = 6
A_A_SPLITS = 20
ADDED_MS = 300
TIMEOUT_S = 240.0
"""Per trial: these tests are about statistics, and a busy machine slows the calls down."""
HARNESS = Path(sys.executable).with_name("harness")


def _files(names: list[str]) -> list[Path]:
    return [SCENARIOS / f"{n}.yaml" for n in names]


@pytest.fixture(scope="session")
def real_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The A/A run folder and the two live comparisons, recorded once for the whole session: the
    A/A run (48 calls, 4 at a time) beside the preamble comparison (24 calls, 2 at a time), then
    the latency comparison alone (24 calls, 3 at a time)."""
    root = tmp_path_factory.mktemp("compare-e2e")
    # preambles: 6 scenarios × 2 trials give 12 discordant pairs if every preamble is lost
    terse = ComparisonSpec(scenarios=_files(PREAMBLE_SCENARIOS), trials=2,
                           variants={"A": VariantSpec(),
                                     "terse": VariantSpec(faults=["no_preamble"])})
    # latency: the sign-flip test over 12 scenarios can reject after the Holm correction (with
    # three calls at a time a stalled call is rare enough for one trial per scenario)
    slow = ComparisonSpec(scenarios=_files(LATENCY_SCENARIOS), trials=1,
                          variants={"A": VariantSpec(),
                                    "slow": VariantSpec(faults=[f"added_latency_ms={ADDED_MS}"])})
    for name in ("a-a", "terse", "slow"):
        (root / name).mkdir()

    async def all_runs() -> list[object]:
        a_a, terse_outcome = await asyncio.gather(
            api.run_async(_files(A_A_SCENARIOS), trials=A_A_TRIALS, concurrency=4,
                          run_dir=root / "a-a", session_timeout_s=TIMEOUT_S),
            run_comparison_async(terse, concurrency=2, run_dir=root / "terse",
                                 session_timeout_s=TIMEOUT_S))
        slow_outcome = await run_comparison_async(slow, concurrency=3, run_dir=root / "slow",
                                                  session_timeout_s=TIMEOUT_S)
        return [a_a, terse_outcome, slow_outcome]

    a_a, terse_outcome, slow_outcome = asyncio.run(all_runs())
    return {"a_a": a_a, "terse": terse_outcome, "slow": slow_outcome}


def _split(side: Side, rng: random.Random) -> tuple[Side, Side]:
    """Each scenario's trials shuffled into two halves, re-indexed 0.. so they pair up."""
    first, second = [], []
    for by_trial in side.by_scenario().values():
        trials = list(by_trial.values())
        rng.shuffle(trials)
        half = len(trials) // 2
        for group, chosen in ((first, trials[:half]), (second, trials[half:])):
            for k, t in enumerate(chosen):
                group.append(type(t)(**{**t.__dict__, "trial": k}))
    return Side("A1", first), Side("A2", second)


def test_a_a_comparisons_rarely_declare_a_difference(real_runs) -> None:
    run_dir = real_runs["a_a"].run_dir
    side = side_from_run(run_dir, None, name="A")
    assert sum(t.outcome != "errored" for t in side.trials) >= len(side.trials) - 2
    rng = random.Random(13)
    declared = []
    for i in range(A_A_SPLITS):
        one, two = _split(side, rng)
        pair = compare_pair(one, two)
        assert pair.paired_trials and len(pair.metrics) >= 8
        different = [m.metric for m in pair.metrics if m.verdict in ("better", "worse")]
        if different:
            declared.append((i, different))
    print(f"\nA/A: {len(declared)} of {A_A_SPLITS} random splits declared a difference: "
          f"{declared}")
    assert len(declared) <= 2, declared


def _metric(pair, name: str):
    return next(m for m in pair.metrics if m.metric == name)


def test_no_preamble_is_declared_worse_on_the_preamble_pass_rate(real_runs) -> None:
    pair = real_runs["terse"].pairs[0]
    preamble = _metric(pair, "preamble")
    print(f"\nno_preamble: preamble {preamble.verdict}, difference {preamble.difference:+.2f} "
          f"(CI {preamble.interval.low:+.2f} to {preamble.interval.high:+.2f}), "
          f"p={preamble.p_value:.2g}, Holm p={preamble.p_adjusted:.2g}")
    assert preamble.verdict == "worse"
    assert preamble.n_scenarios == len(PREAMBLE_SCENARIOS)
    assert preamble.test.startswith("McNemar exact")
    assert preamble.difference < -0.5


def test_added_latency_is_declared_worse_with_an_interval_of_its_size(real_runs) -> None:
    outcome = real_runs["slow"]
    pair = outcome.pairs[0]
    latency = _metric(pair, "voice_to_voice_ms")
    # the same scenario differences, for an interval that a correct measurement misses only once
    # in a thousand sessions (the 95 % one would fail this test in one session in twenty)
    a, b = (side_from_run(outcome.run_dir, v, name=v) for v in ("A", "slow"))
    xs, ys = paired_values(a, b, "voice_to_voice_ms")
    diffs = [float(np.mean(ys[s]) - np.mean(xs[s])) for s in sorted(xs)]
    wide, _sd, _method = scenario_t_interval(
        [np.subtract(ys[s], xs[s]) for s in sorted(xs)], level=0.999)
    assert wide is not None
    print(f"\nadded_latency_ms={ADDED_MS}: voice-to-voice {latency.verdict}, difference "
          f"{latency.difference:+.0f} ms (95 % CI {latency.interval.low:+.0f} to "
          f"{latency.interval.high:+.0f} ms, contains {ADDED_MS}: "
          f"{latency.interval.contains(ADDED_MS)}; 99.9 % CI {wide.low:+.0f} to "
          f"{wide.high:+.0f} ms), Holm p={latency.p_adjusted:.2g}, "
          f"{latency.n_scenarios} scenarios")
    assert latency.verdict == "worse"
    assert latency.interval.low > 0
    assert wide.contains(ADDED_MS), (diffs, wide)
    assert len(diffs) == latency.n_scenarios
    assert float(np.mean(diffs)) == pytest.approx(latency.difference)
    # the preamble pass rate does not move with latency alone
    assert _metric(pair, "preamble").verdict in ("no detectable difference",
                                                 "cannot be detected")
    assert latency.n_scenarios >= len(LATENCY_SCENARIOS) - 1


def _stats(document: dict) -> list[dict]:
    return [{k: v for k, v in m.items() if k != "summary"}
            for pair in document["comparisons"] for m in pair["metrics"]]


def test_finished_runs_give_the_statistics_of_the_live_comparison(real_runs, tmp_path) -> None:
    live = real_runs["slow"]
    run_dir = live.run_dir
    # the two variants as two runs (RUN#VARIANT), through the library …
    again = compare_runs([f"{run_dir}#A", f"{run_dir}#slow"], out_dir=tmp_path / "pair")
    assert again.document["comparisons"] == live.document["comparisons"]
    # … and the whole run through the command, into a fresh folder
    out = tmp_path / "all"
    done = subprocess.run([str(HARNESS), "compare", str(run_dir), "-o", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode in (0, 3), done.stderr
    document = json.loads((out / "compare.json").read_text())
    assert _stats(document) == _stats(live.document)
    assert "slow vs A" in done.stdout
    # … and stored in the history database, compared from there (two stored runs by label)
    from harness.store import open_store

    url = f"sqlite:///{tmp_path / 'history.db'}"
    with open_store(url) as store:
        store.record_run(run_dir, label="ab")
    stored = compare_runs(["ab#A", "ab#slow"], store=url, out_dir=tmp_path / "stored")
    assert _stats(stored.document) == _stats(live.document)
