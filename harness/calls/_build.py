"""A production call written as a recording: the events a live call would have left, rebuilt from
its audio and its sidecar, each frame saying where it came from.

Every frame carries ``source``: ``audio`` (found on the channels: turn and response times,
playback, barge-in), ``sidecar`` (the transcript, tool calls and escalations the team gave),
``asr`` (a transcript the local recogniser made) or ``words`` (a caller intent guessed from the
words). ``meta.json`` lists what was reconstructed (``call_intake.reconstructed``). Scorers read
the result through the same timeline as a scripted call, so a verdict means the same thing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from harness.audio import Transcriber
from harness.calls._audio import CallAudio
from harness.calls._sidecar import Segment, Sidecar, ToolCall
from harness.runner.capture import RecordingWriter
from harness.runner.rebuilt import (
    AGENT_GAP_MS,
    CALL_RATE,
    CALLER_GAP_MS,
    AgentSpeech,
    FrameList,
    Stretch,
    attach_calls,
    mark_barge_ins,
    split_at,
    stretches,
    write_agent_speech,
)

_AFFIRM = re.compile(r"^\W*(yes|yeah|yep|yup|sure|correct|that'?s (right|correct)|go ahead|"
                     r"please do|ok(ay)?|absolutely|right)\b", re.I)
_DENY = re.compile(r"^\W*(no|nope|don'?t|do not|not now|never mind|cancel that)\b", re.I)


def guess_intent(text: str) -> str:
    """affirm / deny / other from the first words of a caller turn."""
    if _DENY.search(text):
        return "deny"
    if _AFFIRM.search(text):
        return "affirm"
    return "other"


@dataclass
class Turn:
    stretch: Stretch
    text: str | None = None
    intent: str | None = None
    text_source: str | None = None
    barge_in: bool = False


@dataclass
class CallPlan:
    """The call as reconstructed, before it is written."""

    turns: list[Turn]
    speech: list[AgentSpeech]
    orphan_calls: list[ToolCall]
    reconstructed: list[str]


def _overlap(a: Stretch, seg: Segment) -> float:
    return min(a.end_ms, seg.end_ms) - max(a.start_ms, seg.start_ms)


def _texts(parts: list[Stretch], segments: list[Segment]) -> list[str | None]:
    """Each segment's text goes to the stretch it overlaps most (or the nearest one)."""
    out: list[list[str]] = [[] for _ in parts]
    for seg in segments:
        if not parts:
            break
        best = max(range(len(parts)), key=lambda i: (_overlap(parts[i], seg),
                                                     -abs(parts[i].start_ms - seg.start_ms)))
        out[best].append(seg.text.strip())
    return [" ".join(t) if t else None for t in out]


def plan_call(audio: CallAudio, sidecar: Sidecar | None,
              transcribe: Transcriber | None) -> CallPlan:
    """Turns and responses from the audio; texts, intents and tool calls from the sidecar, or
    texts from ``transcribe`` when the sidecar has none."""
    reconstructed = ["caller turns: speech found on the caller channel",
                     "agent responses: sound found on the agent channel",
                     "times: from the audio"]
    calls = sorted((sidecar.tool_calls or []) if sidecar else [], key=lambda c: c.t_ms)
    caller = stretches(audio.caller, gap_ms=CALLER_GAP_MS, agent=False)
    agent = stretches(audio.agent, gap_ms=AGENT_GAP_MS, agent=True)
    segments = (sidecar.transcript or []) if sidecar else []
    agent = split_at(agent, [s.start_ms - 30 for s in segments if s.speaker == "agent"],
                     audio.agent)
    turns = [Turn(s) for s in caller]
    speech = [AgentSpeech(s) for s in agent]
    if sidecar is not None and sidecar.transcript is not None:
        for turn, text in zip(turns, _texts(caller, [s for s in segments
                                                     if s.speaker == "caller"]), strict=True):
            turn.text, turn.text_source = text, "sidecar"
        for sp, text in zip(speech, _texts(agent, [s for s in segments
                                                   if s.speaker == "agent"]), strict=True):
            sp.text, sp.text_source = text, "sidecar"
        for seg in segments:
            if seg.speaker == "caller" and seg.intent and turns:
                best = max(turns, key=lambda t: _overlap(t.stretch, seg))
                best.intent = seg.intent
    elif transcribe is not None and (turns or speech):
        heard = transcribe([_piece(audio.caller, t.stretch) for t in turns]
                              + [_piece(audio.agent, s.stretch) for s in speech], CALL_RATE)
        items: list[Turn | AgentSpeech] = [*turns, *speech]
        for item, text in zip(items, heard, strict=True):
            item.text, item.text_source = (text or None), "asr"
            if isinstance(item, AgentSpeech):
                item.text_written_only_in = transcribe.writes_only
        reconstructed.append(f"transcripts: {transcribe.name}")
    if any(t.text and t.intent is None for t in turns):
        for t in turns:
            if t.text and t.intent is None:
                t.intent = guess_intent(t.text)
        reconstructed.append("caller intents: guessed from the first words of each turn")
    starts = [t.stretch.start_ms for t in turns]
    for turn, over in zip(turns, mark_barge_ins(starts, speech), strict=True):
        turn.barge_in = over
    orphans = attach_calls(calls, speech, starts)
    if sidecar is not None and sidecar.tool_calls is None:
        reconstructed.append("tool calls: none known (the sidecar has no tool log)")
    return CallPlan(turns, speech, orphans, reconstructed)


def _piece(x: np.ndarray, s: Stretch) -> np.ndarray:
    return x[int(s.start_ms * CALL_RATE / 1000): int(s.end_ms * CALL_RATE / 1000)]


def write_plan(writer: RecordingWriter, plan: CallPlan, audio: CallAudio) -> None:
    """The plan's frames into ``events.jsonl``, and the tracks."""
    out = FrameList(writer)
    out.add(0.0, "harness", "harness.stream.started",
            {"sample_rate": CALL_RATE, "chunk_ms": 20, "input_audio_format": "audio/pcm"}, "audio")
    for i, turn in enumerate(plan.turns):
        s = turn.stretch
        out.add(s.start_ms, "harness", "harness.turn.started", {
            "turn_index": i, "kind": "say", "text": turn.text, "spoken_text": turn.text,
            "addressed": True, "start_ms": s.start_ms, "end_ms": s.end_ms,
            "speech_onset_ms": s.start_ms, "speech_end_ms": s.end_ms, "pauses_ms": [],
            "cut_off": False, "entity": None, "intent": turn.intent,
            "trigger": "barge_in" if turn.barge_in else ("first" if i == 0 else "after_agent"),
            "barge_in_at_agent_ms": None}, turn.text_source or "audio")
        out.add(s.end_ms, "harness", "harness.turn.ended", {"turn_index": i}, "audio")
    write_agent_speech(out, plan.speech, [t.stretch.start_ms for t in plan.turns],
                       plan.orphan_calls)
    end_ms = audio.duration_ms
    out.add(end_ms, "harness", "harness.trial.ended", {"status": "completed", "error": None},
            "audio")
    out.write()
    writer.finish(status="completed", error=None, caller=audio.caller, caller_rate=CALL_RATE,
                  caller_offset_ms=0.0, agent_stream=audio.agent, agent=audio.agent,
                  agent_rate=CALL_RATE)
