"""Paired statistics of a comparison: every candidate against the baseline, metric by metric.

Scenarios are the unit: a scenario counts for a metric when both variants measured it. Pass/fail
metrics pair trials by their index when both variants ran the same trials of every scenario
(exact McNemar on the discordant pairs), else they compare scenario pass rates (sign-flip test);
continuous metrics compare scenario means. The Holm correction runs over the metrics of one
candidate against the baseline. The tests and intervals are ``harness.stats``'.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness import stats
from harness.compare._metrics import (
    CONTINUOUS,
    TRIAL_PASSED,
    TrialMetrics,
    metric_info,
)

ALPHA = 0.05


@dataclass
class Side:
    """One variant's trials, from a live run, a run folder or the history store."""

    name: str
    trials: list[TrialMetrics]
    source: str = ""
    """Where the trials came from (a run folder, a stored run), shown in reports."""
    config_hash: str | None = None

    def by_scenario(self) -> dict[str, dict[int, TrialMetrics]]:
        out: dict[str, dict[int, TrialMetrics]] = defaultdict(dict)
        for t in self.trials:
            out[t.scenario][t.trial] = t
        return out


@dataclass
class PairResult:
    """The candidate against the baseline: one decided ``stats.Comparison`` per metric."""

    baseline: str
    candidate: str
    paired_trials: bool
    metrics: list[Any] = field(default_factory=list)

    def worse(self, names: Sequence[str] | None = None) -> list[Any]:
        """Metrics on which the candidate is significantly worse (all, or those named)."""
        return [m for m in self.metrics if m.verdict == "worse"
                and (names is None or m.metric in names)]


def metric_names(sides: Sequence[Side]) -> list[str]:
    """Metrics in report order: trial pass rate, expectation kinds, continuous metrics."""
    kinds = sorted({k for s in sides for t in s.trials for k in t.kinds})
    measured = {m for s in sides for t in s.trials for m in t.values}
    return [TRIAL_PASSED, *kinds, *(m for m in CONTINUOUS if m in measured)]


def trials_paired(a: Side, b: Side) -> bool:
    """Whether both variants ran the same trial indexes of every scenario they share."""
    sa, sb = a.by_scenario(), b.by_scenario()
    shared = set(sa) & set(sb)
    return bool(shared) and all(set(sa[s]) == set(sb[s]) for s in shared)


def _binary_inputs(a: Side, b: Side, metric: str, paired: bool
                   ) -> tuple[dict[str, list[bool]], dict[str, list[bool]]]:
    sa, sb = a.by_scenario(), b.by_scenario()
    xs: dict[str, list[bool]] = {}
    ys: dict[str, list[bool]] = {}
    for scenario in sorted(set(sa) & set(sb)):
        if paired:
            pairs = [(sa[scenario][k].value(metric), sb[scenario][k].value(metric))
                     for k in sorted(sa[scenario])]
            pairs = [(x, y) for x, y in pairs if x is not None and y is not None]
            x = [bool(p[0]) for p in pairs]
            y = [bool(p[1]) for p in pairs]
        else:
            x = [bool(v) for t in sa[scenario].values() if (v := t.value(metric)) is not None]
            y = [bool(v) for t in sb[scenario].values() if (v := t.value(metric)) is not None]
        if x and y:
            xs[scenario], ys[scenario] = x, y
    return xs, ys


def _continuous_inputs(a: Side, b: Side, metric: str
                       ) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    sa, sb = a.by_scenario(), b.by_scenario()
    xs: dict[str, list[float]] = {}
    ys: dict[str, list[float]] = {}
    for scenario in sorted(set(sa) & set(sb)):
        x = [float(v) for _k, t in sorted(sa[scenario].items())
             if (v := t.value(metric)) is not None]
        y = [float(v) for _k, t in sorted(sb[scenario].items())
             if (v := t.value(metric)) is not None]
        if x and y:
            xs[scenario], ys[scenario] = x, y
    return xs, ys


def compare_pair(baseline: Side, candidate: Side, *, alpha: float = ALPHA) -> PairResult:
    """Every metric both variants measured, tested, Holm-corrected and given a verdict."""
    paired = trials_paired(baseline, candidate)
    comparisons = []
    for name in metric_names([baseline, candidate]):
        info = metric_info(name)
        if info.kind == "binary":
            xs, ys = _binary_inputs(baseline, candidate, name, paired)
            if not xs:
                continue
            comparisons.append(stats.compare_binary(xs, ys, metric=name, paired_trials=paired))
        else:
            cx, cy = _continuous_inputs(baseline, candidate, name)
            if not cx:
                continue
            comparisons.append(stats.compare_continuous(
                cx, cy, metric=name, higher_is_better=info.higher_is_better))
    return PairResult(baseline.name, candidate.name, paired,
                      list(stats.decide(comparisons, alpha=alpha)))


def compare_sides(sides: Sequence[Side], *, alpha: float = ALPHA) -> list[PairResult]:
    """Each variant after the first against the first (the baseline)."""
    return [compare_pair(sides[0], s, alpha=alpha) for s in sides[1:]]


def _num(x: Any) -> Any:
    return None if x is None else round(float(x), 6)


def comparison_json(c: Any) -> dict[str, Any]:
    """A decided ``stats.Comparison`` as compare.json holds it (with its label and unit)."""
    info = metric_info(c.metric)
    interval = c.interval
    return {
        "metric": c.metric, "label": info.label, "kind": info.kind, "unit": info.unit,
        "higher_is_better": bool(c.higher_is_better),
        "n_scenarios": c.n_scenarios, "n_pairs": c.n_pairs,
        "mean_a": _num(c.mean_a), "mean_b": _num(c.mean_b), "difference": _num(c.difference),
        "interval": None if interval is None else {
            "low": _num(interval.low), "high": _num(interval.high), "level": interval.level},
        "median_difference": _num(c.median_difference),
        "p_value": _num(c.p_value), "p_adjusted": _num(c.p_adjusted),
        "effect_size": _num(c.effect_size),
        "effect_interval": None if c.effect_interval is None else {
            "low": _num(c.effect_interval.low), "high": _num(c.effect_interval.high),
            "level": c.effect_interval.level},
        "test": c.test, "wins": c.wins, "ties": c.ties, "losses": c.losses,
        "verdict": c.verdict,
        "min_detectable": _num(c.min_detectable),
    }


def scenario_matrix(sides: Sequence[Side]) -> list[dict[str, Any]]:
    """Scenario × variant: trials passed of graded, each trial's outcome, and whether the
    scenario flipped (a candidate's majority outcome differs from the baseline's)."""
    per_side = [s.by_scenario() for s in sides]
    names = sorted({sc for side in per_side for sc in side})
    rows = []
    for scenario in names:
        cells = {}
        for side, trials in zip(sides, per_side, strict=True):
            got = trials.get(scenario, {})
            graded = [t for t in got.values() if t.outcome != "errored"]
            cells[side.name] = {
                "passed": sum(t.outcome == "passed" for t in graded), "n": len(graded),
                "errored": len(got) - len(graded),
                "trials": {str(k): t.outcome for k, t in sorted(got.items())}}
        base = cells[sides[0].name]

        def majority(cell: dict[str, Any]) -> bool | None:
            return None if not cell["n"] else cell["passed"] * 2 > cell["n"]

        flipped = {s.name: (majority(cells[s.name]) is not None and majority(base) is not None
                            and majority(cells[s.name]) != majority(base)) for s in sides[1:]}
        for s in sides[1:]:
            own = cells[s.name]["trials"]
            # trials whose outcome differs from the baseline's trial of the same index
            cells[s.name]["discordant"] = sorted(
                (k for k, outcome in own.items() if k in base["trials"]
                 and "errored" not in (outcome, base["trials"][k])
                 and outcome != base["trials"][k]), key=int)
        rows.append({"scenario": scenario, "cells": cells, "flipped": flipped})
    return rows


def describe(c: Any, n_trials: int | None) -> str:
    """One line for people: the verdict, the difference with its interval, what n can detect."""
    info = metric_info(c.metric)

    def fmt(x: float | None, signed: bool = False) -> str:
        if x is None:
            return "—"
        if info.kind == "binary":
            if not signed and x >= 1:
                return "100 points"
            return f"{x * 100:+.0f} points" if signed else f"{x * 100:.0f} points"
        if info.unit == "ms":
            return f"{x:+.0f} ms" if signed else f"{x:.0f} ms"
        return f"{x:+.3f}" if signed else f"{x:.3f}"

    text = f"{info.label}: {c.verdict}"
    if c.difference is not None:
        text += f", difference {fmt(c.difference, True)}"
        if c.interval is not None:
            text += f" (95% CI {fmt(c.interval.low, True)} to {fmt(c.interval.high, True)})"
    trials = f" × {n_trials} trials" if n_trials else ""
    if c.verdict not in ("better", "worse") and c.min_detectable is not None:
        what = "a pass-rate change" if info.kind == "binary" else "a change"
        text += (f"; with {c.n_scenarios} scenarios{trials}, {what} under "
                 f"{fmt(c.min_detectable)} cannot be told from noise")
    return text
