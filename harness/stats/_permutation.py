"""Stratified permutation tests of two variants run on the same (scenario, trial) pairs.

Under "A and B behave the same", the two outcomes of one pair are exchangeable: swapping the
variant labels of a pair is as likely as the labels that were observed. Every test here
conditions on the scenarios and trials that ran and permutes labels within pairs only, so it
answers "on these scenarios, does B differ from A?" at any size: exact (every relabelling)
when the pairs that can move are few, Monte Carlo with a fixed seed otherwise, whose p-value
``(1 + hits) / (1 + resamples)`` never falls below what the data can support.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt
from scipy import stats as sps

Alternative = Literal["two-sided", "greater", "less"]
"""Direction of the alternative hypothesis, in terms of B − A."""

EXACT_UP_TO = 16
"""Pairs that can move up to which every relabelling is enumerated (2^16 = 65,536)."""
MONTE_CARLO_RESAMPLES = 20_000
"""Random relabellings beyond :data:`EXACT_UP_TO` for a weighted mean difference."""
STATISTIC_RESAMPLES = 2_000
"""Random relabellings for a statistic computed per relabelling (a pooled percentile)."""
PERMUTATION_SEED = 20_251_124
_CHUNK = 4_096

T = TypeVar("T")


def _tolerance(scale: float) -> float:
    # relabellings that reach the observed statistic up to rounding count as reaching it
    return 1e-9 * max(1.0, scale)


def min_attainable_p(movable: int, alternative: Alternative = "two-sided") -> float:
    """The smallest p-value a permutation test over ``movable`` pairs can give: only the
    observed labelling (and, two-sided, its mirror image) is that extreme."""
    if movable <= 0:
        return 1.0
    one_sided = 0.5 ** movable
    return min(1.0, 2 * one_sided) if alternative == "two-sided" else one_sided


def _sign_patterns(n: int) -> np.ndarray:
    """Every ±1 pattern over ``n`` pairs, one per row (2^n rows)."""
    bits = (np.arange(2**n, dtype=np.int64)[:, None] >> np.arange(n, dtype=np.int64)) & 1
    return (1 - 2 * bits).astype(np.int8)


def _p_from_null(null: np.ndarray, observed: float, alternative: Alternative,
                 tol: float) -> int:
    if alternative == "greater":
        return int(np.count_nonzero(null >= observed - tol))
    if alternative == "less":
        return int(np.count_nonzero(null <= observed + tol))
    return int(np.count_nonzero(np.abs(null) >= abs(observed) - tol))


def sign_flip_test(diffs: Sequence[float] | npt.NDArray[np.float64],
                   weights: Sequence[float] | npt.NDArray[np.float64] | None = None,
                   alternative: Alternative = "two-sided", *,
                   resamples: int = MONTE_CARLO_RESAMPLES,
                   seed: int = PERMUTATION_SEED) -> float:
    """Permutation test of the weighted mean paired difference ``Σ w·d``.

    Relabelling a pair flips the sign of its difference; pairs without a difference cannot
    move. Exact up to :data:`EXACT_UP_TO` movable pairs and whenever every movable pair weighs
    the same and moved by the same amount (then the count of positive pairs is binomial: the
    exact McNemar test for pass/fail); Monte Carlo with ``resamples`` relabellings otherwise.
    """
    d = np.asarray(diffs, dtype=float)
    w = np.ones_like(d) if weights is None else np.asarray(weights, dtype=float)
    x = (w * d)[np.abs(w * d) > 0]
    n = int(x.size)
    if n == 0:
        return 1.0
    observed = float(x.sum())
    tol = _tolerance(float(np.abs(x).sum()))
    size = np.abs(x)
    if np.allclose(size, size[0], rtol=1e-9, atol=0.0):
        positive = int(np.count_nonzero(x > 0))
        return float(sps.binomtest(positive, n, 0.5, alternative=alternative).pvalue)
    if n <= EXACT_UP_TO:
        null: np.ndarray = _sign_patterns(n) @ x
        return _p_from_null(null, observed, alternative, tol) / null.size
    rng = np.random.default_rng(seed)
    hits, done = 0, 0
    while done < resamples:
        rows = min(_CHUNK, resamples - done)
        signs = rng.integers(0, 2, size=(rows, n), dtype=np.int8) * 2 - 1
        hits += _p_from_null(signs @ x, observed, alternative, tol)
        done += rows
    return (1 + hits) / (1 + resamples)


def paired_permutation_test(a: Sequence[T], b: Sequence[T],
                            statistic: Callable[[list[T]], float | None],
                            alternative: Alternative = "two-sided", *,
                            fixed_a: Sequence[T] = (), fixed_b: Sequence[T] = (),
                            resamples: int = STATISTIC_RESAMPLES,
                            seed: int = PERMUTATION_SEED) -> tuple[float, int]:
    """Permutation test of ``statistic(B side) − statistic(A side)`` for any statistic of a
    side's items (a pooled percentile of its turns, a mean of per-scenario pass^k …).

    ``a[i]`` and ``b[i]`` are the two items of pair i; relabelling swaps them. Items without a
    partner (``fixed_a``, ``fixed_b``) stay on their side. Returns the p-value and the number
    of pairs whose items differ (the pairs a relabelling can move). Exact up to
    :data:`EXACT_UP_TO` such pairs, Monte Carlo beyond.
    """
    if len(a) != len(b):
        raise ValueError(f"pairs need two items each: {len(a)} A items, {len(b)} B items")
    movable = [i for i in range(len(a)) if not _same(a[i], b[i])]
    n = len(movable)

    def value(swap: np.ndarray) -> float | None:
        swapped = {movable[j] for j in np.flatnonzero(swap)}
        side_a = [*fixed_a, *(b[i] if i in swapped else a[i] for i in range(len(a)))]
        side_b = [*fixed_b, *(a[i] if i in swapped else b[i] for i in range(len(a)))]
        sa, sb = statistic(side_a), statistic(side_b)
        return None if sa is None or sb is None else sb - sa

    observed = value(np.zeros(n, dtype=bool))
    if observed is None or n == 0:
        return 1.0, n
    if n <= EXACT_UP_TO:
        patterns = _sign_patterns(n) < 0
        exact = True
    else:
        rng = np.random.default_rng(seed)
        patterns = rng.integers(0, 2, size=(resamples, n)).astype(bool)
        exact = False
    null = np.array([v if (v := value(p)) is not None else np.nan for p in patterns])
    null = null[np.isfinite(null)]
    hits = _p_from_null(null, observed, alternative, _tolerance(abs(observed)))
    if exact:
        return hits / max(1, null.size), n
    return (1 + hits) / (1 + null.size), n


def _same(x: object, y: object) -> bool:
    """Whether two items are equal (arrays by value, tuples item by item)."""
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(_same(u, v) for u, v in zip(x, y, strict=True))
    if isinstance(x, np.ndarray) or isinstance(y, np.ndarray):
        return bool(np.array_equal(np.asarray(x), np.asarray(y)))
    return bool(x == y)
