"""Power of the comparison tests by simulation, and the smallest difference they detect.

The simulations run the comparison's own test (a sign-flip of a weighted mean difference, exact
McNemar for pass/fail) on data of the comparison's own shape (its scenarios and trials per
scenario), with the same random draws for every difference tried, so power grows smoothly with
the difference and a bisection finds where it reaches :data:`POWER`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from harness.stats._permutation import min_attainable_p

POWER = 0.8
POWER_REPLICATES = 400
POWER_SEED = 7


class ContinuousPower:
    """Power of the sign-flip test of a weighted mean difference, by simulation: pair
    differences Δ + σ·ε with the comparison's scenarios and trials, the same ε and the same
    relabellings for every Δ (so power grows smoothly with Δ)."""

    def __init__(self, counts: Sequence[int], sd: float, level: float, *,
                 replicates: int = POWER_REPLICATES, seed: int = POWER_SEED) -> None:
        rng = np.random.default_rng(seed)
        s = len(counts)
        self.weights = np.concatenate([np.full(k, 1.0 / (s * k)) for k in counts])
        n = self.weights.size
        self.level = level
        self.n = n
        if n <= 12:
            bits = (np.arange(2**n)[:, None] >> np.arange(n)) & 1
            flips = (1 - 2 * bits).astype(float)
            self.monte_carlo = 0
        else:
            flips = rng.integers(0, 2, size=(2000, n)) * 2.0 - 1.0
            self.monte_carlo = 1
        noise = rng.standard_normal((replicates, n)) * sd
        self.flip_weight = flips @ self.weights              # Σ w·s per relabelling
        self.flip_noise = (noise * self.weights) @ flips.T   # Σ w·s·ε per replicate
        self.noise_mean = noise @ self.weights                # Σ w·ε per replicate

    def power(self, delta: float) -> float:
        observed = delta + self.noise_mean
        null = delta * self.flip_weight[None, :] + self.flip_noise
        tol = 1e-9 * max(1.0, abs(delta))
        hits = np.count_nonzero(np.abs(null) >= np.abs(observed)[:, None] - tol, axis=1)
        p = (hits + self.monte_carlo) / (null.shape[1] + self.monte_carlo)
        return float(np.mean(p <= self.level))


class BinaryPower:
    """Power of the exact McNemar test on pass/fail pairs, by simulation: A passes with the
    comparison's base rate, B with that rate lowered by Δ (the same uniforms for every Δ)."""

    def __init__(self, n_pairs: int, base_rate: float, level: float, *,
                 replicates: int = 2000, seed: int = POWER_SEED) -> None:
        rng = np.random.default_rng(seed)
        self.base = base_rate
        self.level = level
        self.u_a = rng.random((replicates, n_pairs))
        self.u_b = rng.random((replicates, n_pairs))

    def power(self, delta: float) -> float:
        a = self.u_a < self.base
        b = self.u_b < self.base - delta
        a_only = np.count_nonzero(a & ~b, axis=1)
        b_only = np.count_nonzero(b & ~a, axis=1)
        n = a_only + b_only
        p = np.minimum(1.0, 2 * sps.binom.cdf(np.minimum(a_only, b_only), n, 0.5))
        p = np.where(n == 0, 1.0, p)
        return float(np.mean(p <= self.level))


def _smallest(power: Any, high: float, *, target: float = POWER) -> float | None:
    """The smallest Δ in (0, high] with power ≥ target (bisection), None if none."""
    if power.power(high) < target:
        return None
    low = 0.0
    for _ in range(30):
        mid = (low + high) / 2
        if power.power(mid) >= target:
            high = mid
        else:
            low = mid
        if high - low <= 1e-3 * high:
            break
    return high


def continuous_mdd(counts: Sequence[int], sd: float, level: float) -> float | None:
    n = sum(counts)
    if not math.isfinite(sd) or min_attainable_p(n) > level:
        return None
    if sd <= 0:
        return 0.0  # no noise at all: any change moves every pair the same way
    power = ContinuousPower(counts, sd, level)
    high = 4 * sd / math.sqrt(n)
    for _ in range(12):
        if power.power(high) >= POWER:
            return _smallest(power, high)
        high *= 2
    return None


def binary_mdd(n_pairs: int, base_rate: float, level: float) -> float | None:
    if min_attainable_p(n_pairs) > level or base_rate <= 0:
        return None
    return _smallest(BinaryPower(n_pairs, base_rate, level), base_rate)
