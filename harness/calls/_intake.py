"""``harness calls score``: finished calls in, a run folder out (scored, with its reports).

Each call becomes a trial folder of the usual layout (``harness.recording``): its audio as the
tracks, the events a live call would have left rebuilt from the audio and the sidecar
(``harness.calls._build``), and a ``meta.json`` whose scenario is the policy's checks. A call
that cannot be read is refused alone, with a located message; the others are graded.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.audio import Transcriber
from harness.calls._audio import read_call_audio
from harness.calls._build import CallPlan, plan_call, write_plan
from harness.calls._policy import (
    NEEDS_TRANSCRIPT,
    NEVER_AROSE,
    CallFacts,
    CallsPolicy,
    default_policy,
    not_applicable,
    sampled,
)
from harness.calls._sidecar import Sidecar, ToolCall, check_against_audio, load_sidecar
from harness.errors import HarnessError, InputError, InputErrors, error_lines
from harness.exit_codes import exit_code
from harness.folders import new_stamped_folder
from harness.recording import META_FILE, Recording, RecordingMeta
from harness.runner.capture import RecordingWriter, write_text_atomic
from harness.runner.results import RunResult, TrialResult, machine_info, write_run_file
from harness.scenario.models import AgentConfig

SIDECAR_NAMES = ("sidecar.json", "transcript.json", "events.jsonl")
"""Sidecars found in a call's folder, in this order."""


@dataclass
class CallInput:
    """Where one call's files are."""

    name: str
    audio: list[Path]
    sidecar: Path | None
    given: str


@dataclass
class CallsOutcome:
    """What ``score_calls`` did: the run folder (None when no call could be read), the refused
    calls with their messages, and the report outcome of the graded ones."""

    run_dir: Path | None
    refused: dict[str, list[str]] = field(default_factory=dict)
    refused_code: int = 0
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    report: Any = None


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".events.jsonl", ".wav"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def resolve_input(given: str, sidecar_dir: Path | None) -> CallInput:
    """A call given as a stereo WAV, ``CALLER.wav,AGENT.wav``, or a folder holding ``call.wav``
    (or ``caller.wav`` and ``agent.wav``) and perhaps a sidecar."""
    parts = [Path(p) for p in given.split(",")]
    sidecar = None
    if len(parts) == 1 and parts[0].is_dir():
        folder = parts[0]
        if (folder / "call.wav").is_file():
            audio = [folder / "call.wav"]
        elif (folder / "caller.wav").is_file() and (folder / "agent.wav").is_file():
            audio = [folder / "caller.wav", folder / "agent.wav"]
        else:
            raise InputError("a call folder needs call.wav (stereo) or caller.wav and agent.wav",
                             location=str(folder))
        name = folder.name if folder.name != "trial-0" else folder.parent.name
        sidecar = next((folder / n for n in SIDECAR_NAMES if (folder / n).is_file()), None)
    else:
        audio, name = parts, _stem(parts[0])
        beside = [parts[0].with_suffix(".json"), parts[0].with_suffix(".events.jsonl")]
        sidecar = next((p for p in beside if p.is_file()), None)
    if sidecar_dir is not None:
        for candidate in (sidecar_dir / f"{name}.json", sidecar_dir / f"{name}.events.jsonl"):
            if candidate.is_file():
                sidecar = candidate
                break
    return CallInput(name=name, audio=audio, sidecar=sidecar, given=given)


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name}-{n}", n + 1
    taken.add(out)
    return out


def _transcriber(policy: CallsPolicy) -> Transcriber | None:
    """What transcribes a call without a transcript, when a check needs its words."""
    wanted = any(c.kind in NEEDS_TRANSCRIPT or (c.kind == "escalation" and getattr(
        c.params, "mode", None) == "required") for c in policy.checks)
    if policy.transcribe == "none" or not wanted:
        return None
    if policy.transcribe == "openai":
        from harness.audio._openai_stt import endpoint_transcriber  # noqa: PLC0415

        return Transcriber(endpoint_transcriber(policy.transcribe_model),
                           f"the transcription endpoint ({policy.transcribe_model})")
    from harness.extras import missing_modules  # noqa: PLC0415

    if missing_modules("asr"):
        return None
    # the recogniser comes with the asr extra; loaded only when a call needs a transcript
    from harness.scoring.scorers.speech_matches_transcript import (  # noqa: PLC0415
        transcribe_items,
    )

    return Transcriber(transcribe_items, "the local recogniser", writes_only="en")


def _meta(call: CallInput, sidecar: Sidecar | None, policy: CallsPolicy,
          agent: AgentConfig | None, plan_notes: list[str], na: dict[str, str],
          audio_hash: str, source: dict[str, Any]) -> RecordingMeta:
    from harness import __version__  # noqa: PLC0415

    config = agent.model_dump(mode="json") if agent is not None else {}
    md = sidecar.metadata if sidecar is not None else None
    labels = sorted({*policy.labels, *(md.labels if md else [])})
    meta = RecordingMeta(
        scenario=call.name, scenario_file=call.given, scenario_hash=audio_hash,
        agent_config=config,
        agent_config_hash=hashlib.sha256(repr(sorted(config.items())).encode()).hexdigest()[:16],
        target="production", transport="recording",
        call_id=(md.call_id if md else None) or call.name, harness_version=__version__,
        machine=machine_info(),
        started_at=(md.started_at if md and md.started_at else
                    datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")),
        scenario_model={"name": call.name, "tags": labels,
                        "expect": [{e.kind: e.params.model_dump(mode="json")}
                                   for e in policy.checks]})
    extra = meta.model_extra if meta.model_extra is not None else {}
    extra["call_intake"] = {"source": source, "reconstructed": plan_notes,
                            "agent_version": md.agent_version if md else None,
                            "agent_file": policy.agent,
                            "labels": labels}
    extra["not_applicable"] = na
    return meta


def applicability(policy: CallsPolicy, agent: AgentConfig | None, sidecar: Sidecar | None,
                  plan: CallPlan, has_transcript: bool) -> dict[str, str]:
    """The policy's checks this call cannot be graded on (their index → why)."""
    called = {c.name for sp in plan.speech for c in sp.calls} | {c.name
                                                               for c in plan.orphan_calls}
    facts = CallFacts(
        has_tool_log=sidecar is not None and (sidecar.tool_calls is not None
                                              or sidecar.escalations is not None),
        has_transcript=has_transcript, has_barge_in=any(t.barge_in for t in plan.turns),
        tools_called=frozenset(called),
        write_tools=frozenset(t.name for t in agent.tools if t.write) if agent else frozenset())
    out = {}
    for i, check in enumerate(policy.checks):
        reason = not_applicable(check.kind, facts, check.params.model_dump(mode="json"))
        if reason is not None:
            out[str(i)] = reason
    return out


ESCALATION_MATCH_MS = 2000.0
"""An escalation this close to a call of its tool is that call."""


def escalations_as_calls(sidecar: Sidecar, agent: AgentConfig | None) -> Sidecar:
    """The sidecar's escalations as calls of their tool (its own, else the agent config's
    escalation tool), unless the tool log already has that call: the escalation checks grade
    tool calls."""
    if not sidecar.escalations:
        return sidecar
    default = agent.escalation_tools[0] if agent is not None and agent.escalation_tools else None
    calls = list(sidecar.tool_calls or [])
    for esc in sidecar.escalations:
        name = esc.tool or default
        if name is None or any(c.name == name and abs(c.t_ms - esc.t_ms) <= ESCALATION_MATCH_MS
                               for c in calls):
            continue
        calls.append(ToolCall(name=name, arguments={"reason": esc.reason} if esc.reason else {},
                              t_ms=esc.t_ms))
    return sidecar.model_copy(update={"tool_calls": sorted(calls, key=lambda c: c.t_ms)})


def _grade_one(call: CallInput, trial_dir: Path, policy: CallsPolicy,
               agent: AgentConfig | None, transcribe: Transcriber | None) -> None:
    audio = read_call_audio(call.audio)
    sidecar = load_sidecar(call.sidecar) if call.sidecar is not None else None
    if sidecar is not None:
        check_against_audio(sidecar, audio.duration_ms, str(call.sidecar))
        sidecar = escalations_as_calls(sidecar, agent)
    has_transcript = sidecar is not None and sidecar.transcript is not None
    plan = plan_call(audio, sidecar, None if has_transcript else transcribe)
    has_transcript = has_transcript or any(t.text for t in plan.turns + plan.speech)
    na = applicability(policy, agent, sidecar, plan, has_transcript)
    h = hashlib.sha256()
    h.update(audio.caller.tobytes())
    h.update(audio.agent.tobytes())
    source = {"audio": audio.files, "audio_format": audio.source_format,
              "sample_rate": audio.source_rate,
              "sidecar": str(call.sidecar) if call.sidecar else None,
              "sidecar_format": sidecar.source if sidecar else None}
    meta = _meta(call, sidecar, policy, agent, plan.reconstructed, na, h.hexdigest()[:16],
                 source)
    write_plan(RecordingWriter(trial_dir, meta), plan, audio)
    never_arose(trial_dir, meta, policy, na)


def never_arose(trial_dir: Path, meta: RecordingMeta, policy: CallsPolicy,
                na: dict[str, str]) -> None:
    """Checks whose situation the call never had (no completion claim and no write call for
    ``claims_backed``): a scripted call fails them, a production call did not have them. Found
    by grading them once; recorded in ``meta.json`` so a re-scoring agrees."""
    from harness.scoring import score  # noqa: PLC0415

    todo = [i for i, c in enumerate(policy.checks) if c.kind in NEVER_AROSE and str(i) not in na]
    if not todo:
        return
    recording = Recording.load(trial_dir, skip_types=("input_audio_buffer.append",))
    found = False
    for i, verdict in zip(todo, score(recording, [policy.checks[i] for i in todo]), strict=True):
        if verdict.status == "fail" and NEVER_AROSE[verdict.kind](verdict.measured):
            na[str(i)] = f"the situation it grades never arose ({verdict.summary})"
            found = True
    if found:
        (meta.model_extra or {})["not_applicable"] = na
        write_text_atomic(trial_dir / META_FILE, meta.model_dump_json(indent=2) + "\n")


def score_calls(paths: list[str], out_dir: Path, *, policy: CallsPolicy | None = None,
                agent: AgentConfig | None = None, sidecar_dir: Path | None = None
                ) -> CallsOutcome:
    """Grade finished calls into a new run folder under ``out_dir`` and render its reports."""
    from harness import api  # noqa: PLC0415

    policy = policy or default_policy()
    started = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    run_dir = new_stamped_folder(Path(out_dir), "calls")
    run = RunResult(run_dir, hashlib.sha256(str(run_dir).encode()).hexdigest()[:12],
                    "production", started, None)
    outcome = CallsOutcome(run_dir)
    transcribe = _transcriber(policy)
    taken: set[str] = set()
    for given in paths:
        t0 = time.monotonic()
        try:
            call = resolve_input(given, sidecar_dir)
            if not sampled(policy, call.name):
                outcome.skipped.append(given)
                continue
            rel = f"{_unique(call.name, taken)}/trial-0"
            _grade_one(call, run_dir / rel, policy, agent, transcribe)
        except HarnessError as exc:
            outcome.refused[given] = error_lines(exc)
            outcome.refused_code = max(outcome.refused_code, exit_code(error=exc))
            continue
        outcome.graded.append(given)
        run.trials.append(TrialResult(scenario=call.name, scenario_file=given, variant=None,
                                      trial=0, path=rel, status="completed",
                                      duration_s=time.monotonic() - t0))
    run.finished_at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if not run.trials:
        if not any(run_dir.iterdir()):
            run_dir.rmdir()
        outcome.run_dir = None
        return outcome
    write_run_file(run, [])
    outcome.report = api.report(run_dir)
    return outcome


def exit_code_of(outcome: CallsOutcome) -> int:
    """When a call was refused: 2 for bad input, 3 when a service it needed failed (the
    transcription endpoint); else the graded run's code."""
    from harness import api  # noqa: PLC0415

    if outcome.refused:
        return outcome.refused_code
    return api.exit_code(outcome.report) if outcome.report is not None else 0


__all__ = ["CallsOutcome", "InputErrors", "exit_code_of", "resolve_input", "score_calls"]
