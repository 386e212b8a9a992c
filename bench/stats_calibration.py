"""Calibration of the comparison statistics at the sizes people run: S scenarios × k trials.

For each S in {3, 5, 8, 12, 40} and k in {2, 5, 10}, on simulated suites shaped like the local
agent's (16 metrics: trial pass rate and voice-to-voice latency as the primaries, three more
latencies, input WER, and ten expectation kinds each graded in a few scenarios), it prints:

- **A/A**: the share of comparisons of two identical variants in which *any* metric is declared
  better or worse (target ≤ 5 % within Monte Carlo error);
- **coverage**: how often the 95 % interval of a known shift holds it, for voice-to-voice
  latency (+300 ms on every scenario) and for the trial pass rate (15 points lower, capped at 0)
  (target ≥ 93 %);
- **power**: how often the comparison declares B worse when its voice-to-voice latency (or pass
  rate) is really worse by the smallest detectable difference the report states for that size
  (target ≥ 75 %), or "cannot" where the report says the size cannot detect it;
- the stated detectable differences themselves (median over replicates);
- for run reports: the coverage of the suite intervals drawn from scenarios (pass rate, and
  p50/p90/p95 latency) against a population of scenarios, by S, where the report draws them.

Run: ``.venv/bin/python bench/stats_calibration.py [--reps 1000] [--sizes 3x2,5x2]``
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from harness import stats
from harness.stats import _estimates

SIZES = [(s, k) for s in (3, 5, 8, 12, 40) for k in (2, 5, 10)]
SHIFT_MS = 300.0
PASS_SHIFT = -0.15
KINDS = 10


def _suite(rng: np.random.Generator, s: int, k: int):
    """One suite's scenario parameters: pass rates, latency levels and spreads, kind coverage."""
    mu = np.clip(rng.normal(900, 250, s), 300, None)
    return {
        "p": rng.beta(6, 1.2, s),
        "mu": mu,
        "sd": mu * rng.uniform(0.05, 0.25, s),
        "kinds": [(rng.beta(8, 1, s), rng.random(s) < rng.uniform(0.1, 0.6)) for _ in range(KINDS)],
        "k": k,
    }


def _side(rng: np.random.Generator, suite: dict, *, shift_ms: float = 0.0,
          pass_shift: float = 0.0) -> dict[str, dict[str, list]]:
    """One variant's trials: metric → scenario → values in trial order."""
    s, k = suite["mu"].size, suite["k"]
    heavy = np.exp(rng.normal(0, 0.3, (s, k)))  # heavier tails than normal, as real calls have
    noise = rng.standard_normal((s, k)) * heavy * suite["sd"][:, None]
    v2v = suite["mu"][:, None] + shift_ms + noise
    shared = 0.7 * noise + 0.3 * rng.standard_normal((s, k)) * suite["sd"][:, None]
    p = np.clip(suite["p"] + pass_shift, 0, 1)
    out: dict[str, dict[str, list]] = {
        "passed": {f"s{i}": list(rng.random(k) < p[i]) for i in range(s)},
        "voice_to_voice_ms": {f"s{i}": list(v2v[i]) for i in range(s)},
        "first_audio_ms": {f"s{i}": list(suite["mu"][i] - 250 + shared[i]) for i in range(s)},
        "dead_air_ms": {f"s{i}": list(suite["mu"][i] + 1.5 * shared[i]) for i in range(s)},
        "barge_in_stop_ms": {"s0": list(rng.normal(250, 40, k))},
        "input_wer": {f"s{i}": list(np.clip(rng.normal(0.1, 0.05, k), 0, 1)) for i in range(s)},
    }
    for j, (rate, graded) in enumerate(suite["kinds"]):
        out[f"kind_{j}"] = {f"s{i}": list(rng.random(k) < rate[i])
                            for i in range(s) if graded[i] or i == j % s}
    return out


def _compare(a: dict, b: dict, *, detectable: bool = False,
             only: tuple[str, ...] | None = None) -> list[stats.Comparison]:
    comparisons = []
    for metric in a:
        if only and metric not in only:
            continue
        if metric == "passed" or metric.startswith("kind_"):
            comparisons.append(stats.compare_binary(a[metric], b[metric], metric=metric))
        else:
            comparisons.append(stats.compare_continuous(a[metric], b[metric], metric=metric))
    return stats.decide(comparisons, detectable=detectable)


def _cell(args: tuple[int, int, int, int]) -> dict:
    s, k, reps, seed = args
    rng = np.random.default_rng(seed)
    any_declared = covered_v2v = covered_pass = 0
    power_hits = {"voice_to_voice_ms": [0, 0], "passed": [0, 0]}
    stated: dict[str, list[float]] = {"voice_to_voice_ms": [], "passed": []}
    power_reps = max(100, reps // 3)
    for r in range(reps):
        suite = _suite(rng, s, k)
        a, b = _side(rng, suite), _side(rng, suite)
        any_declared += any(c.verdict in ("better", "worse") for c in _compare(a, b))
        shifted = _side(rng, suite, shift_ms=SHIFT_MS, pass_shift=PASS_SHIFT)
        v2v = stats.compare_continuous(a["voice_to_voice_ms"], shifted["voice_to_voice_ms"],
                                       metric="voice_to_voice_ms")
        covered_v2v += v2v.interval is not None and v2v.interval.contains(SHIFT_MS)
        passed = stats.compare_binary(a["passed"], shifted["passed"], metric="passed")
        true_pass_shift = float(np.mean(np.clip(suite["p"] + PASS_SHIFT, 0, 1) - suite["p"]))
        covered_pass += passed.interval is not None and passed.interval.contains(true_pass_shift)
        if r >= power_reps:
            continue
        # the detectable difference the report states for this size, from an A/A comparison
        decided = {c.metric: c for c in _compare(a, b, detectable=True,
                                                 only=("passed", "voice_to_voice_ms"))}
        for metric, c in decided.items():
            mdd = c.min_detectable
            if mdd is None:
                continue
            stated[metric].append(mdd)
            if metric == "voice_to_voice_ms":
                worse = _side(rng, suite, shift_ms=mdd)
            else:
                worse = _side(rng, {**suite, "p": np.full(s, c.base_rate or 1.0)},
                              pass_shift=-mdd)
                a = _side(rng, {**suite, "p": np.full(s, c.base_rate or 1.0)})
            again = {x.metric: x for x in _compare(a, worse, only=("passed",
                                                                   "voice_to_voice_ms"))}
            power_hits[metric][0] += again[metric].verdict == "worse"
            power_hits[metric][1] += 1
    return {"S": s, "k": k, "reps": reps, "aa": any_declared / reps,
            "cov_v2v": covered_v2v / reps, "cov_pass": covered_pass / reps,
            "power": {m: (h / n if n else None) for m, (h, n) in power_hits.items()},
            "power_n": {m: n for m, (_h, n) in power_hits.items()},
            "mdd": {m: (float(np.median(v)) if v else None) for m, v in stated.items()}}


def _population_coverage(s: int, reps: int, seed: int) -> dict:
    """Coverage of the run report's suite intervals (scenarios resampled) against the figure of
    a population of scenarios, for a suite of ``s`` scenarios × 3 trials."""
    rng = np.random.default_rng(seed)
    # measured at every size, drawn or not: the coverage is what decides where it is drawn
    gates = dict(_estimates.CLUSTER_INTERVAL_MIN_SCENARIOS)
    _estimates.CLUSTER_INTERVAL_MIN_SCENARIOS.update(dict.fromkeys(gates, 0))

    def scenario(n: int):
        mu = np.exp(rng.normal(np.log(900), 0.35, n))
        turns = rng.integers(3, 9, n)
        return mu, turns, rng.beta(6, 1.2, n)

    mu, turns, p = scenario(20_000)
    pop_latency = np.concatenate([m * np.exp(rng.normal(0, 0.3, 3 * t)) for m, t in
                                  zip(mu[:4000], turns[:4000], strict=True)])
    truth = {q: float(np.percentile(pop_latency, q)) for q in (50, 90, 95)}
    truth_rate = float(p.mean())
    hits = {"pass_rate": 0, 50: 0, 90: 0, 95: 0}
    drawn = dict.fromkeys(hits, 0)
    for _ in range(reps):
        mu, turns, p = scenario(s)
        rates = [float(np.mean(rng.random(3) < pi)) for pi in p]
        est = stats.cluster_mean(rates, resamples=1000, seed=int(rng.integers(1 << 30)))
        if est.interval is not None:
            drawn["pass_rate"] += 1
            hits["pass_rate"] += est.interval.contains(truth_rate)
        clusters = [m * np.exp(rng.normal(0, 0.3, 3 * t)) for m, t in zip(mu, turns,
                                                                           strict=True)]
        for q in (50, 90, 95):
            e = stats.cluster_percentile(clusters, q, resamples=1000,
                                         seed=int(rng.integers(1 << 30)))
            if e.interval is not None:
                drawn[q] += 1
                hits[q] += e.interval.contains(truth[q])
    _estimates.CLUSTER_INTERVAL_MIN_SCENARIOS.update(gates)
    return {"S": s, **{str(key): (hits[key] / drawn[key] if drawn[key] else None)
                       for key in hits}}


def _fmt(x: float | None, pct: bool = True) -> str:
    if x is None:
        return "cannot"
    return f"{100 * x:5.1f} %" if pct else f"{x:,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--sizes", default=None, help="e.g. 3x2,5x2 (default: the full grid)")
    parser.add_argument("--population-reps", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--population-only", action="store_true",
                        help="only the run-report intervals")
    args = parser.parse_args()
    sizes = SIZES if not args.sizes else [tuple(int(x) for x in part.split("x"))
                                          for part in args.sizes.split(",")]
    started = time.perf_counter()
    jobs = [] if args.population_only else [(s, k, args.reps, 1000 + 7 * s + k)
                                             for s, k in sizes]
    population_sizes = sorted({s for s, _ in sizes} | ({20, 80} if not args.sizes else set()))
    with ProcessPoolExecutor(args.workers) as pool:
        cells = list(pool.map(_cell, jobs))
        population = list(pool.map(_population_coverage, population_sizes,
                                    [args.population_reps] * len(population_sizes),
                                    [5] * len(population_sizes)))
    grid = ", ".join(f"{c['S']}×{c['k']}" for c in cells)
    print(f"comparison calibration ({grid}); load average {os.getloadavg()[0]:.2f}")
    print("| S × k | reps | A/A: any metric declared | 95 % CI covers: latency | "
          "pass rate | power at stated MDD: latency | pass rate | stated MDD: latency | "
          "pass rate |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in cells:
        mdd_pass = c["mdd"]["passed"]
        print(f"| {c['S']} × {c['k']} | {c['reps']} | {_fmt(c['aa'])} | {_fmt(c['cov_v2v'])} | "
              f"{_fmt(c['cov_pass'])} | {_fmt(c['power']['voice_to_voice_ms'])} | "
              f"{_fmt(c['power']['passed'])} | {_fmt(c['mdd']['voice_to_voice_ms'], False)} ms"
              f" | {'cannot' if mdd_pass is None else f'{100 * mdd_pass:.0f} pts'} |")
    print()
    print("run-report suite intervals (scenarios × 3 trials), coverage of a nominal 95 % "
          "against a population of scenarios; * where reports draw it")
    print("| S | pass rate (t over scenarios) | p50 (cluster bootstrap) | p90 | p95 |")
    print("| --- | --- | --- | --- | --- |")
    need = _estimates.CLUSTER_INTERVAL_MIN_SCENARIOS
    for row in population:
        cells_text = []
        for key, figure in (("pass_rate", "mean"), ("50", "p50"), ("90", "p90"),
                            ("95", "p95")):
            drawn = need[figure] is not None and row["S"] >= need[figure]
            cells_text.append(_fmt(row[key]) + (" *" if drawn else ""))
        print(f"| {row['S']} | " + " | ".join(cells_text) + " |")
    print(f"\nminimum scenarios for a drawn interval: {_estimates.CLUSTER_INTERVAL_MIN_SCENARIOS}")
    print(f"elapsed {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
