"""The numbers a comparison compares, taken from each (scenario, variant, trial) recording.

Pass/fail metrics: the trial as a whole, and each expectation kind (a kind passes in a trial
when none of its verdicts failed and at least one was graded; a kind that was not applicable
there gives no value). Continuous metrics are measured on every recording with the scorers' own
definitions, whatever the scenario expects: voice-to-voice latency and time to first audio delta
(median over answered caller turns: one stalled turn does not move a call's figure), dead air
(the longest gap of the call), barge-in stop time (median over interruptions) and input WER
(over the turns the target transcribed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from types import SimpleNamespace
from typing import Any, Literal

from harness.recording import CALL_WAV, META_FILE, VERDICTS_FILE
from harness.report._statistics import kind_passed

MetricKind = Literal["binary", "continuous"]


@dataclass(frozen=True)
class MetricInfo:
    """A metric as reports name it: its key, label, kind, unit and good direction."""

    name: str
    label: str
    kind: MetricKind
    unit: str = ""
    higher_is_better: bool = False


TRIAL_PASSED = "passed"
CONTINUOUS: dict[str, MetricInfo] = {m.name: m for m in (
    MetricInfo("voice_to_voice_ms", "voice-to-voice latency", "continuous", "ms"),
    MetricInfo("first_audio_ms", "time to first audio delta", "continuous", "ms"),
    MetricInfo("dead_air_ms", "dead air (longest gap)", "continuous", "ms"),
    MetricInfo("barge_in_stop_ms", "barge-in stop time", "continuous", "ms"),
    MetricInfo("input_wer", "input WER", "continuous", ""),
)}
"""Continuous metrics, lower is better for each."""


def metric_info(name: str) -> MetricInfo:
    """The metric called ``name``: a continuous one, ``passed``, or an expectation kind."""
    if name in CONTINUOUS:
        return CONTINUOUS[name]
    if name == TRIAL_PASSED:
        return MetricInfo(name, "trial pass rate", "binary", higher_is_better=True)
    return MetricInfo(name, f"{name} pass rate", "binary", higher_is_better=True)


def known_metric_names() -> list[str]:
    """Every name a gate may use: ``passed``, each expectation kind and the continuous ones."""
    from harness.scoring import registry  # noqa: PLC0415

    return [TRIAL_PASSED, *registry(), *CONTINUOUS]


@dataclass
class TrialMetrics:
    """One trial's outcome and numbers. ``path`` is the trial folder relative to ``run_dir``."""

    scenario: str
    variant: str
    trial: int
    run_dir: Path
    path: str
    outcome: Literal["passed", "failed", "errored"]
    kinds: dict[str, bool] = field(default_factory=dict)
    values: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    audio: str | None = None
    """``call.wav`` relative to ``run_dir``, when the trial has audio."""
    transcript: list[dict[str, Any]] = field(default_factory=list)
    """The conversation in time order, as the run report's trial page shows it."""
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    """Each verdict: kind, status, summary, evidence (moment, label, excerpt)."""

    def value(self, metric: str) -> bool | float | None:
        """The trial's value of ``metric`` (None: not measured, or the trial errored)."""
        if self.outcome == "errored":
            return None
        if metric == TRIAL_PASSED:
            return self.outcome == "passed"
        if metric in CONTINUOUS:
            return self.values.get(metric)
        return self.kinds.get(metric)

    def to_json(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "variant": self.variant, "trial": self.trial,
                "path": self.path, "outcome": self.outcome, "error": self.error,
                "kinds": self.kinds, "values": {k: round(v, 4) for k, v in self.values.items()}}


def kind_outcomes(verdicts: list[Any]) -> dict[str, bool]:
    """Expectation kind → passed, over the kinds graded in a trial: a kind passed only when
    none of its verdicts failed or errored."""
    statuses: dict[str, list[str]] = {}
    for v in verdicts:
        statuses.setdefault(v.kind, []).append(v.status)
    return {kind: passed for kind, found in statuses.items()
            if (passed := kind_passed(found)) is not None}


def _median(values: list[float]) -> float | None:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    return median(finite) if finite else None


def measure(timeline: Any, agent_config: Any = None) -> dict[str, float]:
    """The continuous metrics of one call, measured by the scorers that define them."""
    from harness.scoring import ScoringContext, registry  # noqa: PLC0415

    scorers = registry()
    ctx = ScoringContext(timeline=timeline, agent_config=agent_config)

    def measured(kind: str, **params: Any) -> dict[str, Any]:
        info = scorers[kind]
        return info.fn(ctx, info.params_model(**params)).measured

    latency = measured("latency", max_ms=math.inf)
    dead_air = measured("dead_air", max_ms=math.inf)
    barge_in = measured("barge_in")
    heard = measured("input_heard")
    found: dict[str, float | None] = {
        "voice_to_voice_ms": _median([r["voice_to_voice_ms"] for r in latency.get("per_turn", [])
                                    if r["voice_to_voice_ms"] is not None]),
        "first_audio_ms": _median([r["first_audio_ms"] for r in latency.get("per_turn", [])
                                 if r["first_audio_ms"] is not None]),
        "dead_air_ms": dead_air.get("max_gap_ms"),
        "barge_in_stop_ms": _median([r["stop_ms"] for r in barge_in.get("interruptions", [])
                                   if "stop_ms" in r]),
        "input_wer": heard.get("wer"),
    }
    return {k: float(v) for k, v in found.items() if v is not None}


def verdict_view(v: Any) -> dict[str, Any]:
    """A verdict as the side-by-side view shows it."""
    return {"kind": v.kind, "status": v.status, "summary": v.summary,
            "evidence": [{"t_ms": None if e.t_ms is None else round(e.t_ms, 1),
                          "label": e.label, "excerpt": e.excerpt} for e in v.evidence]}


def load_trial_metrics(run_dir: Path, entry: dict[str, Any], *, variant: str) -> TrialMetrics:
    """A trial of ``run.json`` (``entry``) measured from its folder (scored first if it has no
    verdicts yet); an unreadable or unfinished trial is errored and gives no values."""
    from harness.errors import HarnessError  # noqa: PLC0415
    from harness.recording import Recording  # noqa: PLC0415
    from harness.report._html import _transcript  # noqa: PLC0415
    from harness.report._trial import outcome_of, read_verdicts  # noqa: PLC0415
    from harness.scoring import build_timeline, score_trial  # noqa: PLC0415
    from harness.scoring._score import SKIPPED_FRAME_TYPES, recorded_agent_config  # noqa: PLC0415

    rel = entry.get("path") or ""
    folder = Path(run_dir) / rel
    status = entry.get("status") or "incomplete"
    metrics = TrialMetrics(scenario=str(entry.get("scenario") or rel), variant=variant,
                           trial=int(entry.get("trial") or 0), run_dir=Path(run_dir), path=rel,
                           outcome="errored", error=entry.get("error"))
    if status != "completed" or not (folder / META_FILE).is_file():
        metrics.error = metrics.error or f"trial {status}"
        return metrics
    try:
        if not (folder / VERDICTS_FILE).is_file():
            score_trial(folder)
        verdicts = read_verdicts(folder) or []
        recording = Recording.load(folder, skip_types=SKIPPED_FRAME_TYPES)
        timeline = build_timeline(recording)
        config = recording.meta.agent_config or None
        metrics.values = measure(timeline, recorded_agent_config(config))
        # the run report's conversation view reads nothing of a trial but its timeline
        metrics.transcript = _transcript(SimpleNamespace(timeline=timeline))  # type: ignore[arg-type]
    except (HarnessError, OSError, ValueError) as exc:
        metrics.error = f"cannot read the recording: {exc}"
        return metrics
    if (folder / CALL_WAV).is_file():
        metrics.audio = f"{rel}/{CALL_WAV}"
    metrics.verdicts = [verdict_view(v) for v in verdicts]
    metrics.outcome = outcome_of(status, verdicts)
    metrics.kinds = kind_outcomes(verdicts)
    if metrics.outcome == "errored":
        metrics.error = metrics.error or "; ".join(
            v.summary for v in verdicts if v.status == "error") or "no expectation was graded"
    return metrics
