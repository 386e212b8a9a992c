"""Descriptive statistics of repeated trials: pass rates, pass@k, pass^k, percentiles, suites.

Scenarios are the unit of analysis: trials are nested in scenarios, a suite figure is the mean
over scenarios (each scenario weighs the same), and every interval resamples scenarios, never
single trials.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

DEFAULT_LEVEL = 0.95
DEFAULT_RESAMPLES = 2000
DEFAULT_SEED = 0

CLUSTER_INTERVAL_MIN_SCENARIOS: dict[str, int | None] = {"mean": 40, "p50": 80, "p90": None,
                                                         "p95": None, "p99": None}
"""Scenarios from which a suite interval over scenarios is drawn: below, it covers less than 93 %
for a nominal 95 % when scenarios differ (``bench/stats_calibration.py``: the t interval of a
mean over scenarios covers 89–90 % at 8–12 scenarios, 92–93 % at 20, 93–94 % from 40; the cluster
bootstrap of a pooled p50 91–93 % at 20–40, 94 % at 80; of a p90 91–94 % at 80; of a p95 less
at every size measured, up to 80). Reports say why instead of drawing it. None: at no size
measured."""

PERCENTILE_MIN_N: dict[int, int] = {50: 5, 90: 20, 95: 40, 99: 200}
"""The smallest sample a percentile is shown for: below it the figure says more about luck than
about the agent (p50 from 5 values, p90 from 20, p95 from 40, p99 from 200)."""


@dataclass(frozen=True)
class Interval:
    """A two-sided confidence interval."""

    low: float
    high: float
    level: float = DEFAULT_LEVEL

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


@dataclass(frozen=True)
class Estimate:
    """A figure with its sample size and, where one can be computed, its interval.

    ``value is None`` means the sample cannot support the figure (too few values for that
    percentile, or no values at all): reports show "n too small" instead of a number.
    """

    value: float | None
    n: int
    interval: Interval | None = None
    n_clusters: int | None = None
    interval_note: str | None = None
    """Why no interval is drawn, when the sample could not support one."""

    @property
    def shown(self) -> bool:
        return self.value is not None

    def to_json(self) -> dict[str, Any]:
        return {"value": self.value, "n": self.n, "n_clusters": self.n_clusters,
                "interval": asdict(self.interval) if self.interval else None,
                "interval_note": self.interval_note}


def wilson(c: int, n: int, level: float = DEFAULT_LEVEL) -> Estimate:
    """Pass rate ``c / n`` with its Wilson score interval (sound at 0 and n passes, unlike Wald)."""
    if c < 0 or n < 0 or c > n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")
    if n == 0:
        return Estimate(None, 0)
    ci = sps.binomtest(c, n).proportion_ci(confidence_level=level, method="wilson")
    return Estimate(c / n, n, Interval(float(ci.low), float(ci.high), level))


def _check_k(n: int, c: int, k: int) -> None:
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if n < k:
        raise ValueError(f"pass@k needs at least k trials: n={n} < k={k}")
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got c={c}, n={n}")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chance that at least one of k trials passes: 1 − C(n−c, k)/C(n, k), unbiased from n ≥ k."""
    _check_k(n, c, k)
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def pass_hat_k(n: int, c: int, k: int) -> float:
    """Chance that all k trials pass (pass^k): C(c, k)/C(n, k), unbiased from n ≥ k."""
    _check_k(n, c, k)
    return math.comb(c, k) / math.comb(n, k)


def is_flaky(c: int, n: int) -> bool:
    """Mixed outcomes: some trials passed and some did not."""
    return 0 < c < n


def min_n_for_percentile(q: float) -> int:
    """How many values a percentile needs before it is shown (the next stricter rung of
    :data:`PERCENTILE_MIN_N` for percentiles between the named ones)."""
    for rung in sorted(PERCENTILE_MIN_N):
        if q <= rung:
            return PERCENTILE_MIN_N[rung]
    return PERCENTILE_MIN_N[max(PERCENTILE_MIN_N)]


def percentile(values: Sequence[float], q: float, *, hide_small_n: bool = True) -> Estimate:
    """The q-th percentile (linear interpolation), without an interval; hidden when n is too
    small to support it (see :func:`min_n_for_percentile`) unless ``hide_small_n`` is off, as
    for a limit a scenario sets on its own few turns."""
    data = np.asarray(values, dtype=float)
    n = int(data.size)
    if n == 0 or (hide_small_n and n < min_n_for_percentile(q)):
        return Estimate(None, n)
    return Estimate(float(np.percentile(data, q)), n)


def _bootstrap_interval(data: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], *,
                        vectorized: bool,
                        method: Literal["percentile", "basic", "BCa"] = "percentile",
                        level: float, resamples: int, seed: int) -> Interval | None:
    sample = data[0]
    if sample.size < 2:
        return None
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        # A degenerate resampling distribution (every value equal, or a jackknife without
        # spread) is a valid answer here: the interval falls back to the point below.
        warnings.simplefilter("ignore", category=sps.DegenerateDataWarning)
        warnings.simplefilter("ignore", category=RuntimeWarning)
        res = sps.bootstrap(data, statistic, vectorized=vectorized, n_resamples=resamples,
                            confidence_level=level, method=method,
                            rng=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if math.isnan(low) or math.isnan(high):
        point = float(statistic(*data))
        return Interval(point, point, level)
    return Interval(low, high, level)


def cluster_mean(per_scenario: Sequence[float], *, level: float = DEFAULT_LEVEL,
                 resamples: int = DEFAULT_RESAMPLES, seed: int = DEFAULT_SEED) -> Estimate:
    """A suite figure: the mean of per-scenario values with a t interval over scenarios (the
    scenarios as a sample of all calls); below :data:`CLUSTER_INTERVAL_MIN_SCENARIOS` it has no
    interval and says why. (``resamples`` and ``seed`` are kept for callers that pass them.)"""
    data = np.asarray([v for v in per_scenario if v is not None], dtype=float)
    k = int(data.size)
    if k == 0:
        return Estimate(None, 0, None, 0)
    mean = float(data.mean())
    if (note := _too_few_scenarios("mean", k)) is not None:
        return Estimate(mean, k, None, k, note)
    half = float(sps.t.ppf(0.5 + level / 2, k - 1)) * float(np.std(data, ddof=1)) / math.sqrt(k)
    return Estimate(mean, k, Interval(mean - half, mean + half, level), k)


def _too_few_scenarios(figure: str, k: int) -> str | None:
    need = CLUSTER_INTERVAL_MIN_SCENARIOS.get(figure, 0)
    if need is None:
        return "no interval: none covers at the suite sizes measured"
    if k >= need:
        return None
    return f"no interval below {need} scenarios (here {k})"


def cluster_percentile(clusters: Sequence[Sequence[float]], q: float, *,
                       level: float = DEFAULT_LEVEL, resamples: int = DEFAULT_RESAMPLES,
                       seed: int = DEFAULT_SEED) -> Estimate:
    """The q-th percentile of all values pooled; its interval resamples whole clusters
    (scenarios) with replacement, so a scenario with many turns cannot fake precision."""
    arrays = [np.asarray(c, dtype=float) for c in clusters]
    arrays = [a for a in arrays if a.size]
    pooled = np.concatenate(arrays) if arrays else np.empty(0)
    n, k = int(pooled.size), len(arrays)
    if n == 0 or n < min_n_for_percentile(q):
        return Estimate(None, n, None, k)
    value = float(np.percentile(pooled, q))
    figure = f"p{q:g}"
    if (note := _too_few_scenarios(figure, k)) is not None:
        return Estimate(value, n, None, k, note)
    # BCa: percentile intervals of a quantile lean narrow at a few dozen scenarios.
    interval = _bootstrap_interval((np.arange(k, dtype=float),), _ClusterPercentile(arrays, q),
                                   vectorized=True, method="BCa", level=level,
                                   resamples=resamples, seed=seed)
    return Estimate(value, n, interval, k)


class _ClusterPercentile:
    """The pooled percentile of a resample of clusters, for a whole batch of resamples at once.

    A resample is a row of cluster indices; pooling its clusters equals weighting every value by
    how often its cluster was drawn, so the percentile (numpy's linear interpolation over the
    expanded sample) is read off the cumulative weights of the sorted values, row by row.
    """

    def __init__(self, arrays: list[np.ndarray], q: float) -> None:
        pooled = np.concatenate(arrays)
        cluster_of = np.repeat(np.arange(len(arrays)), [a.size for a in arrays])
        order = np.argsort(pooled, kind="stable")
        self.values: npt.NDArray[np.float64] = pooled[order]
        self.cluster_of: npt.NDArray[np.intp] = cluster_of[order]
        self.k = len(arrays)
        self.q = q

    def __call__(self, index: np.ndarray, axis: int = -1) -> np.ndarray:
        draws = np.asarray(index, dtype=int)
        shape = draws.shape[:-1]
        draws = draws.reshape(-1, draws.shape[-1])
        rows, drawn = draws.shape
        weight = np.zeros((rows, self.k))
        np.add.at(weight, (np.repeat(np.arange(rows), drawn), draws.ravel()), 1.0)
        cumulative = np.cumsum(weight[:, self.cluster_of], axis=1)
        total = cumulative[:, -1]
        position = (total - 1) * self.q / 100.0
        below = np.floor(position)
        frac = position - below
        above = np.minimum(below + 1, total - 1)
        lo: npt.NDArray[np.float64] = self.values[(cumulative > below[:, None]).argmax(axis=1)]
        hi: npt.NDArray[np.float64] = self.values[(cumulative > above[:, None]).argmax(axis=1)]
        return (lo + frac * (hi - lo)).reshape(shape)
