"""Statistics of repeated trials and paired comparisons: the one place every figure comes from.

Run reports, nightly benchmarks, regression gates and A/B comparisons all compute their numbers
here, so a pass rate, a percentile or a "worse" means the same thing everywhere.

- Rates: :func:`wilson` (pass rate with a Wilson interval), :func:`pass_at_k`,
  :func:`pass_hat_k` (unbiased from n ≥ k trials), :func:`is_flaky`.
- Latency: :func:`percentile` (hidden below :data:`PERCENTILE_MIN_N`), :func:`cluster_percentile`
  (suite percentile with an interval that resamples scenarios).
- Suite figures: :func:`cluster_mean` (mean over scenarios, interval resampling scenarios).
- Comparisons (B − A, paired by scenario and trial): :func:`compare_binary`,
  :func:`compare_continuous`, :func:`decide` (Holm over the primary metrics, Benjamini–Hochberg
  over the others; better / worse / no detectable difference / cannot be detected / not read),
  :func:`min_detectable_difference` and :func:`trials_needed` (by simulating the test), and the
  parts underneath: :func:`sign_flip_test` and :func:`paired_permutation_test` (label
  permutations within pairs, exact or Monte Carlo), :func:`mcnemar_exact`,
  :func:`scenario_t_interval`, :func:`paired_rate_interval`, :func:`holm`,
  :func:`benjamini_hochberg`.
"""

from harness.stats._estimates import (
    CLUSTER_INTERVAL_MIN_SCENARIOS,
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    PERCENTILE_MIN_N,
    Estimate,
    Interval,
    cluster_mean,
    cluster_percentile,
    is_flaky,
    min_n_for_percentile,
    pass_at_k,
    pass_hat_k,
    percentile,
    wilson,
)
from harness.stats._paired import (
    ACROSS_MIN_SCENARIOS,
    ALPHA,
    PRIMARY_METRICS,
    Comparison,
    Family,
    Verdict,
    benjamini_hochberg,
    compare_binary,
    compare_continuous,
    decide,
    holm,
    mcnemar_exact,
    min_detectable_difference,
    paired_rate_interval,
    planning_sd,
    scenario_t_interval,
    trials_needed,
)
from harness.stats._permutation import (
    Alternative,
    min_attainable_p,
    paired_permutation_test,
    sign_flip_test,
)
from harness.stats._power import POWER

__all__ = [
    "ACROSS_MIN_SCENARIOS",
    "CLUSTER_INTERVAL_MIN_SCENARIOS",
    "ALPHA",
    "DEFAULT_LEVEL",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "PERCENTILE_MIN_N",
    "POWER",
    "PRIMARY_METRICS",
    "Alternative",
    "Comparison",
    "Estimate",
    "Family",
    "Interval",
    "Verdict",
    "benjamini_hochberg",
    "cluster_mean",
    "cluster_percentile",
    "compare_binary",
    "compare_continuous",
    "decide",
    "holm",
    "is_flaky",
    "mcnemar_exact",
    "min_attainable_p",
    "min_detectable_difference",
    "min_n_for_percentile",
    "paired_permutation_test",
    "paired_rate_interval",
    "planning_sd",
    "pass_at_k",
    "pass_hat_k",
    "percentile",
    "scenario_t_interval",
    "sign_flip_test",
    "trials_needed",
    "wilson",
]
