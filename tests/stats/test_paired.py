"""Paired comparison statistics against scipy/statsmodels references, hand-computed values, and
the behaviour the decision must have: families, exclusions, detectable differences."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.multitest import multipletests

from harness.stats import (
    benjamini_hochberg,
    compare_binary,
    compare_continuous,
    decide,
    holm,
    mcnemar_exact,
    min_attainable_p,
    min_detectable_difference,
    paired_permutation_test,
    paired_rate_interval,
    planning_sd,
    scenario_t_interval,
    sign_flip_test,
    trials_needed,
)


@pytest.mark.parametrize(("a_only", "b_only"), [(1, 9), (0, 6), (4, 4), (3, 12), (0, 0)])
def test_mcnemar_exact_agrees_with_statsmodels(a_only: int, b_only: int) -> None:
    table = [[10, a_only], [b_only, 5]]
    expected = sm_mcnemar(table, exact=True).pvalue
    assert mcnemar_exact(a_only, b_only) == pytest.approx(expected)


def test_mcnemar_one_sided_by_hand() -> None:
    assert mcnemar_exact(1, 9, "greater") == pytest.approx(11 / 1024)
    assert mcnemar_exact(1, 9, "less") == pytest.approx(1 - 1 / 1024)


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_sign_flip_is_scipys_exact_paired_permutation_test(alternative: str) -> None:
    rng = np.random.default_rng(3)
    for n in (3, 6, 11):
        d = rng.normal(0.4, 1.0, n)
        ref = sps.permutation_test((d,), np.mean, permutation_type="samples",
                                   n_resamples=np.inf, alternative=alternative).pvalue
        assert sign_flip_test(d, alternative=alternative) == pytest.approx(ref)


def test_sign_flip_counts_no_zero_difference() -> None:
    # twelve pairs that did not move and four that moved down: only the four can be relabelled
    assert sign_flip_test([0] * 12 + [-0.2] * 4, alternative="less") == pytest.approx(0.0625)
    assert sign_flip_test([0, 0, 0]) == 1.0
    assert sign_flip_test([]) == 1.0


def test_sign_flip_of_equal_steps_is_mcnemar() -> None:
    diffs = [1] * 9 + [-1] * 2 + [0] * 30
    assert sign_flip_test(diffs) == pytest.approx(mcnemar_exact(2, 9))
    assert sign_flip_test(diffs, alternative="greater") == pytest.approx(
        mcnemar_exact(2, 9, "greater"))


def test_sign_flip_weights_each_scenario_the_same() -> None:
    # one scenario ran 3 trials, the other 1: weights 1/6, 1/6, 1/6, 1/2
    d = np.array([1.0, 1.0, 1.0, -2.5])
    w = np.array([1 / 6, 1 / 6, 1 / 6, 1 / 2])
    patterns = np.array([[1 - 2 * ((i >> j) & 1) for j in range(4)] for i in range(16)])
    null = patterns @ (w * d)
    expected = np.mean(np.abs(null) >= abs((w * d).sum()) - 1e-12)
    assert sign_flip_test(d, w) == pytest.approx(expected)


def test_sign_flip_monte_carlo_agrees_with_exact_enumeration() -> None:
    # 20 movable pairs: Monte Carlo; the exact p from all 2^20 patterns for reference
    rng = np.random.default_rng(8)
    d = rng.normal(0.35, 1.0, 20)
    patterns = ((np.arange(2**20)[:, None] >> np.arange(20)) & 1) * -2 + 1
    null = patterns.astype(np.float32) @ d.astype(np.float32)
    exact = float(np.mean(np.abs(null) >= abs(d.sum()) - 1e-4))
    assert sign_flip_test(d) == pytest.approx(exact, abs=0.006)


def test_sign_flip_null_rejection_rate_is_at_most_alpha() -> None:
    # 16 scenarios × 5 trials of pass/fail at 0.9 in both variants: the test the nightly pass-rate
    # gate uses must not fire more than 5 % of the time
    rng = np.random.default_rng(1)
    fired = 0
    for _ in range(2000):
        a = rng.random(80) < 0.9
        b = rng.random(80) < 0.9
        fired += sign_flip_test(b.astype(float) - a, alternative="less") <= 0.05
    assert fired / 2000 <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 2000)


def test_min_attainable_p() -> None:
    assert min_attainable_p(5) == pytest.approx(2 / 32)
    assert min_attainable_p(5, "greater") == pytest.approx(1 / 32)
    assert min_attainable_p(0) == 1.0


def test_paired_permutation_test_is_scipys_for_any_statistic() -> None:
    # pairs of per-trial turn latencies; the statistic is the pooled median of a side
    rng = np.random.default_rng(4)
    a = [rng.normal(800, 80, 4) for _ in range(7)]
    b = [rng.normal(900, 80, 4) for _ in range(7)]

    def pooled_median(side: list[np.ndarray]) -> float:
        return float(np.median(np.concatenate(side)))

    p, movable = paired_permutation_test(a, b, pooled_median, "greater")
    ref = sps.permutation_test(
        (np.arange(7), np.arange(7) + 7),
        lambda x, y, axis=-1: pooled_median([(a + b)[int(i)] for i in y])
        - pooled_median([(a + b)[int(i)] for i in x]),
        permutation_type="samples", vectorized=False, n_resamples=np.inf,
        alternative="greater").pvalue
    assert movable == 7
    assert p == pytest.approx(ref)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_holm_and_bh_agree_with_statsmodels(seed: int) -> None:
    p = np.random.default_rng(seed).uniform(0, 0.2, 7)
    assert holm(p) == pytest.approx(multipletests(p, method="holm")[1])
    assert benjamini_hochberg(p) == pytest.approx(multipletests(p, method="fdr_bh")[1])
    assert holm([]) == [] and benjamini_hochberg([]) == []


def test_scenario_t_interval_is_the_fixed_effects_model() -> None:
    # unbalanced: 3, 2 and 4 trials; the mean of the cell means and its standard error from OLS,
    # with the degrees of freedom halfway between the pooled count and Satterthwaite's
    rng = np.random.default_rng(6)
    groups = [rng.normal(m, sd, k) for m, sd, k in ((100, 20, 3), (250, 80, 2), (180, 50, 4))]
    interval, sd, method = scenario_t_interval(groups)
    frame = pd.DataFrame({"d": np.concatenate(groups),
                          "s": np.repeat(["a", "b", "c"], [3, 2, 4])})
    fit = smf.ols("d ~ 0 + C(s)", frame).fit()
    contrast = fit.t_test(np.full((1, 3), 1 / 3))
    estimate, se = float(contrast.effect[0]), float(contrast.sd[0, 0])
    squares = [float(np.sum((g - g.mean()) ** 2)) for g in groups]
    satterthwaite = sum(squares) ** 2 / sum(q**2 / (len(g) - 1)
                                            for q, g in zip(squares, groups, strict=True))
    df = (fit.df_resid + satterthwaite) / 2
    assert satterthwaite < fit.df_resid == 6
    half = sps.t.ppf(0.975, df) * se
    assert method == "t with scenario effects"
    assert (interval.low, interval.high) == pytest.approx((estimate - half, estimate + half))
    assert sd == pytest.approx(math.sqrt(fit.mse_resid))


def test_scenario_t_interval_with_one_trial_each_uses_the_spread_across_scenarios() -> None:
    interval, _sd, method = scenario_t_interval([[1.0], [2.0], [4.0]])
    ref = sps.ttest_1samp([1.0, 2.0, 4.0], 0).confidence_interval(0.95)
    assert method.startswith("t across scenarios")
    assert (interval.low, interval.high) == pytest.approx((ref.low, ref.high))


def test_bonett_price_interval_by_hand() -> None:
    # 20 pairs: 2 where only A passed, 7 where only B passed
    a = [True] * 2 + [False] * 7 + [True] * 8 + [False] * 3
    b = [False] * 2 + [True] * 7 + [True] * 8 + [False] * 3
    p12, p21 = 3 / 22, 8 / 22
    centre = p21 - p12
    half = 1.959963984540054 * math.sqrt((p12 + p21 - centre**2) / 22)
    interval = paired_rate_interval(a, b)
    assert (interval.low, interval.high) == pytest.approx((centre - half, centre + half))
    # no pair differs: still an interval around 0, not a point
    same = paired_rate_interval([True] * 6, [True] * 6)
    assert same.low < 0 < same.high


def _suite(scenarios: int, trials: int, shift: float, rng: np.random.Generator):
    mu = rng.normal(900, 200, scenarios)
    sd = mu * rng.uniform(0.05, 0.2, scenarios)
    a = {f"s{i}": list(mu[i] + sd[i] * rng.standard_normal(trials)) for i in range(scenarios)}
    b = {f"s{i}": list(mu[i] + shift + sd[i] * rng.standard_normal(trials))
         for i in range(scenarios)}
    return a, b


def test_a_large_latency_shift_on_five_scenarios_by_two_trials_is_worse() -> None:
    # the size that used to say "no detectable difference" for +800 ms
    a, b = _suite(5, 2, 800, np.random.default_rng(2))
    [c] = decide([compare_continuous(a, b, metric="voice_to_voice_ms")])
    assert c.verdict == "worse" and c.family == "primary"
    assert c.p_value == pytest.approx(2 / 1024)
    assert c.interval.contains(800) and c.interval.excludes_zero()
    assert c.note == ""


def test_holm_runs_over_the_primary_metrics_only() -> None:
    rng = np.random.default_rng(12)
    a, b = _suite(5, 2, 400, rng)
    comparisons = [compare_continuous(a, b, metric="voice_to_voice_ms")]
    # fourteen exploratory metrics that did not move
    for j in range(14):
        x, y = _suite(5, 2, 0, rng)
        comparisons.append(compare_continuous(x, y, metric=f"extra_{j}"))
    decided = decide(comparisons)
    v2v = decided[0]
    assert v2v.family == "primary" and v2v.family_size == 1
    assert v2v.p_adjusted == pytest.approx(v2v.p_value)
    assert v2v.verdict == "worse"
    assert {c.family for c in decided[1:]} == {"secondary"}


def test_a_metric_that_cannot_reach_alpha_is_kept_out_of_every_family() -> None:
    a = {"s1": [True, True], "s2": [True, True]}
    b = {"s1": [False, True], "s2": [True, False]}
    [c] = decide([compare_binary(a, b, metric="preamble")])
    assert c.family == "excluded" and c.p_adjusted is None
    assert c.verdict == "cannot be detected"
    assert "only 2 pairs of 4 differ" in c.note


def test_exploratory_metrics_are_read_only_when_a_primary_differs() -> None:
    rng = np.random.default_rng(3)
    a, b = _suite(6, 3, 0, rng)
    x, y = _suite(6, 3, 500, rng)
    quiet = decide([compare_continuous(a, b, metric="voice_to_voice_ms"),
                    compare_continuous(x, y, metric="dead_air_ms")])
    # its own test rejects; the gatekeeper keeps it unread, and it is not called "no detectable
    # difference" either
    assert quiet[1].p_adjusted is not None and quiet[1].p_adjusted <= 0.05
    assert quiet[1].verdict == "not read" and "exploratory" in quiet[1].note
    loud = decide([compare_continuous(x, y, metric="voice_to_voice_ms"),
                   compare_continuous(x, y, metric="dead_air_ms")])
    assert [c.verdict for c in loud] == ["worse", "worse"]


def test_interval_and_verdict_that_part_ways_say_so() -> None:
    # raw p below α but not after Holm over two primaries
    a = {f"s{i}": [0.0, 0.0] for i in range(3)}
    b = {f"s{i}": [10.0 + i, 11.0 + 2 * i] for i in range(3)}
    other = compare_continuous(a, {s: [0.5, -0.5] for s in a}, metric="passed_like")
    [c, _] = decide([compare_continuous(a, b, metric="voice_to_voice_ms"), other],
                    primary=("voice_to_voice_ms", "passed_like"))
    assert c.p_value == pytest.approx(2 / 64)
    assert c.verdict != "worse"
    assert c.interval.excludes_zero()
    assert "after correcting for the 2 metrics" in c.note


def test_stated_detectable_difference_is_found_with_80_percent_power_by_the_real_test() -> None:
    # an independent check of the fast power simulation: the real test on fresh data
    rng = np.random.default_rng(21)
    a, b = _suite(5, 2, 0, rng)
    [c] = decide([compare_continuous(a, b, metric="voice_to_voice_ms")])
    mdd = c.min_detectable
    assert mdd is not None and c.noise_sd is not None
    # planned with the spread's upper 80 % confidence bound (9 degrees of freedom here)
    sd = planning_sd(c)
    assert sd == pytest.approx(c.noise_sd * math.sqrt(c.noise_df / sps.chi2.ppf(0.2, c.noise_df)))
    hits, runs = 0, 400
    for _ in range(runs):
        d = mdd + sd * rng.standard_normal(10)
        hits += sign_flip_test(d) <= 0.05
    assert 0.74 <= hits / runs <= 0.87


def test_binary_detectable_difference_and_cannot_at_a_tiny_size() -> None:
    a = {f"s{i}": [True] * 5 for i in range(8)}
    c = decide([compare_binary(a, a, metric="passed")])[0]
    assert c.verdict == "no detectable difference"
    assert 0 < c.min_detectable < 1
    tiny = {"s1": [True, True], "s2": [True]}
    c = decide([compare_binary(tiny, tiny, metric="passed")])[0]
    assert c.verdict == "cannot be detected" and c.min_detectable is None
    assert min_detectable_difference(c, 0.05) is None


def test_trials_needed_grows_as_the_difference_shrinks() -> None:
    a, b = _suite(5, 2, 0, np.random.default_rng(5))
    [c] = decide([compare_continuous(a, b, metric="voice_to_voice_ms")])
    big = trials_needed(c, 4 * c.noise_sd)
    small = trials_needed(c, c.noise_sd / 2)
    assert big is not None and small is not None and big < small
    assert trials_needed(c, c.noise_sd / 1000, max_trials=5) is None
