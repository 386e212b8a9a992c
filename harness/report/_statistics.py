"""Repeated-trial figures of a run: pass rates, pass@k, pass^k, flakiness and latency percentiles.

Every number comes from :mod:`harness.stats` and carries its n (and its interval where one can be
computed, or why not). The scenario is the unit: a suite figure (and a kind's pass rate) is the
mean over scenarios, its interval over scenarios, drawn only from the number of scenarios where
it covers; a scenario's latency interval resamples its trials. Errored trials say
nothing about the agent and are left out of every rate (they are counted beside it).

The same function serves the run report, ``summary.json``, the console and the history store
(runs stored before figures were kept are recomputed from their trials), so its input is any
sequence of trials with ``scenario``, ``variant``, ``outcome`` (passed / failed / errored),
``kind_statuses`` (expectation kind → verdict statuses) and ``turns`` (per-turn latencies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from harness import stats

LATENCY_METRICS = ("voice_to_voice_ms", "first_audio_ms", "endpointing_ms", "dead_air_ms")
"""Per-turn latencies, named as the turn metrics name them (milliseconds)."""

PERCENTILES = (50, 90, 95)


class TurnLike(Protocol):
    voice_to_voice_ms: float | None
    first_audio_ms: float | None
    endpointing_ms: float | None
    dead_air_ms: float | None


class TrialLike(Protocol):
    scenario: str
    variant: str | None
    outcome: str

    @property
    def kind_statuses(self) -> Mapping[str, Sequence[str]]: ...

    @property
    def turns(self) -> Sequence[TurnLike]: ...


def cluster_name(trial: TrialLike) -> str:
    """The scenario a trial belongs to, as one cluster: ``name`` or ``name[variant]``."""
    return f"{trial.scenario}[{trial.variant}]" if trial.variant else trial.scenario


def estimate_json(est: stats.Estimate, digits: int = 4) -> dict[str, Any]:
    """An estimate as JSON: value, n, n_clusters and the interval's low/high (rounded)."""
    def r(x: float | None) -> float | None:
        return None if x is None else round(x, digits)
    iv = est.interval
    return {"value": r(est.value), "n": est.n, "n_clusters": est.n_clusters,
            "low": r(iv.low) if iv else None, "high": r(iv.high) if iv else None,
            "note": est.interval_note}


def kind_passed(statuses: Sequence[str]) -> bool | None:
    """Whether an expectation kind passed in a trial: None when the trial has no graded verdict
    of it (none, or only not applicable ones), else True only when none failed or errored."""
    graded = [s for s in statuses if s != "not_applicable"]
    if not graded:
        return None
    return all(s == "pass" for s in graded)


def latency_summary(clusters: Mapping[str, Sequence[float]], *,
                    resamples: int = stats.DEFAULT_RESAMPLES) -> dict[str, Any]:
    """n, number of clusters and p50/p90/p95 (each an estimate; value None when n cannot
    support it) of values grouped in clusters, the interval resampling clusters."""
    groups = [list(v) for v in clusters.values() if v]
    n = sum(len(g) for g in groups)
    return {"n": n, "n_clusters": len(groups),
            **{f"p{q}": estimate_json(stats.cluster_percentile(groups, q, resamples=resamples),
                                      1) for q in PERCENTILES},
            "max": round(max(max(g) for g in groups), 1) if groups else None}


def _rates(outcomes: Sequence[bool], k: int) -> dict[str, Any]:
    n, c = len(outcomes), sum(outcomes)
    return {"n": n, "passed": c, "pass_rate": estimate_json(stats.wilson(c, n)),
            "pass_at_k": round(stats.pass_at_k(n, c, k), 4) if n >= k else None,
            "pass_hat_k": round(stats.pass_hat_k(n, c, k), 4) if n >= k else None,
            "flaky": stats.is_flaky(c, n)}


def run_statistics(trials: Sequence[TrialLike], *, k: int | None = None,
                   resamples: int = stats.DEFAULT_RESAMPLES) -> dict[str, Any]:
    """The run's repeated-trial figures (see the module docstring); ``k`` defaults to the most
    trials any scenario had."""
    by_scenario: dict[str, list[TrialLike]] = {}
    for t in trials:
        by_scenario.setdefault(cluster_name(t), []).append(t)
    k = k or max((len(ts) for ts in by_scenario.values()), default=1)
    scenarios = []
    kinds: dict[str, dict[str, list[bool]]] = {}
    latency: dict[str, dict[str, list[float]]] = {m: {} for m in LATENCY_METRICS}
    for name in sorted(by_scenario):
        ts = by_scenario[name]
        graded = [t for t in ts if t.outcome != "errored"]
        row = {"scenario": name, "trials": len(ts), "errored": len(ts) - len(graded),
               **_rates([t.outcome == "passed" for t in graded], k)}
        per_trial: dict[str, list[list[float]]] = {m: [] for m in LATENCY_METRICS}
        for t in graded:
            for kind, statuses in t.kind_statuses.items():
                passed = kind_passed(statuses)
                if passed is not None:
                    kinds.setdefault(kind, {}).setdefault(name, []).append(passed)
            for m in LATENCY_METRICS:
                values = [v for turn in t.turns if (v := getattr(turn, m)) is not None]
                per_trial[m].append(values)
                latency[m].setdefault(name, []).extend(values)
        row["latency"] = {"voice_to_voice_ms": latency_summary(
            dict(enumerate(per_trial["voice_to_voice_ms"])), resamples=resamples)}
        scenarios.append(row)
    rated = [s for s in scenarios if s["n"]]
    suite = {
        "scenarios": len(scenarios), "k": k,
        "pass_rate": estimate_json(stats.cluster_mean(
            [s["pass_rate"]["value"] for s in rated], resamples=resamples)),
        "pass_at_k": estimate_json(stats.cluster_mean(
            [s["pass_at_k"] for s in rated if s["pass_at_k"] is not None], resamples=resamples)),
        "pass_hat_k": estimate_json(stats.cluster_mean(
            [s["pass_hat_k"] for s in rated if s["pass_hat_k"] is not None],
            resamples=resamples)),
        "flaky_scenarios": [s["scenario"] for s in scenarios if s["flaky"]],
    }
    kind_rows = []
    for kind in sorted(kinds):
        outcomes = [x for per in kinds[kind].values() for x in per]
        c, n = sum(outcomes), len(outcomes)
        # scenarios differ: the kind's rate is the mean over the scenarios that graded it, its
        # interval over those scenarios; graded in one scenario, that scenario's trials are the
        # independent units (Wilson)
        rates = [sum(per) / len(per) for per in kinds[kind].values()]
        rate = stats.wilson(c, n) if len(rates) == 1 else stats.cluster_mean(rates)
        # pass@k / pass^k of the kind: per scenario graded in at least k trials, then the
        # mean over those scenarios (its interval resampling them)
        full = [per for per in kinds[kind].values() if len(per) >= k]
        kind_rows.append({
            "kind": kind, "n": n, "passed": c, "scenarios": len(kinds[kind]),
            "pass_rate": estimate_json(rate),
            "pass_at_k": estimate_json(stats.cluster_mean(
                [stats.pass_at_k(len(per), sum(per), k) for per in full], resamples=resamples)),
            "pass_hat_k": estimate_json(stats.cluster_mean(
                [stats.pass_hat_k(len(per), sum(per), k) for per in full],
                resamples=resamples)),
            "flaky_scenarios": sorted(s for s, per in kinds[kind].items()
                                      if stats.is_flaky(sum(per), len(per)))})
    return {"suite": suite, "scenarios": scenarios, "kinds": kind_rows,
            "latency": {m: latency_summary(latency[m], resamples=resamples)
                        for m in LATENCY_METRICS}}


def latency_text(values: Sequence[float]) -> str:
    """A few latencies in words for a table cell: every value while n is below what a median
    needs, else the median with its n, and the maximum."""
    if not values:
        return "—"
    median = stats.percentile(values, 50)
    if median.value is None:
        return " · ".join(f"{v:,.0f}" for v in values) + " ms"
    return f"p50 {median.value:,.0f} ms (n={median.n}), max {max(values):,.0f} ms"
