"""Scoring: pure functions of (Recording, expectations) → Verdicts, with a registry of scorers.

Public API:

- ``score(recording, expectations=None, agent_config=None) -> list[Verdict]``
- ``score_trial(trial_dir) -> list[Verdict]`` (writes ``verdicts.json``), ``score_run(run_dir)``,
  ``score_run_summary(results) -> (lines, exit_code)`` (what ``harness score`` prints)
- ``load_verdicts(trial_dir)``, ``write_verdicts(trial_dir, verdicts)``
- ``registry()`` (kind → ScorerInfo: name, description, parameter model),
  ``expectation_reference_markdown()``
- ``build_timeline(recording)`` and the ``Timeline`` model (see ``harness.scoring.timeline``)
- ``turn_answer(timeline, turn)``: a caller turn's answer and its latencies;
  ``turn_metrics(timeline)``: every answerable turn's latencies and dead air
"""

from harness.scoring._registry import (
    Outcome,
    ScorerInfo,
    ScoringContext,
    registry,
    require_extras,
    scorer,
)
from harness.scoring._score import (
    expectation_reference_markdown,
    load_verdicts,
    recorded_agent_config,
    score,
    score_run,
    score_run_summary,
    score_trial,
    write_verdicts,
)
from harness.scoring.scorers._common import TurnAnswer, TurnMetrics, turn_answer, turn_metrics
from harness.scoring.timeline import Timeline, build_timeline
from harness.scoring.verdict import Evidence, Status, Verdict

__all__ = [
    "Evidence",
    "Outcome",
    "ScorerInfo",
    "ScoringContext",
    "Status",
    "Timeline",
    "TurnAnswer",
    "TurnMetrics",
    "Verdict",
    "build_timeline",
    "expectation_reference_markdown",
    "load_verdicts",
    "recorded_agent_config",
    "registry",
    "require_extras",
    "score",
    "score_run",
    "score_run_summary",
    "score_trial",
    "scorer",
    "turn_answer",
    "turn_metrics",
    "write_verdicts",
]
