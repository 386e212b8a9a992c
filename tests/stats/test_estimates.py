"""Descriptive statistics against hand-computed values, and interval coverage on simulated data."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from harness.stats import (
    PERCENTILE_MIN_N,
    cluster_mean,
    cluster_percentile,
    is_flaky,
    pass_at_k,
    pass_hat_k,
    percentile,
    wilson,
)

Z95 = 1.959963984540054


def wilson_by_hand(c: int, n: int) -> tuple[float, float]:
    p = c / n
    denom = 1 + Z95**2 / n
    centre = (p + Z95**2 / (2 * n)) / denom
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n)) / denom
    return centre - half, centre + half


@pytest.mark.parametrize(("c", "n"), [(7, 10), (0, 5), (5, 5), (1, 3), (40, 50)])
def test_wilson_matches_the_score_interval_formula(c: int, n: int) -> None:
    est = wilson(c, n)
    low, high = wilson_by_hand(c, n)
    assert est.value == pytest.approx(c / n)
    assert est.n == n
    assert est.interval.low == pytest.approx(max(0.0, low), abs=1e-9)
    assert est.interval.high == pytest.approx(min(1.0, high), abs=1e-9)


def test_wilson_literal_values() -> None:
    est = wilson(7, 10)
    assert (round(est.interval.low, 4), round(est.interval.high, 4)) == (0.3968, 0.8922)
    zero = wilson(0, 5)
    assert zero.interval.low == 0.0
    assert zero.interval.high == pytest.approx(0.43448, abs=1e-5)


def test_wilson_without_trials_shows_nothing() -> None:
    est = wilson(0, 0)
    assert est.value is None and est.interval is None and not est.shown


def test_pass_at_k_and_pass_hat_k_by_hand() -> None:
    # n=5 trials, c=2 passes, k=2: C(3,2)/C(5,2) = 3/10 fail both; C(2,2)/C(5,2) = 1/10 pass both.
    assert pass_at_k(5, 2, 2) == pytest.approx(0.7)
    assert pass_hat_k(5, 2, 2) == pytest.approx(0.1)
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4) == pass_hat_k(5, 2, 1)
    assert pass_hat_k(6, 6, 3) == 1.0 and pass_at_k(6, 0, 3) == 0.0
    # n=10, c=7, k=3: pass^3 = C(7,3)/C(10,3) = 35/120; pass@3 = 1 − C(3,3)/C(10,3) = 119/120.
    assert pass_hat_k(10, 7, 3) == pytest.approx(35 / 120)
    assert pass_at_k(10, 7, 3) == pytest.approx(119 / 120)


def test_pass_at_k_needs_k_trials() -> None:
    with pytest.raises(ValueError, match="at least k trials"):
        pass_hat_k(2, 1, 3)


def test_flaky_means_mixed_outcomes() -> None:
    assert is_flaky(2, 5) and not is_flaky(0, 5) and not is_flaky(5, 5)


def test_percentile_hidden_below_its_minimum_sample() -> None:
    for q, need in PERCENTILE_MIN_N.items():
        assert percentile(range(need - 1), q).value is None
        shown = percentile(range(need), q)
        assert shown.value == pytest.approx(np.percentile(range(need), q))
        assert shown.n == need
        # a limit on a call's own few turns is graded however few there are
        few = percentile([400.0, 900.0, 500.0], q, hide_small_n=False)
        assert few.value == pytest.approx(np.percentile([400.0, 900.0, 500.0], q))
    assert percentile([], 50, hide_small_n=False).value is None


def test_cluster_percentile_is_the_pooled_percentile_with_cluster_counts() -> None:
    clusters = [[100, 200, 300], [400], [500, 600]]
    est = cluster_percentile(clusters, 50)
    assert est.value == pytest.approx(350.0)
    assert (est.n, est.n_clusters) == (6, 3)
    # three scenarios are far too few for an interval that resamples them: it says so
    assert est.interval is None and est.interval_note == "no interval below 80 scenarios (here 3)"
    assert cluster_percentile(clusters, 90).value is None  # 6 values cannot carry a p90


def test_cluster_intervals_are_deterministic() -> None:
    rng = np.random.default_rng(3)
    clusters = [rng.normal(800, 100, 4) for _ in range(12)]
    assert cluster_percentile(clusters, 50) == cluster_percentile(clusters, 50)
    assert cluster_mean([0.2, 0.8, 1.0]) == cluster_mean([0.2, 0.8, 1.0])


def test_cluster_interval_resamples_scenarios_not_values() -> None:
    # Scenarios far apart in two groups, many turns each: resampling turns would give a narrow
    # interval; resampling the scenarios must span much of the distance between the groups.
    clusters = [[100.0 + i + s for i in range(50)] for s in range(40)] + \
        [[900.0 + i + s for i in range(50)] for s in range(40)]
    est = cluster_percentile(clusters, 50)
    assert est.interval.low < 300 and est.interval.high > 700


def test_suite_intervals_are_drawn_only_from_the_sizes_where_they_cover() -> None:
    rng = np.random.default_rng(2)
    forty = [list(rng.normal(800, 100, 30)) for _ in range(40)]
    assert cluster_percentile(forty, 50).interval is None  # a p50 needs 80 scenarios
    eighty = forty + [list(rng.normal(900, 100, 30)) for _ in range(40)]
    assert cluster_percentile(eighty, 50).interval is not None
    p90 = cluster_percentile(eighty, 90)
    assert p90.value is not None and p90.interval is None
    assert p90.interval_note.startswith("no interval: none covers")
    assert cluster_mean([0.5, 1.0] * 19 + [0.5]).interval is None
    assert cluster_mean([0.5, 1.0] * 20).interval is not None


def test_cluster_mean_of_scenario_rates_is_scipys_t_interval() -> None:
    rates = [0.2, 0.4, 1.0, 1.0] * 10
    est = cluster_mean(rates)
    assert est.value == pytest.approx(0.65)
    assert est.n == est.n_clusters == 40
    ref = sps.ttest_1samp(rates, 0).confidence_interval(0.95)
    assert (est.interval.low, est.interval.high) == pytest.approx((ref.low, ref.high))
    single = cluster_mean([0.5])
    assert single.value == 0.5 and single.interval is None


def test_cluster_mean_covers_the_true_mean_at_its_nominal_rate() -> None:
    rng = np.random.default_rng(20261122)
    true_mean, covered, runs = 0.7, 0, 1000
    for _ in range(runs):
        scenario_rates = np.clip(rng.normal(true_mean, 0.15, 40), 0, 1)
        # Clipping is symmetric enough at 0.7 ± 2σ that the mean stays within 0.001.
        est = cluster_mean(scenario_rates, resamples=1000, seed=int(rng.integers(1 << 30)))
        covered += est.interval.contains(true_mean)
    assert covered / runs >= 0.93


def test_cluster_percentile_covers_the_true_median_at_its_nominal_rate() -> None:
    rng = np.random.default_rng(7)
    covered, runs = 0, 500
    for _ in range(runs):
        # 80 scenarios × 5 turns (the fewest a p50 interval is drawn for); scenario effects and
        # turn noise normal, so the pooled population is normal and its median is 900 ms.
        effects = rng.normal(0, 150, 80)
        clusters = [900 + e + rng.normal(0, 100, 5) for e in effects]
        est = cluster_percentile(clusters, 50, resamples=1000,
                                 seed=int(rng.integers(1 << 30)))
        covered += est.interval.contains(900)
    assert covered / runs >= 0.93 - 2.5 * (0.93 * 0.07 / runs) ** 0.5
