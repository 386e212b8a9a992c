"""A/B comparison of agent variants: paired runs, per-metric statistics, a side-by-side report.

Public API:

- :func:`load_comparison` ``(path) -> ComparisonSpec``: a comparison file (scenarios, base agent
  config, variants with overrides, trials, gate); :func:`spec_from_options` builds one from
  command-line options.
- :func:`run_comparison` / :func:`run_comparison_async`: run the variants on the same scenarios
  (trials interleaved, the same caller audio), score, decide, write ``compare.html``,
  ``compare.json`` (and ``compare-junit.xml`` with a gate) into the run folder.
- :func:`compare_runs` ``(references, store=None)``: the same statistics and reports over
  finished runs: run folders (``RUN``, ``RUN#VARIANT``) or stored runs by id or label.
- :class:`CompareOutcome`: sides, decided metrics per candidate, report paths, ``exit_code``
  (0 fine, 1 the gate failed, 3 some trials errored).
"""

from harness.compare._analysis import PairResult, Side, compare_pair, compare_sides
from harness.compare._compare import (
    CompareOutcome,
    compare_runs,
    finish,
    parse_gate,
    run_comparison,
    run_comparison_async,
    spec_from_options,
)
from harness.compare._metrics import CONTINUOUS, TRIAL_PASSED, TrialMetrics, known_metric_names
from harness.compare._spec import (
    ComparisonSpec,
    VariantSpec,
    comparison_schema,
    comparison_schema_text,
    load_comparison,
)

__all__ = [
    "CONTINUOUS",
    "TRIAL_PASSED",
    "CompareOutcome",
    "ComparisonSpec",
    "PairResult",
    "Side",
    "TrialMetrics",
    "VariantSpec",
    "compare_pair",
    "compare_runs",
    "compare_sides",
    "comparison_schema",
    "comparison_schema_text",
    "finish",
    "known_metric_names",
    "load_comparison",
    "parse_gate",
    "run_comparison",
    "run_comparison_async",
    "spec_from_options",
]
