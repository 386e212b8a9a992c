"""Production calls graded like scripted ones: recordings (and what a team knows about them) in,
a run folder with verdicts, reports and history out (``harness calls score``)."""

from harness.calls._agreement import Agreement, GradedCall, measure_agreement, regrade_run
from harness.calls._intake import CallsOutcome, exit_code_of, resolve_input, score_calls
from harness.calls._policy import (
    CallsPolicy,
    calls_policy_schema_text,
    default_policy,
    load_policy,
)
from harness.calls._sidecar import Sidecar, load_sidecar, sidecar_schema_text
from harness.calls._to_scenario import call_to_scenario

__all__ = [
    "Agreement",
    "CallsOutcome",
    "CallsPolicy",
    "GradedCall",
    "Sidecar",
    "call_to_scenario",
    "calls_policy_schema_text",
    "default_policy",
    "exit_code_of",
    "load_policy",
    "load_sidecar",
    "measure_agreement",
    "regrade_run",
    "resolve_input",
    "score_calls",
    "sidecar_schema_text",
]
