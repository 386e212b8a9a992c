"""Paired comparison of two variants (or a run and its baseline) over the same scenarios.

Every difference is B − A, paired by scenario: d_s = metric_B(s) − metric_A(s). Pass/fail metrics
use the exact McNemar test on discordant (scenario, trial) pairs when trials are paired, else a
sign-flip permutation test on the d_s; continuous metrics use the sign-flip test. The interval is a
bootstrap over scenarios of the mean d_s. The standardised effect size is Cohen's d_z,
mean(d_s) / sd(d_s), with its own bootstrap interval over scenarios. :func:`decide` applies the
Holm correction across the metrics of one comparison and names a verdict only when the corrected
test rejects *and* the interval excludes zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import numpy as np
from scipy import stats as sps

from harness.stats._estimates import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    Interval,
    _bootstrap_interval,
)

Alternative = Literal["two-sided", "greater", "less"]
"""Direction of the alternative hypothesis, in terms of B − A."""

Verdict = Literal["better", "worse", "no detectable difference"]

ALPHA = 0.05
POWER = 0.8
EXACT_SIGN_FLIPS_UP_TO = 15
"""Scenarios up to which the sign-flip test enumerates every sign pattern (2^15)."""


def mcnemar_exact(a_only: int, b_only: int, alternative: Alternative = "two-sided") -> float:
    """Exact McNemar p-value from the discordant pairs: ``a_only`` pairs where only A passed,
    ``b_only`` where only B passed. ``"greater"`` tests whether B passes more often."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    return float(sps.binomtest(b_only, n, 0.5, alternative=alternative).pvalue)


def sign_flip_test(diffs: Sequence[float], alternative: Alternative = "two-sided") -> float:
    """Permutation test of mean(d) = 0 by flipping the signs of the paired differences.

    Exact (every sign pattern) up to :data:`EXACT_SIGN_FLIPS_UP_TO` scenarios; beyond that the
    sign-flip null distribution of the mean, whose variance is Σd²/n², is normal to within a
    fraction of a percent, and its normal approximation is used.
    """
    d = np.asarray(diffs, dtype=float)
    if d.size < 2 or not np.any(d):
        return 1.0  # one scenario (or none that moved) cannot tell a direction from chance
    if d.size <= EXACT_SIGN_FLIPS_UP_TO:
        res = sps.permutation_test((d,), np.mean, permutation_type="samples", vectorized=True,
                                   n_resamples=2**d.size, alternative=alternative)
        return float(res.pvalue)
    z = float(d.mean() / (np.sqrt(np.sum(d * d)) / d.size))
    if alternative == "greater":
        return float(sps.norm.sf(z))
    if alternative == "less":
        return float(sps.norm.cdf(z))
    return float(min(1.0, 2 * sps.norm.sf(abs(z))))


def paired_bootstrap_ci(diffs: Sequence[float], *, level: float = DEFAULT_LEVEL,
                        resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
                        ) -> Interval | None:
    """Bootstrap interval of the mean paired difference, resampling scenarios."""
    d = np.asarray(diffs, dtype=float)
    return _bootstrap_interval((d,), np.mean, vectorized=True, level=level,
                               resamples=resamples, seed=seed)


def _d_z(d: np.ndarray, axis: int = -1) -> np.ndarray:
    """d_z along ``axis``; a resample without spread is 0 when nothing moved, else ±inf."""
    mean = np.mean(d, axis=axis)
    sd = np.std(d, axis=axis, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(sd > 1e-12, mean / np.where(sd > 1e-12, sd, 1.0),
                        np.where(np.abs(mean) > 1e-12, np.sign(mean) * np.inf, 0.0))


def effect_size_dz(diffs: Sequence[float], *, level: float = DEFAULT_LEVEL,
                   resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED
                   ) -> tuple[float | None, Interval | None]:
    """Cohen's d_z of paired differences (mean over standard deviation, n − 1) and its
    bootstrap interval over scenarios. ``None`` when fewer than two scenarios or no spread:
    a standardised size is undefined when every scenario moved by the same amount."""
    d = np.asarray(diffs, dtype=float)
    if d.size < 2 or float(np.std(d, ddof=1)) < 1e-12:
        return None, None
    point = float(_d_z(d))
    if d.size < 3:
        return point, None
    interval = _bootstrap_interval((d,), _d_z, vectorized=True, level=level,
                                   resamples=resamples, seed=seed)
    if interval is not None and not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        interval = None
    return point, interval


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1)."""
    m = len(pvalues)
    order = sorted(range(m), key=lambda i: pvalues[i])
    adjusted = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * pvalues[i]))
        adjusted[i] = running
    return adjusted


def min_detectable_difference(sd: float, n: int, *, alpha: float = ALPHA,
                              power: float = POWER) -> float | None:
    """Smallest mean paired difference a two-sided test at ``alpha`` finds with ``power``,
    given the spread ``sd`` of the scenario differences over ``n`` scenarios (normal
    approximation)."""
    if n < 2 or not math.isfinite(sd):
        return None
    z = sps.norm.ppf(1 - alpha / 2) + sps.norm.ppf(power)
    return float(z * sd / math.sqrt(n))


@dataclass(frozen=True)
class Comparison:
    """One metric compared between A and B, paired by scenario."""

    metric: str
    n_scenarios: int
    n_pairs: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None
    """Mean over scenarios of d_s = metric_B(s) − metric_A(s)."""
    interval: Interval | None
    median_difference: float | None
    """Median of B's scenario values minus median of A's."""
    p_value: float
    effect_size: float | None
    """Cohen's d_z of the scenario differences (B − A in units of their spread)."""
    effect_interval: Interval | None
    wins: int
    """Scenarios where B is better."""
    ties: int
    losses: int
    """Scenarios where B is worse."""
    min_detectable: float | None
    higher_is_better: bool
    test: str
    alternative: Alternative = "two-sided"
    p_adjusted: float | None = None
    verdict: Verdict = "no detectable difference"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["interval"] = asdict(self.interval) if self.interval else None
        out["effect_interval"] = asdict(self.effect_interval) if self.effect_interval else None
        return out


def _paired_scenarios(a: Mapping[str, Sequence[Any]], b: Mapping[str, Sequence[Any]]
                      ) -> list[str]:
    return sorted(s for s in a.keys() & b.keys() if len(a[s]) and len(b[s]))


def _tally(diffs: np.ndarray, higher_is_better: bool) -> tuple[int, int, int]:
    better = diffs > 0 if higher_is_better else diffs < 0
    worse = diffs < 0 if higher_is_better else diffs > 0
    return int(better.sum()), int((diffs == 0).sum()), int(worse.sum())


def _build(metric: str, a_values: np.ndarray, b_values: np.ndarray, diffs: np.ndarray, *,
           p_value: float, n_pairs: int, higher_is_better: bool, test: str,
           alternative: Alternative, sd: float) -> Comparison:
    k = int(diffs.size)
    wins, ties, losses = _tally(diffs, higher_is_better)
    effect, effect_interval = effect_size_dz(diffs) if k else (None, None)
    return Comparison(
        metric=metric, n_scenarios=k, n_pairs=n_pairs,
        mean_a=float(a_values.mean()) if k else None,
        mean_b=float(b_values.mean()) if k else None,
        difference=float(diffs.mean()) if k else None,
        interval=paired_bootstrap_ci(diffs) if k else None,
        median_difference=float(np.median(b_values) - np.median(a_values)) if k else None,
        p_value=p_value, effect_size=effect, effect_interval=effect_interval,
        wins=wins, ties=ties, losses=losses,
        min_detectable=min_detectable_difference(sd, k),
        higher_is_better=higher_is_better, test=test, alternative=alternative)


def compare_binary(a: Mapping[str, Sequence[bool]], b: Mapping[str, Sequence[bool]], *,
                   metric: str, paired_trials: bool = True,
                   alternative: Alternative = "two-sided") -> Comparison:
    """Compare pass rates. Keys are scenario names, values the pass/fail of each trial in trial
    order. With ``paired_trials`` the i-th trials of a scenario form a pair (same caller audio,
    interleaved in time) and the exact McNemar test runs on the discordant pairs; otherwise a
    sign-flip test on the scenario differences of pass rate."""
    names = _paired_scenarios(a, b)
    rate_a = np.array([np.mean(a[s]) for s in names], dtype=float)
    rate_b = np.array([np.mean(b[s]) for s in names], dtype=float)
    diffs = rate_b - rate_a
    if paired_trials:
        pairs = [(bool(x), bool(y)) for s in names for x, y in zip(a[s], b[s], strict=False)]
        a_only = sum(x and not y for x, y in pairs)
        b_only = sum(y and not x for x, y in pairs)
        p_value, test, n_pairs = mcnemar_exact(a_only, b_only, alternative), "mcnemar-exact", \
            len(pairs)
    else:
        p_value, test = sign_flip_test(diffs, alternative), "sign-flip"
        n_pairs = sum(min(len(a[s]), len(b[s])) for s in names)
    sd = float(np.std(diffs, ddof=1)) if diffs.size > 1 else math.nan
    if diffs.size > 1 and sd < 1e-12:
        # No scenario moved: the detectable difference comes from the binomial noise of the
        # trials themselves, at the pooled pass rate (kept off 0 and 1).
        trials = max(1.0, n_pairs / diffs.size)
        pooled = float(np.clip((rate_a.mean() + rate_b.mean()) / 2, 0.5 / trials,
                               1 - 0.5 / trials))
        sd = math.sqrt(2 * pooled * (1 - pooled) / trials)
    return _build(metric, rate_a, rate_b, diffs, p_value=p_value, n_pairs=n_pairs,
                  higher_is_better=True, test=test, alternative=alternative, sd=sd)


def compare_continuous(a: Mapping[str, Sequence[float]], b: Mapping[str, Sequence[float]], *,
                       metric: str, higher_is_better: bool = False,
                       alternative: Alternative = "two-sided") -> Comparison:
    """Compare a continuous metric (latency, dead air, WER …). A scenario's value is the mean of
    its observations; scenarios without observations on both sides are left out."""
    names = _paired_scenarios(a, b)
    mean_a = np.array([np.mean(a[s]) for s in names], dtype=float)
    mean_b = np.array([np.mean(b[s]) for s in names], dtype=float)
    diffs = mean_b - mean_a
    sd = float(np.std(diffs, ddof=1)) if diffs.size > 1 else math.nan
    n_pairs = sum(min(len(a[s]), len(b[s])) for s in names)
    return _build(metric, mean_a, mean_b, diffs, p_value=sign_flip_test(diffs, alternative),
                  n_pairs=n_pairs, higher_is_better=higher_is_better, test="sign-flip",
                  alternative=alternative, sd=sd)


def decide(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Comparison]:
    """Holm-correct the p-values of one comparison's metrics and name each verdict."""
    adjusted = holm([c.p_value for c in comparisons])
    out = []
    for c, p_adj in zip(comparisons, adjusted, strict=True):
        verdict: Verdict = "no detectable difference"
        if (p_adj < alpha and c.difference is not None and c.interval is not None
                and c.interval.excludes_zero()):
            verdict = "better" if (c.difference > 0) == c.higher_is_better else "worse"
        out.append(replace(c, p_adjusted=p_adj, verdict=verdict))
    return out

