"""Paired statistics of a comparison: every candidate against the baseline, metric by metric.

A (scenario, trial) pair is the i-th trial of a scenario in both variants (same caller audio);
a metric counts the pairs where both variants measured it. Every metric, pass/fail or
continuous, is tested by permuting the variant labels within pairs; the primary metrics form a
Holm family, the others an exploratory Benjamini–Hochberg family. The tests, intervals and
detectable differences are ``harness.stats``'.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Sequence
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
    transport: str | None = None
    """How its calls reached the agent (``websocket`` or ``webrtc``), when all did alike."""
    target: str | None = None
    """The target label its calls went to, when all went to one."""
    caller_voice: str | None = None
    """Who called: each caller voice its trials spoke with (``voice (engine)``), when recorded."""

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
    """Whether both variants ran the same trial indexes of every scenario they share (else
    trials pair up by their order within a scenario)."""
    sa, sb = a.by_scenario(), b.by_scenario()
    shared = set(sa) & set(sb)
    return bool(shared) and all(set(sa[s]) == set(sb[s]) for s in shared)


def paired_values(a: Side, b: Side, metric: str
                  ) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    """Per scenario, the two variants' values of ``metric`` over the pairs both measured: the
    trials of the same index, or (when the variants ran different indexes) of the same order."""
    sa, sb = a.by_scenario(), b.by_scenario()
    xs: dict[str, list[Any]] = {}
    ys: dict[str, list[Any]] = {}
    for scenario in sorted(set(sa) & set(sb)):
        left, right = sa[scenario], sb[scenario]
        same = sorted(set(left) & set(right))
        if same:
            pairs = [(left[k], right[k]) for k in same]
        else:
            pairs = list(zip((left[k] for k in sorted(left)), (right[k] for k in sorted(right)),
                             strict=False))
        values = [(x.value(metric), y.value(metric)) for x, y in pairs]
        values = [(x, y) for x, y in values if x is not None and y is not None]
        if values:
            xs[scenario] = [x for x, _ in values]
            ys[scenario] = [y for _, y in values]
    return xs, ys


def compare_pair(baseline: Side, candidate: Side, *, alpha: float = ALPHA,
                 primary: Collection[str] = stats.PRIMARY_METRICS) -> PairResult:
    """Every metric both variants measured, tested, corrected in its family and decided."""
    comparisons = []
    for name in metric_names([baseline, candidate]):
        info = metric_info(name)
        xs, ys = paired_values(baseline, candidate, name)
        if not xs:
            continue
        if info.kind == "binary":
            comparisons.append(stats.compare_binary(
                {s: [bool(v) for v in vs] for s, vs in xs.items()},
                {s: [bool(v) for v in vs] for s, vs in ys.items()}, metric=name))
        else:
            comparisons.append(stats.compare_continuous(
                xs, ys, metric=name, higher_is_better=info.higher_is_better))
    return PairResult(baseline.name, candidate.name, trials_paired(baseline, candidate),
                      list(stats.decide(comparisons, primary=primary, alpha=alpha)))


def compare_sides(sides: Sequence[Side], *, alpha: float = ALPHA,
                  primary: Collection[str] = stats.PRIMARY_METRICS) -> list[PairResult]:
    """Each variant after the first against the first (the baseline)."""
    return [compare_pair(sides[0], s, alpha=alpha, primary=primary) for s in sides[1:]]


def _num(x: Any) -> Any:
    return None if x is None else round(float(x), 6)


def _interval(iv: stats.Interval | None) -> dict[str, Any] | None:
    return None if iv is None else {"low": _num(iv.low), "high": _num(iv.high),
                                    "level": iv.level}


def comparison_json(c: stats.Comparison) -> dict[str, Any]:
    """A decided ``stats.Comparison`` as compare.json holds it (with its label and unit)."""
    info = metric_info(c.metric)
    return {
        "metric": c.metric, "label": info.label, "kind": info.kind, "unit": info.unit,
        "higher_is_better": bool(c.higher_is_better),
        "n_scenarios": c.n_scenarios, "n_pairs": c.n_pairs, "n_movable": c.n_movable,
        "trials": list(c.trials),
        "mean_a": _num(c.mean_a), "mean_b": _num(c.mean_b), "difference": _num(c.difference),
        "interval": _interval(c.interval), "interval_method": c.interval_method,
        "across_scenarios": None if c.across_interval is None else {
            "difference": _num(c.across_difference), "interval": _interval(c.across_interval),
            "n_scenarios": c.n_scenarios},
        "test": c.test, "p_value": _num(c.p_value), "min_attainable_p": _num(c.min_attainable_p),
        "family": c.family, "family_size": c.family_size, "p_adjusted": _num(c.p_adjusted),
        "wins": c.wins, "ties": c.ties, "losses": c.losses,
        "verdict": c.verdict, "min_detectable": _num(c.min_detectable), "note": c.note,
        "noise_sd": _num(c.noise_sd), "base_rate": _num(c.base_rate),
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


def fmt_metric(x: float | None, kind: str, unit: str, signed: bool = False) -> str:
    """A metric's value (or, signed, a difference) in its unit: points for pass rates."""
    if x is None:
        return "—"
    if kind == "binary":
        return f"{x * 100:+.0f} points" if signed else f"{x * 100:.0f} points"
    if unit == "ms":
        return f"{x:+.0f} ms" if signed else f"{x:.0f} ms"
    return f"{x:+.3f}" if signed else f"{x:.3f}"


def size_text(c: stats.Comparison | dict[str, Any]) -> str:
    """"5 scenarios × 2 trials", or "5 scenarios (9 pairs)" when scenarios ran unequal trials."""
    trials = list(c.trials if isinstance(c, stats.Comparison) else c["trials"])
    scenarios = len(trials)
    counts = set(trials)
    s = f"{scenarios} scenario{'s' if scenarios != 1 else ''}"
    if len(counts) == 1:
        k = counts.pop()
        return f"{s} × {k} trial{'s' if k != 1 else ''}"
    return f"{s} ({sum(trials)} pairs)"


def describe(c: stats.Comparison) -> str:
    """One line for people: the verdict, the difference with its interval and what this size
    can detect (or that it cannot), and any note where interval and verdict part ways."""
    info = metric_info(c.metric)

    def fmt(x: float | None, signed: bool = False) -> str:
        return fmt_metric(x, info.kind, info.unit, signed)

    role = {"primary": "", "secondary": " (exploratory)", "excluded": " (not tested)"}[c.family]
    text = f"{info.label}{role}: {c.verdict}"
    if c.difference is not None:
        text += f", difference {fmt(c.difference, True)}"
        if c.interval is not None:
            text += f" (95% CI {fmt(c.interval.low, True)} to {fmt(c.interval.high, True)})"
    size = size_text(c)
    if c.verdict == "no detectable difference" and c.min_detectable is not None:
        what = "a pass-rate drop" if info.kind == "binary" else "a change"
        text += f"; with {size}, {what} under {fmt(c.min_detectable)} cannot be told from noise"
    elif c.verdict == "cannot be detected":
        text += f"; no difference can be detected with {size} at this level"
    if c.note:
        text += f" — {c.note}"
    return text


def order_effect(sides: Sequence[Side], blocks: Sequence[dict[str, Any]],
                 metric: str = "voice_to_voice_ms") -> dict[str, Any] | None:
    """Whether the start position within a (scenario, trial) block changed ``metric``.

    Within a block the scenario and trial are the same for every variant, so each value minus
    the block's mean leaves the variant's effect, the position's effect and noise; the variant's
    effect is its mean over the blocks of those centred values. What is left, first position
    minus last, estimates what starting first does; its test flips the signs of the blocks'
    differences (the rotation puts every variant first equally often)."""
    values = {s.name: {(t.scenario, t.trial): t.value(metric) for t in s.trials} for s in sides}
    rows: list[list[tuple[str, float]]] = []
    for block in blocks:
        order = block.get("order") or []
        key = (block.get("scenario"), block.get("trial"))
        got = [(v, values.get(v, {}).get(key)) for v in order]
        if len(order) >= 2 and all(x is not None for _v, x in got):
            rows.append([(v, float(x)) for v, x in got])  # type: ignore[arg-type]
    if len(rows) < 2:
        return None
    centred = [[(v, x - sum(y for _u, y in row) / len(row)) for v, x in row] for row in rows]
    effect: dict[str, list[float]] = defaultdict(list)
    for row in centred:
        for v, x in row:
            effect[v].append(x)
    variant_mean = {v: sum(xs) / len(xs) for v, xs in effect.items()}
    diffs = [(row[0][1] - variant_mean[row[0][0]]) - (row[-1][1] - variant_mean[row[-1][0]])
             for row in centred]
    interval, _sd, _method = stats.scenario_t_interval([[d] for d in diffs])
    return {"metric": metric, "blocks": len(diffs),
            "first_minus_last": _num(sum(diffs) / len(diffs)), "interval": _interval(interval),
            "p_value": _num(stats.sign_flip_test(diffs))}
