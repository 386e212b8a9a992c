"""Paired comparison statistics against hand-computed values, coverage, and A/A behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from harness.stats import (
    compare_binary,
    compare_continuous,
    decide,
    effect_size_dz,
    holm,
    mcnemar_exact,
    min_detectable_difference,
    paired_bootstrap_ci,
    sign_flip_test,
)


def test_mcnemar_exact_by_hand() -> None:
    # 1 pair where only A passed, 9 where only B passed: two-sided binomial(10, 0.5) tail
    # P(X ≥ 9) + P(X ≤ 1) = 2 · (1 + 10) / 1024.
    assert mcnemar_exact(1, 9) == pytest.approx(22 / 1024)
    assert mcnemar_exact(1, 9, "greater") == pytest.approx(11 / 1024)
    assert mcnemar_exact(1, 9, "less") == pytest.approx(1 - 1 / 1024)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(3, 3) == 1.0


def test_sign_flip_is_exact_for_few_scenarios() -> None:
    # 2^5 sign patterns; only all-positive and all-negative reach |mean| ≥ 3.
    assert sign_flip_test([1, 2, 3, 4, 5]) == pytest.approx(2 / 32)
    assert sign_flip_test([1, 2, 3, 4, 5], "greater") == pytest.approx(1 / 32)
    assert sign_flip_test([0, 0, 0]) == 1.0


def test_sign_flip_for_many_scenarios_agrees_with_the_permutation_distribution() -> None:
    rng = np.random.default_rng(2)
    diffs = rng.normal(0.3, 1.0, 40)
    flips = rng.choice([-1.0, 1.0], size=(200_000, 40))
    null = (flips * diffs).mean(axis=1)
    observed = diffs.mean()
    assert sign_flip_test(diffs, "greater") == pytest.approx((null >= observed).mean(), abs=0.01)
    assert sign_flip_test(diffs) == pytest.approx((np.abs(null) >= abs(observed)).mean(),
                                                  abs=0.01)


def test_holm_by_hand() -> None:
    # Sorted 0.01, 0.03, 0.04 → 3·0.01, max(·, 2·0.03), max(·, 1·0.04).
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_min_detectable_difference_by_hand() -> None:
    # (z_0.975 + z_0.8) · sd / √n = (1.959964 + 0.841621) · 1 / 4
    assert min_detectable_difference(1.0, 16) == pytest.approx(0.700396, abs=1e-6)
    assert min_detectable_difference(1.0, 1) is None


def test_effect_size_dz_by_hand() -> None:
    # d = 1..5: mean 3, sd (n − 1) √2.5 = 1.5811; d_z = 1.8974
    value, interval = effect_size_dz([1, 2, 3, 4, 5])
    assert value == pytest.approx(3 / np.sqrt(2.5))
    assert interval is not None and interval.low < value < interval.high
    assert effect_size_dz([-1, -2, -3, -4, -5])[0] == pytest.approx(-3 / np.sqrt(2.5))
    # every scenario moved by the same amount (or none moved): no standardised size
    assert effect_size_dz([200, 200, 200]) == (None, None)
    assert effect_size_dz([0, 0, 0]) == (None, None)
    assert effect_size_dz([1.0]) == (None, None)


def test_effect_size_interval_covers_the_true_dz() -> None:
    # normal differences with mean 0.5 and sd 1 over 30 scenarios: d_z = 0.5
    rng = np.random.default_rng(5)
    covered, runs = 0, 300
    for _ in range(runs):
        _, interval = effect_size_dz(rng.normal(0.5, 1.0, 30), resamples=1000,
                                     seed=int(rng.integers(1 << 30)))
        covered += interval is not None and interval.contains(0.5)
    assert covered / runs >= 0.90


def test_paired_bootstrap_ci_covers_the_true_difference() -> None:
    rng = np.random.default_rng(11)
    covered, runs = 0, 1000
    for _ in range(runs):
        diffs = rng.normal(300, 120, 40)
        covered += paired_bootstrap_ci(diffs, resamples=1000,
                                       seed=int(rng.integers(1 << 30))).contains(300)
    assert covered / runs >= 0.93


def _rates(pattern: list[bool], scenarios: int) -> dict[str, list[bool]]:
    return {f"s{i:02d}": list(pattern) for i in range(scenarios)}


def test_compare_binary_counts_discordant_trial_pairs() -> None:
    a = _rates([True, True, False, True, True], 15)
    b = _rates([False, True, False, False, True], 15)
    c = compare_binary(a, b, metric="pass_rate")
    # Per scenario: trial 0 and trial 3 flip A-only → 30 discordant pairs, all A-only.
    assert c.p_value == pytest.approx(mcnemar_exact(30, 0))
    assert (c.n_scenarios, c.n_pairs) == (15, 75)
    assert c.difference == pytest.approx(-0.4)
    assert (c.wins, c.ties, c.losses) == (0, 0, 15)
    [decided] = decide([c])
    assert decided.verdict == "worse"


def test_compare_continuous_latency_shift() -> None:
    rng = np.random.default_rng(5)
    a = {f"s{i}": list(rng.normal(800, 100, 5)) for i in range(15)}
    b = {s: [x + 300 + rng.normal(0, 30) for x in v] for s, v in a.items()}
    [c] = decide([compare_continuous(a, b, metric="voice_to_voice_ms")])
    assert c.verdict == "worse"
    assert c.interval.contains(300)
    assert c.p_value == pytest.approx(1 / 2**14, rel=0.5)  # only the observed signs reach it


def test_scenarios_missing_on_one_side_are_left_out() -> None:
    c = compare_continuous({"x": [1.0], "y": [2.0]}, {"x": [1.5], "z": [9.0]}, metric="m")
    assert c.n_scenarios == 1 and c.difference == pytest.approx(0.5)


def test_decide_needs_both_the_test_and_the_interval() -> None:
    a = _rates([True] * 5, 3)
    b = _rates([True, True, True, True, False], 3)
    [c] = decide([compare_binary(a, b, metric="pass_rate")])
    # Three discordant pairs cannot reject at 5 %: no verdict, and the spread says why.
    assert c.verdict == "no detectable difference"
    assert c.min_detectable is not None and c.min_detectable > 0


def test_higher_is_better_sets_the_direction() -> None:
    a = {f"s{i}": [0.1 * i] for i in range(12)}
    b = {s: [v[0] + 1.0] for s, v in a.items()}
    [lower_better] = decide([compare_continuous(a, b, metric="dead_air")])
    [higher_better] = decide([compare_continuous(a, b, metric="score", higher_is_better=True)])
    assert (lower_better.verdict, higher_better.verdict) == ("worse", "better")


def test_a_a_comparisons_rarely_declare_a_difference() -> None:
    rng = np.random.default_rng(99)
    false_alarms = 0
    for _ in range(100):
        p = rng.uniform(0.3, 1.0, 15)
        a = {f"s{i}": list(rng.random(5) < p[i]) for i in range(15)}
        b = {f"s{i}": list(rng.random(5) < p[i]) for i in range(15)}
        lat_a = {f"s{i}": list(rng.normal(900, 150, 5)) for i in range(15)}
        lat_b = {f"s{i}": list(rng.normal(900, 150, 5)) for i in range(15)}
        results = decide([compare_binary(a, b, metric="pass_rate"),
                          compare_continuous(lat_a, lat_b, metric="voice_to_voice_ms")])
        false_alarms += any(r.verdict != "no detectable difference" for r in results)
    assert false_alarms / 100 <= 0.05
