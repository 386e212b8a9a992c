"""One scenario trial read back for the report: outcome, verdicts, latencies, call timeline."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from harness.recording import CALL_WAV, EVENTS_FILE, META_FILE, VERDICTS_FILE, Frame
from harness.scoring import TurnMetrics, turn_metrics
from harness.scoring.timeline import Timeline, build_timeline
from harness.scoring.verdict import Verdict, statuses_by_kind

Outcome = Literal["passed", "failed", "errored"]

# Streaming deltas make up nearly all of events.jsonl (a 20 ms audio chunk is one line); the
# report needs only the final events, so these lines are skipped before JSON parsing. A frame's
# ``type`` is its fourth key, so it is found near the start of the line.
_SKIPPED_TYPES = frozenset({
    "input_audio_buffer.append",
    "response.output_audio.delta",
    "response.output_audio_transcript.delta",
    "response.function_call_arguments.delta",
    "response.output_text.delta",
    "conversation.item.input_audio_transcription.delta",
})
_TYPE = re.compile(r'"type":\s*"([^"]+)"')


@dataclass
class TrialOutcome:
    """One trial as the report, JUnit and summary see it.

    ``path`` is the trial folder, ``rel_path`` the same relative to the run folder;
    ``run_status`` is what the runner said (completed / errored / incomplete) and ``outcome``
    the graded result; ``voice_to_voice_ms`` holds one latency per answered caller turn;
    ``timeline`` is loaded only while the trial's page is rendered.
    """

    scenario: str
    scenario_file: str | None
    variant: str | None
    trial: int
    path: Path
    rel_path: str
    run_status: str
    outcome: Outcome
    error: str | None
    verdicts: list[Verdict]
    meta: dict[str, Any]
    turns: list[TurnMetrics]
    duration_s: float
    timeline: Timeline | None = None

    @property
    def voice_to_voice_ms(self) -> list[float]:
        """Voice-to-voice latency of every answered caller turn."""
        return [t.voice_to_voice_ms for t in self.turns if t.voice_to_voice_ms is not None]

    @property
    def kind_statuses(self) -> dict[str, list[str]]:
        """Expectation kind → the statuses of its verdicts in this trial."""
        return statuses_by_kind(self.verdicts)

    @property
    def failing(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.status in ("fail", "error")]

    @property
    def label(self) -> str:
        """``scenario[variant][trial-N]``: unique in a run."""
        variant = f"[{self.variant}]" if self.variant else ""
        return f"{self.scenario}{variant}[trial-{self.trial}]"

    @property
    def scenario_file_display(self) -> str | None:
        """The scenario file relative to the working folder when it lies below it."""
        if not self.scenario_file:
            return None
        path = Path(self.scenario_file)
        if path.is_absolute():
            try:
                return path.relative_to(Path.cwd()).as_posix()
            except ValueError:
                return path.as_posix()
        return path.as_posix()

    @property
    def has_audio(self) -> bool:
        return (self.path / CALL_WAV).is_file()


def read_verdicts(trial_dir: Path) -> list[Verdict] | None:
    """The trial's ``verdicts.json`` (a list, or ``{"verdicts": [...]}``); None if not scored."""
    path = trial_dir / VERDICTS_FILE
    if not path.is_file():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    items = raw.get("verdicts", []) if isinstance(raw, dict) else raw
    return [Verdict.model_validate(v) for v in items]


def outcome_of(run_status: str, verdicts: list[Verdict] | None) -> Outcome:
    """passed / failed / errored: a trial that did not complete, has no verdicts (or only not
    applicable ones), or whose scorer broke is errored (nothing trustworthy was graded); else any
    failing verdict fails it."""
    if run_status != "completed" or not verdicts:
        return "errored"
    if all(v.status == "not_applicable" for v in verdicts):
        return "errored"  # nothing was graded
    if any(v.status == "error" for v in verdicts):
        return "errored"
    if any(v.status == "fail" for v in verdicts):
        return "failed"
    return "passed"


def read_frames_fast(path: Path) -> list[Frame]:
    """The frames of ``events.jsonl`` the report needs (streaming deltas skipped, see
    ``_SKIPPED_TYPES``), unvalidated for speed; a torn last line is ignored."""
    frames: list[Frame] = []
    if not path.is_file():
        return frames
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            found = _TYPE.search(line, 0, 160)
            if found is not None and found.group(1) in _SKIPPED_TYPES:
                continue
            line = line.strip()
            if not line:
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError:
                break
            frames.append(Frame.model_construct(**raw))
    return frames


def load_trial(run_dir: Path, entry: dict[str, Any], *, with_timeline: bool) -> TrialOutcome:
    """A trial of ``run.json`` (``entry``) read from its folder."""
    rel = entry.get("path") or ""
    path = run_dir / rel
    meta_path = path / META_FILE
    meta: dict[str, Any] = {}
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    run_status = entry.get("status") or meta.get("status") or "incomplete"
    if run_status == "running":
        run_status = "incomplete"
    # A trial cut short by a stopped run is still "not run" in run.json; its own meta says why.
    error = (meta.get("error") or entry.get("error") if run_status == "incomplete"
             else entry.get("error") or meta.get("error"))
    verdicts = read_verdicts(path)
    outcome = outcome_of(run_status, verdicts)
    if outcome == "errored" and not error:
        if verdicts is None and run_status == "completed":
            error = "not scored (no verdicts.json)"
        elif not verdicts and run_status == "completed":
            error = "no expectation was graded"
        elif run_status != "completed":
            error = f"trial {run_status}"
        else:
            error = "; ".join(v.summary for v in verdicts or [] if v.status == "error")
    tl = build_timeline(read_frames_fast(path / EVENTS_FILE))
    duration_s = float(entry.get("duration_s") or max(0.0, tl.end_ms) / 1000.0)
    return TrialOutcome(
        scenario=entry.get("scenario") or meta.get("scenario") or rel,
        scenario_file=entry.get("scenario_file") or meta.get("scenario_file"),
        variant=entry.get("variant") or meta.get("variant"),
        trial=int(entry.get("trial", meta.get("trial", 0)) or 0),
        path=path, rel_path=rel, run_status=run_status, outcome=outcome, error=error,
        verdicts=verdicts or [], meta=meta, turns=turn_metrics(tl),
        duration_s=duration_s, timeline=tl if with_timeline else None)
