"""Statistics of repeated trials and paired comparisons: the one place every figure comes from.

Run reports, nightly benchmarks, regression gates and A/B comparisons all compute their numbers
here, so a pass rate, a percentile or a "worse" means the same thing everywhere.

- Rates: :func:`wilson` (pass rate with a Wilson interval), :func:`pass_at_k`,
  :func:`pass_hat_k` (unbiased from n ≥ k trials), :func:`is_flaky`.
- Latency: :func:`percentile` (hidden below :data:`PERCENTILE_MIN_N`), :func:`cluster_percentile`
  (suite percentile with an interval that resamples scenarios).
- Suite figures: :func:`cluster_mean` (mean over scenarios, interval resampling scenarios).
- Comparisons (B − A, paired by scenario): :func:`compare_binary`, :func:`compare_continuous`,
  :func:`decide` (Holm across metrics; better / worse / no detectable difference), and the tests
  underneath: :func:`mcnemar_exact`, :func:`sign_flip_test`, :func:`paired_bootstrap_ci`,
  :func:`holm`, :func:`min_detectable_difference`, :func:`effect_size_dz`.
"""

from harness.stats._estimates import (
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
    ALPHA,
    Alternative,
    Comparison,
    Verdict,
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

__all__ = [
    "ALPHA",
    "DEFAULT_LEVEL",
    "DEFAULT_RESAMPLES",
    "DEFAULT_SEED",
    "PERCENTILE_MIN_N",
    "Alternative",
    "Comparison",
    "Estimate",
    "Interval",
    "Verdict",
    "cluster_mean",
    "cluster_percentile",
    "compare_binary",
    "compare_continuous",
    "decide",
    "effect_size_dz",
    "holm",
    "is_flaky",
    "mcnemar_exact",
    "min_detectable_difference",
    "min_n_for_percentile",
    "paired_bootstrap_ci",
    "pass_at_k",
    "pass_hat_k",
    "percentile",
    "sign_flip_test",
    "wilson",
]
