"""How far production grading agrees with a live run: each trial of a scripted run stripped to
what a production recording has, graded with :func:`~harness.calls.score_calls`, and its
verdicts and voice-to-voice latencies compared with those the live run measured.

Two strips of the same trial: its stereo WAV alone, and the WAV with a sidecar made from the
trial's own event log (transcripts and tool calls, :func:`~harness.calls._sidecar.from_event_log`).
Each call is graded with its scenario's expectations and agent config, so the two gradings ask
the same questions of the same audio. A verdict the production call cannot give
(``not_applicable``) is counted apart, never as an agreement.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.calls._intake import score_calls
from harness.calls._policy import CallsPolicy
from harness.calls._sidecar import from_event_log
from harness.recording import META_FILE, VERDICTS_FILE, Recording
from harness.scoring import recorded_agent_config, turn_answer
from harness.scoring.timeline import Timeline, build_timeline


@dataclass(frozen=True)
class GradedCall:
    """One live trial and the same call graded as a production recording."""

    name: str
    live_dir: Path
    graded_dir: Path | None
    """None when the call could not be graded (``refused`` says why)."""
    live: list[dict[str, Any]]
    graded: list[dict[str, Any]]
    refused: list[str] = field(default_factory=list)


@dataclass
class Agreement:
    """Verdicts compared kind by kind, and the voice-to-voice errors of the rebuilt turns."""

    agree: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    not_applicable: Counter[str] = field(default_factory=Counter)
    disagreements: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    v2v_turns: list[tuple[str, float, float, float]] = field(default_factory=list)
    """Per answered turn: (call, turn start ms, live voice-to-voice, rebuilt voice-to-voice)."""

    @property
    def v2v_errors_ms(self) -> list[float]:
        """Per answered turn, how far the rebuilt voice-to-voice is from the live one."""
        return [abs(got - live) for _, _, live, got in self.v2v_turns]

    @property
    def rate(self) -> float | None:
        n = sum(self.total.values())
        return sum(self.agree.values()) / n if n else None

    def v2v_p50(self) -> float | None:
        return statistics.median(self.v2v_errors_ms) if self.v2v_errors_ms else None


def _trials(run_dir: Path) -> list[Path]:
    """The completed trial folders of a run, in the run file's order."""
    run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    return [run_dir / t["path"] for t in run["trials"]
            if t.get("status") == "completed" and (run_dir / t["path"] / "call.wav").exists()]


def _verdicts(trial: Path) -> list[dict[str, Any]]:
    data = json.loads((trial / VERDICTS_FILE).read_text(encoding="utf-8"))
    rows = data["verdicts"] if isinstance(data, dict) else data
    return list(rows)


def regrade_run(run_dir: Path, work: Path, *, with_sidecar: bool) -> list[GradedCall]:
    """Grade every completed trial of ``run_dir`` as a production call under ``work``."""
    out = []
    for trial in _trials(run_dir):
        meta = json.loads((trial / META_FILE).read_text(encoding="utf-8"))
        name = f"{trial.parent.name}-{trial.name}"
        call = work / "calls" / name
        call.mkdir(parents=True)
        (call / "call.wav").write_bytes((trial / "call.wav").read_bytes())
        if with_sidecar:
            sidecar = from_event_log(trial / "events.jsonl")
            (call / "sidecar.json").write_text(sidecar.model_dump_json(indent=1),
                                               encoding="utf-8")
        policy = CallsPolicy.model_validate({"checks": meta["scenario_model"]["expect"]})
        agent = recorded_agent_config(meta["agent_config"])
        outcome = score_calls([str(call)], work / "runs" / name, policy=policy, agent=agent)
        graded = (next(outcome.run_dir.glob("*/trial-0"), None)
                  if outcome.run_dir is not None else None)
        out.append(GradedCall(name, trial, graded, _verdicts(trial),
                              _verdicts(graded) if graded is not None else [],
                              [line for lines in outcome.refused.values() for line in lines]))
    return out


def _keyed(verdicts: list[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    """Expectation verdicts by (kind, how many of that kind came before): the same expectation
    list graded twice pairs up this way (call-integrity checks left out)."""
    seen: Counter[str] = Counter()
    out = {}
    for v in verdicts:
        if v["kind"].startswith("integrity."):
            continue
        out[(v["kind"], seen[v["kind"]])] = v
        seen[v["kind"]] += 1
    return out


def _answers(tl: Timeline) -> list[tuple[float, float | None]]:
    """Per caller turn with speech: its start and its voice-to-voice latency (None: unanswered)."""
    return [(turn.start_ms, turn_answer(tl, turn).voice_to_voice_ms) for turn in tl.turns
            if turn.speech_end_ms is not None]  # a silence or a sound played: nothing to answer


def measure_agreement(calls: list[GradedCall]) -> Agreement:
    """Verdict agreement per kind, and per turn answered in both the voice-to-voice error of the
    rebuilt call against the live measurement (the rebuilt turn nearest in start time)."""
    result = Agreement()
    for call in calls:
        if call.graded_dir is None:
            result.refused.append(f"{call.name}: " + "; ".join(call.refused))
            continue
        graded = _keyed(call.graded)
        for key, lv in _keyed(call.live).items():
            gv = graded.get(key)
            if gv is None:
                continue
            if gv["status"] == "not_applicable" or "not_applicable" in gv.get("measured", {}):
                result.not_applicable[lv["kind"]] += 1
                continue
            result.total[lv["kind"]] += 1
            if lv["status"] == gv["status"]:
                result.agree[lv["kind"]] += 1
            else:
                result.disagreements.append(
                    f"{call.name} {lv['kind']}: live {lv['status']} ({lv['summary'][:160]}); "
                    f"graded {gv['status']} ({gv['summary'][:160]})")
        rebuilt = _answers(build_timeline(Recording.load(call.graded_dir)))
        for start, live_ms in _answers(build_timeline(Recording.load(call.live_dir))):
            if live_ms is None or not rebuilt:
                continue
            _, got_ms = min(rebuilt, key=lambda a: abs(a[0] - start))
            if got_ms is not None:
                result.v2v_turns.append((call.name, start, live_ms, got_ms))
    return result


__all__ = ["Agreement", "GradedCall", "measure_agreement", "regrade_run"]
