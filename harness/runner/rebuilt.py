"""A call's agent side rebuilt from its audio: each party's stretches of sound, and the agent's
responses written as the frames a live Realtime session would have left.

Used where no Realtime events exist: a production call (``harness calls score``) and a call
placed over SIP. A channel is cut in 10 ms frames; a frame is sound when its level is at least
:data:`SOUND_FLOOR_DBFS` and :data:`NOISE_MARGIN_DB` above the channel's noise floor (the 10th
percentile of its frame levels, the quiet between words on a line). Stretches closer than a
channel's gap are one. Their edges are then placed to the sample with the harness's own speech
measure (``harness.audio.detect_speech``, which the renderer uses on every caller clip), so the
caller's speech end is taken as a scripted call takes it; an agent stretch starts at its first
audible sample (:data:`AUDIBLE_THRESHOLD`, -40 dBFS), the agent's audible onset of a live call.

Every frame written carries ``source``: ``audio`` (found on the channels), or the source of the
tool log (``sidecar`` for a production call, ``webhook`` for a SIP call's tool endpoint), or
that of a transcript (``sidecar``, ``asr``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from harness.audio import Transcriber, detect_speech
from harness.recording import WRITTEN_ONLY_IN
from harness.runner.capture import RecordingWriter

CALL_RATE = 24_000
"""Every track of an imported call is brought to this rate (the stream rate of scripted calls)."""
FRAME_MS = 10
SOUND_FLOOR_DBFS = -50.0
NOISE_MARGIN_DB = 12.0
AUDIBLE_THRESHOLD = 328
"""|sample| at or above this (-40 dBFS) is audible: the runner's playback threshold."""
CALLER_GAP_MS = 900.0
"""Caller sound closer than this is one turn (a breath, a pause between words)."""
AGENT_GAP_MS = 700.0
"""Agent sound closer than this is one response (pauses between its sentences)."""
MIN_STRETCH_MS = 120.0
QUIET_SPLIT_MS = 150.0
"""A pause this long in the agent's sound can end one response and start the next (when a
tool's answer came in between); pauses between words are shorter."""
BARGE_IN_STOP_MS = 2000.0
"""An agent stretch that ends this soon after the caller starts speaking over it was stopped by
the caller (a barge-in); one that goes on longer was talked over."""
"""Shorter sound is a click or a cough, not a turn."""


@dataclass
class Stretch:
    """A stretch of one party's sound, in ms from the start of the recording."""

    start_ms: float
    end_ms: float


def _frame_levels(x: np.ndarray) -> np.ndarray:
    n = CALL_RATE * FRAME_MS // 1000
    frames = x[: len(x) // n * n].astype(np.float64).reshape(-1, n)
    rms = np.sqrt(np.mean(np.square(frames), axis=1)) if len(frames) else np.zeros(0)
    return 20 * np.log10(np.maximum(rms, 1e-3) / 32768.0)


def stretches(x: np.ndarray, *, gap_ms: float, agent: bool) -> list[Stretch]:
    """The stretches of sound in one channel (see the module docstring)."""
    levels = _frame_levels(x)
    if not len(levels):
        return []
    floor = float(np.percentile(levels, 10))
    loud = levels >= max(SOUND_FLOOR_DBFS, floor + NOISE_MARGIN_DB)
    idx = np.flatnonzero(loud)
    if not len(idx):
        return []
    runs: list[list[int]] = [[int(idx[0]), int(idx[0])]]
    gap_frames = gap_ms / FRAME_MS
    for i in idx[1:]:
        if i - runs[-1][1] > gap_frames:
            runs.append([int(i), int(i)])
        else:
            runs[-1][1] = int(i)
    out: list[Stretch] = []
    n = CALL_RATE * FRAME_MS // 1000
    pad = n * 30
    for first, last in runs:
        if (last - first + 1) * FRAME_MS < MIN_STRETCH_MS:
            continue
        lo, hi = max(0, first * n - pad), min(len(x), (last + 1) * n + pad)
        edges = _edges(x[lo:hi], agent)
        if edges is None:
            continue
        out.append(Stretch(1000.0 * (lo + edges[0]) / CALL_RATE,
                           1000.0 * (lo + edges[1] + 1) / CALL_RATE))
    return out


def _edges(piece: np.ndarray, agent: bool) -> tuple[int, int] | None:
    if agent:
        loud = np.flatnonzero(np.abs(piece.astype(np.int32)) >= AUDIBLE_THRESHOLD)
        return (int(loud[0]), int(loud[-1])) if len(loud) else None
    return detect_speech(piece, CALL_RATE)


def sound_edges(x: np.ndarray, lo_ms: float, cut_ms: float) -> tuple[float | None, float | None]:
    """The last audible sample before ``cut_ms`` (from ``lo_ms``) and the first after it."""
    lo, cut = int(lo_ms * CALL_RATE / 1000), int(cut_ms * CALL_RATE / 1000)
    loud = np.flatnonzero(np.abs(x[lo:cut].astype(np.int32)) >= AUDIBLE_THRESHOLD)
    after = np.flatnonzero(np.abs(x[cut: cut + CALL_RATE].astype(np.int32)) >= AUDIBLE_THRESHOLD)
    if not len(loud) or not len(after):
        return None, None
    return (1000.0 * (lo + loud[-1] + 1) / CALL_RATE, 1000.0 * (cut + after[0]) / CALL_RATE)


def split_at(parts: list[Stretch], starts: list[float], x: np.ndarray) -> list[Stretch]:
    """Agent stretches cut where each of ``starts`` (ms) falls inside one, at the sound's edges
    before and after it (speech, a tool call, more speech, with a pause shorter than a response
    gap)."""
    out: list[Stretch] = []
    for part in parts:
        start = part.start_ms
        for cut in sorted(t for t in starts if part.start_ms + 100 < t < part.end_ms - 100):
            left, right = sound_edges(x, start, cut)
            if left is None or right is None:
                continue
            out.append(Stretch(start, left))
            start = right
        out.append(Stretch(start, part.end_ms))
    return out


def first_quiet(x: np.ndarray, from_ms: float, to_ms: float,
                min_ms: float = QUIET_SPLIT_MS) -> float | None:
    """Where the first inaudible run of at least ``min_ms`` starts at or after ``from_ms``
    (before ``to_ms``): the end of what was playing then."""
    lo, hi = int(from_ms * CALL_RATE / 1000), int(to_ms * CALL_RATE / 1000)
    loud = np.abs(x[lo:hi].astype(np.int32)) >= AUDIBLE_THRESHOLD
    idx = np.flatnonzero(loud)
    need = int(min_ms * CALL_RATE / 1000)
    edges = np.concatenate([[-1], idx, [hi - lo]])
    gaps = np.flatnonzero(np.diff(edges) - 1 >= need)
    if not len(gaps):
        return None
    return 1000.0 * (lo + edges[gaps[0]] + 1) / CALL_RATE


class ToolCallLike(Protocol):
    """A tool call the agent made, as a tool log holds it."""

    name: str
    arguments: dict[str, Any]
    result: Any
    t_ms: float
    call_id: str | None


@dataclass
class AgentSpeech:
    stretch: Stretch
    text: str | None = None
    text_source: str | None = None
    text_written_only_in: str | None = None
    """The one language the transcriber that wrote ``text`` writes (:class:`Transcriber`)."""
    interrupted: bool = False
    calls: list[ToolCallLike] = field(default_factory=list)
    arrived_ms: float | None = None
    """When the response's audio began to arrive, where something other than the audio says so
    and it is before the audible onset (a sideband's ``output_audio_buffer.started``: the
    quiet start of a sentence plays before its first audible sample)."""

    @property
    def first_ms(self) -> float:
        """When the response's audio began to arrive: :attr:`arrived_ms`, else its audible
        onset."""
        return self.arrived_ms if self.arrived_ms is not None else self.stretch.start_ms


@dataclass
class LoggedCall:
    """A tool call as the rebuild takes it (:class:`ToolCallLike`)."""

    name: str
    arguments: dict[str, Any]
    result: Any
    t_ms: float
    call_id: str | None


def tool_call_of(call: Any) -> LoggedCall:
    """A call the harness answered during the call (a tool webhook's or a sideband's
    :class:`~harness.runner.webhooks.WebhookCall`, its ``t`` in seconds) for the rebuild."""
    arguments = call.answer.arguments if isinstance(call.answer.arguments, dict) else {}
    return LoggedCall(call.name, arguments, call.answer.output, 1000.0 * call.t, call.call_id)


def speech_of(agent: np.ndarray, answered_ms: list[float],
              transcribe: Transcriber | None) -> list[AgentSpeech]:
    """The agent's stretches of speech on a call's agent track (at :data:`CALL_RATE`), each
    worded by ``transcribe`` when there is one (``text_source`` ``asr``).

    A response that follows a tool's answer (``answered_ms``: when each answer came) cannot
    start before it: where the agent's sound runs on across one (a preamble, then the answer
    with a short pause), the first pause after the answer ends the one and starts the other.
    """
    parts = stretches(agent, gap_ms=AGENT_GAP_MS, agent=True)
    cuts = []
    for t in answered_ms:
        part = next((p for p in parts if p.start_ms < t < p.end_ms), None)
        if part is not None:
            quiet = first_quiet(agent, t, part.end_ms)
            if quiet is not None:
                cuts.append(quiet + 1.0)
    speech = [AgentSpeech(s) for s in split_at(parts, cuts, agent)]
    if transcribe is not None and speech:
        pieces = [agent[int(s.stretch.start_ms * CALL_RATE / 1000):
                        int(s.stretch.end_ms * CALL_RATE / 1000)] for s in speech]
        for sp, text in zip(speech, transcribe(pieces, CALL_RATE), strict=True):
            sp.text, sp.text_source = (text or None), "asr"
            sp.text_written_only_in = transcribe.writes_only
    return speech


class FrameList:
    """Frames gathered first and written in time order (``source``: where each came from;
    ``extra``: other top-level fields of the frame)."""

    def __init__(self, writer: RecordingWriter) -> None:
        self.w = writer
        self.calls_per_tool: dict[str, int] = {}
        self.frames: list[tuple[float, int, str, str, dict[str, Any], dict[str, Any]]] = []
        self.n = 0

    def add(self, t_ms: float, dir_: str, type_: str, event: dict[str, Any],
            source: str | None = None, **extra: Any) -> None:
        if source is not None:
            extra["source"] = source
        self.frames.append((t_ms, self.n, dir_, type_, event, extra))
        self.n += 1

    def write(self) -> None:
        for t_ms, _, dir_, type_, event, extra in sorted(self.frames, key=lambda f: f[:2]):
            self.w.frame(t_ms, dir_, type_, event, **extra)
        self.frames.clear()


def mark_barge_ins(caller_starts: list[float], speech: list[AgentSpeech]) -> list[bool]:
    """Which caller turns (by their start) began while the agent spoke; agent speech that
    stopped within :data:`BARGE_IN_STOP_MS` of such a start is marked interrupted."""
    out = []
    for onset in caller_starts:
        over = False
        for sp in speech:
            if sp.stretch.start_ms < onset < sp.stretch.end_ms:
                over = True
                sp.interrupted = sp.stretch.end_ms - onset <= BARGE_IN_STOP_MS
        out.append(over)
    return out


def attach_calls(calls: list[ToolCallLike], speech: list[AgentSpeech],
                 caller_starts: list[float]) -> list[ToolCallLike]:
    """Each call goes to the agent speech just before it in the same caller turn (the preamble
    it came with); the calls with none, which stand alone."""
    orphans = []
    for call in calls:
        turn_start = max((t for t in caller_starts if t <= call.t_ms), default=-1.0)
        before = [sp for sp in speech if turn_start <= sp.first_ms <= call.t_ms]
        if before:
            before[-1].calls.append(call)
        else:
            orphans.append(call)
    return orphans


def write_agent_speech(out: FrameList, speech: list[AgentSpeech], caller_starts: list[float],
                       orphan_calls: list[ToolCallLike], *, tool_source: str = "sidecar",
                       rate: int = CALL_RATE) -> None:
    """The agent's responses as frames: one response per stretch of its speech (created, and its
    first audio delta, when its audio began to arrive, :attr:`AgentSpeech.first_ms`; audible
    from its onset; its audio a reference into the ``agent_stream`` track at ``rate``), its tool
    calls, and a response of their own for calls no speech came with. A response after a
    response that called tools follows those calls up unless the caller spoke between
    (``caller_starts``: when each caller turn started)."""
    follow_up: tuple[str, float] | None = None  # the last call's id and time
    for j, sp in enumerate(speech):
        rid, iid = f"resp_call_{j}", f"item_call_{j}"
        s = sp.stretch
        at = sp.first_ms - 0.002
        if follow_up is not None and any(follow_up[1] < t < s.start_ms
                                         for t in caller_starts):
            follow_up = None  # the caller spoke first: this speech answers them
        if follow_up is not None:
            out.add(at - 0.002, "sent", "conversation.item.create", {
                "type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": follow_up[0]}},
                    tool_source)
            out.add(at - 0.001, "sent", "response.create", {"type": "response.create"},
                    tool_source)
            follow_up = None
        out.add(at, "received", "response.created",
                {"type": "response.created", "response": {"id": rid, "status": "in_progress"}},
                "audio")
        out.add(at + 0.001, "received", "response.output_item.added", {
            "type": "response.output_item.added", "response_id": rid, "output_index": 0,
            "item": {"id": iid, "type": "message", "role": "assistant"}}, "audio")
        start = int(round(s.start_ms * rate / 1000))
        samples = max(1, int(round(s.end_ms * rate / 1000)) - start)
        out.add(sp.first_ms, "received", "response.output_audio.delta", {
            "type": "response.output_audio.delta", "response_id": rid, "item_id": iid,
            "output_index": 0, "content_index": 0, "delta": {"audio_ref": {
                "track": "agent_stream", "start_sample": start, "samples": samples,
                "sample_rate": rate}}}, "audio")
        ref = {"response_id": rid, "item_id": iid}
        out.add(s.start_ms, "harness", "harness.playback.started", ref, "audio")
        out.add(s.start_ms, "harness", "harness.playback.audible",
                {**ref, "onset_ms": s.start_ms}, "audio")
        played = s.end_ms - s.start_ms
        out.add(s.end_ms, "harness", "harness.playback.stopped", {
            **ref, "reason": "interrupted" if sp.interrupted else "drained", "played_ms": played,
            "dropped_ms": 0.0, "received_ms": played}, "audio")
        if sp.interrupted:
            # what a caller heard of it: the server's truncation, as over WebRTC
            out.add(s.end_ms, "received", "conversation.item.truncated", {
                "type": "conversation.item.truncated", "item_id": iid, "content_index": 0,
                "audio_end_ms": int(played)}, "audio")
        if sp.text:
            only = {WRITTEN_ONLY_IN: sp.text_written_only_in} if sp.text_written_only_in else {}
            out.add(s.end_ms, "received", "response.output_audio_transcript.done", {
                "type": "response.output_audio_transcript.done", "response_id": rid,
                "item_id": iid, "output_index": 0, "content_index": 0, "transcript": sp.text},
                    sp.text_source or "audio", **only)
        output: list[dict[str, Any]] = [{"id": iid, "type": "message"}]
        for k, call in enumerate(sp.calls):
            output.append(_call_frames(out, call, rid, k + 1, f"{j}_{k}", tool_source))
            follow_up = (output[-1]["call_id"], call.t_ms)
        done = max([s.end_ms] + [c.t_ms for c in sp.calls])
        status = "cancelled" if sp.interrupted else "completed"
        out.add(done + 0.001, "received", "response.done", {
            "type": "response.done", "response": {"id": rid, "status": status,
                                                  "output": output}}, "audio")
    for k, call in enumerate(orphan_calls):
        rid = f"resp_call_tool_{k}"
        out.add(call.t_ms - 0.002, "received", "response.created",
                {"type": "response.created", "response": {"id": rid, "status": "in_progress"}},
                tool_source)
        item = _call_frames(out, call, rid, 0, f"t{k}", tool_source)
        out.add(call.t_ms + 0.002, "received", "response.done", {
            "type": "response.done", "response": {"id": rid, "status": "completed",
                                                  "output": [item]}}, tool_source)


def _call_frames(out: FrameList, call: ToolCallLike, rid: str, index: int, key: str,
                 source: str) -> dict[str, Any]:
    call_id = call.call_id or f"call_{key}"
    iid = f"item_fc_{key}"
    args = json.dumps(call.arguments, sort_keys=True)
    item = {"id": iid, "type": "function_call", "call_id": call_id, "name": call.name,
            "arguments": args, "status": "completed"}
    out.add(call.t_ms, "received", "response.function_call_arguments.done", {
        "type": "response.function_call_arguments.done", "response_id": rid, "item_id": iid,
        "output_index": index, "call_id": call_id, "name": call.name, "arguments": args},
            source)
    out.add(call.t_ms + 0.001, "harness", "harness.tool.answered", {
        "call_id": call_id, "name": call.name, "arguments": call.arguments,
        "arguments_raw": args, "invented": False, "output": call.result, "latency_ms": 0,
        "call_index": out.calls_per_tool.get(call.name, 0)}, source)
    out.calls_per_tool[call.name] = out.calls_per_tool.get(call.name, 0) + 1
    return item
