"""The call as a timeline derived purely from a Recording: caller turns, responses, VAD, tools.

Scorers and the report read this instead of raw frames. Everything here is a function of the
frames alone (no clock, no audio decoding), so it is cheap and deterministic, and it tolerates
what real recordings contain: responses without any tool call, cancelled and overlapping
responses, empty transcripts, and recordings cut short by a killed run.

Ownership of responses by caller turns (``Response.turn_index``): a response belongs to the caller
turn whose input it reacts to — the turn in progress at the last input event before its
``response.created``: the server's ``speech_started`` or ``timeout_triggered``, or the client's
``input_audio_buffer.commit``. So a slow answer that arrives after the next turn began still
belongs to the turn it answers, while speech the agent starts on hold music or on its own idle
timeout belongs to that turn. The response the client asks for after answering a function call
(``function_call_output`` then ``response.create``) belongs to the turn of that call. A response
with no input before it (a greeting) belongs to the last turn that started before it, if any.
Function calls belong to the turn of their response.

All times are session-clock milliseconds (DESIGN §4); ``seq`` values are ``events.jsonl`` lines.
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.runner.recording import Frame, Recording

__all__ = [
    "CallerTurn",
    "Cancel",
    "FunctionCall",
    "InputTranscription",
    "OutputItem",
    "Playback",
    "Response",
    "Timeline",
    "ToolAnswer",
    "Truncate",
    "Utterance",
    "VadEvent",
    "build_timeline",
]


@dataclass
class CallerTurn:
    """One scripted caller turn as the runner played it (``harness.turn.started``/``ended``).

    ``index`` is the turn's number as people count it: 1 is the first turn of the scenario's
    ``turns`` list. Expectation parameters, verdicts, the report and JUnit all use it; only
    the recording's ``turn_index`` (a list position) counts from 0.
    """

    index: int
    kind: str
    text: str | None
    spoken_text: str | None
    addressed: bool
    start_ms: float
    scheduled_end_ms: float
    speech_onset_ms: float | None
    speech_end_ms: float | None
    pauses_ms: list[tuple[float, float]]
    cut_off: bool
    entity: dict[str, str] | None
    intent: str | None
    trigger: str
    barge_in_at_agent_ms: int | None
    seq: int
    sent_end_ms: float | None = None
    ended_seq: int | None = None

    @property
    def has_speech(self) -> bool:
        return self.speech_onset_ms is not None and self.speech_end_ms is not None

    @property
    def end_ms(self) -> float:
        """When the turn's audio ended: its last chunk sent, else its scheduled end."""
        return self.sent_end_ms if self.sent_end_ms is not None else self.scheduled_end_ms

    @property
    def caller_done_ms(self) -> float:
        """When the caller finished saying something: speech end, else the turn's end."""
        return self.speech_end_ms if self.speech_end_ms is not None else self.end_ms

    @property
    def speech_intervals(self) -> list[tuple[float, float]]:
        """Speech onset→end with the mid-turn pauses cut out (empty without speech)."""
        if not self.has_speech:
            return []
        assert self.speech_onset_ms is not None and self.speech_end_ms is not None
        out: list[tuple[float, float]] = []
        start = self.speech_onset_ms
        for p_start, p_end in sorted(self.pauses_ms):
            if p_start > start:
                out.append((start, min(p_start, self.speech_end_ms)))
            start = max(start, p_end)
        if self.speech_end_ms > start:
            out.append((start, self.speech_end_ms))
        return out


@dataclass
class Playback:
    """One stretch of agent audio on the runner's playback clock (``harness.playback.*``)."""

    response_id: str
    item_id: str | None
    start_ms: float | None = None
    start_seq: int | None = None
    audible_onset_ms: float | None = None
    audible_seq: int | None = None
    stop_ms: float | None = None
    stop_seq: int | None = None
    stop_reason: str | None = None
    played_ms: float | None = None
    dropped_ms: float | None = None
    received_ms: float | None = None

    @property
    def interrupted(self) -> bool:
        return self.stop_reason == "interrupted"


@dataclass
class OutputItem:
    """One output item of a response: a message (audio + transcript) or a function call."""

    item_id: str
    response_id: str
    type: str
    added_ms: float
    added_seq: int
    output_index: int | None = None
    transcript_deltas: list[str] = field(default_factory=list)
    transcript_final: str | None = None
    transcript_seqs: list[int] = field(default_factory=list)
    text_deltas: list[str] = field(default_factory=list)
    text_final: str | None = None
    first_audio_ms: float | None = None
    first_audio_seq: int | None = None
    audio_received_ms: float = 0.0
    audio_chunks: list[dict[str, Any]] = field(default_factory=list)
    playbacks: list[Playback] = field(default_factory=list)
    done_ms: float | None = None
    status: str | None = None

    @property
    def transcript(self) -> str:
        """The spoken transcript: the ``done`` text when it came, else the joined deltas."""
        if self.transcript_final is not None:
            return self.transcript_final
        return "".join(self.transcript_deltas)

    @property
    def text(self) -> str:
        if self.text_final is not None:
            return self.text_final
        return "".join(self.text_deltas)

    @property
    def has_audio(self) -> bool:
        return self.first_audio_ms is not None


@dataclass
class ToolAnswer:
    """The runner's answer to a function call (``harness.tool.answered``)."""

    t_ms: float
    seq: int
    output: Any
    latency_ms: int
    invented: bool
    call_index: int


@dataclass
class FunctionCall:
    """A function call the agent made, with its parsed arguments and the runner's answer."""

    call_id: str
    name: str
    arguments: dict[str, Any] | None
    arguments_raw: str
    response_id: str | None
    item_id: str | None
    t_ms: float
    seq: int
    turn_index: int | None = None
    answer: ToolAnswer | None = None

    def argument(self, name: str) -> Any:
        return (self.arguments or {}).get(name)


@dataclass
class Response:
    """One agent response (``response.created`` … ``response.done``) and what it produced."""

    response_id: str
    created_ms: float
    created_seq: int
    done_ms: float | None = None
    done_seq: int | None = None
    status: str | None = None
    status_reason: str | None = None
    items: list[OutputItem] = field(default_factory=list)
    function_calls: list[FunctionCall] = field(default_factory=list)
    playbacks: list[Playback] = field(default_factory=list)
    turn_index: int | None = None
    follow_up_of: str | None = None
    input_anchor_ms: float | None = None
    """Arrival of the last caller-input event (VAD, idle timeout, commit) before the response."""

    @property
    def cancelled(self) -> bool:
        return self.status == "cancelled"

    @property
    def message_items(self) -> list[OutputItem]:
        return [i for i in self.items if i.type == "message"]

    @property
    def transcript(self) -> str:
        return " ".join(t for t in (i.transcript.strip() for i in self.message_items) if t)

    @property
    def first_audio_ms(self) -> float | None:
        return _min(i.first_audio_ms for i in self.items)

    @property
    def first_audio_seq(self) -> int | None:
        firsts = [(i.first_audio_ms, i.first_audio_seq) for i in self.items
                  if i.first_audio_ms is not None]
        return min(firsts)[1] if firsts else None

    @property
    def audible_onset_ms(self) -> float | None:
        return _min(p.audible_onset_ms for p in self.playbacks)

    @property
    def playback_start_ms(self) -> float | None:
        return _min(p.start_ms for p in self.playbacks)

    @property
    def played_ms(self) -> float:
        return sum(p.played_ms or 0.0 for p in self.playbacks)

    @property
    def dropped_ms(self) -> float:
        return sum(p.dropped_ms or 0.0 for p in self.playbacks)

    @property
    def interrupted(self) -> bool:
        return any(p.interrupted for p in self.playbacks)


@dataclass
class Utterance:
    """Agent speech of one message item: its transcript and when it was heard."""

    response_id: str
    item_id: str
    turn_index: int | None
    transcript: str
    first_audio_ms: float
    audible_onset_ms: float | None
    audible_end_ms: float | None
    played_ms: float | None
    interrupted: bool
    seqs: list[int]

    @property
    def start_ms(self) -> float:
        """When it started to be heard (first audio arrival when playback was not annotated)."""
        return self.audible_onset_ms if self.audible_onset_ms is not None else self.first_audio_ms


@dataclass
class VadEvent:
    """``input_audio_buffer.speech_started`` / ``speech_stopped`` as it arrived."""

    kind: str
    t_ms: float
    seq: int
    item_id: str | None
    audio_ms: float | None


@dataclass
class Truncate:
    """A ``conversation.item.truncate`` the client sent."""

    t_ms: float
    seq: int
    item_id: str | None
    audio_end_ms: float | None


@dataclass
class Cancel:
    """A ``response.cancel`` the client sent."""

    t_ms: float
    seq: int
    response_id: str | None


@dataclass
class InputTranscription:
    """The target's transcription of a caller input item."""

    item_id: str
    t_ms: float
    seq: int
    transcript: str
    turn_index: int | None = None


@dataclass
class Timeline:
    """Everything scorers need about one call, in session-clock order."""

    turns: list[CallerTurn] = field(default_factory=list)
    responses: list[Response] = field(default_factory=list)
    function_calls: list[FunctionCall] = field(default_factory=list)
    vad: list[VadEvent] = field(default_factory=list)
    truncates: list[Truncate] = field(default_factory=list)
    cancels: list[Cancel] = field(default_factory=list)
    input_transcriptions: list[InputTranscription] = field(default_factory=list)
    errors: list[tuple[float, int, str]] = field(default_factory=list)
    stream_start_ms: float | None = None
    end_ms: float = 0.0
    ended_status: str | None = None
    ended_error: str | None = None
    _utterances: list[Utterance] | None = field(default=None, repr=False, compare=False)

    @property
    def complete(self) -> bool:
        """Whether the recording reached ``harness.trial.ended``."""
        return self.ended_status is not None

    def turn(self, index: int) -> CallerTurn | None:
        return next((t for t in self.turns if t.index == index), None)

    def turn_at(self, t_ms: float) -> int | None:
        """Index of the last caller turn that started at or before ``t_ms``."""
        starts = [t.start_ms for t in self.turns]
        pos = bisect.bisect_right(starts, t_ms)
        return self.turns[pos - 1].index if pos else None

    def next_turn(self, index: int) -> CallerTurn | None:
        later = [t for t in self.turns if t.index > index]
        return min(later, key=lambda t: t.index) if later else None

    def responses_of(self, turn_index: int) -> list[Response]:
        return [r for r in self.responses if r.turn_index == turn_index]

    def calls_of(self, turn_index: int) -> list[FunctionCall]:
        return [c for c in self.function_calls if c.turn_index == turn_index]

    def utterances(self) -> list[Utterance]:
        """Agent speech: message items with audio, ordered by first audio arrival (computed once;
        treat the timeline as read-only after building it)."""
        if self._utterances is None:
            self._utterances = self._build_utterances()
        return list(self._utterances)

    def _build_utterances(self) -> list[Utterance]:
        out: list[Utterance] = []
        for r in self.responses:
            for item in r.message_items:
                if not item.has_audio:
                    continue
                assert item.first_audio_ms is not None
                plays = item.playbacks or (r.playbacks if _sole_audio_item(r, item) else [])
                onset = _min(p.audible_onset_ms for p in plays)
                stops = [p.stop_ms for p in plays]
                complete = bool(stops) and None not in stops
                end = max(s for s in stops if s is not None) if complete else None
                played = sum(p.played_ms or 0.0 for p in plays) if plays else None
                out.append(Utterance(
                    response_id=r.response_id, item_id=item.item_id, turn_index=r.turn_index,
                    transcript=item.transcript.strip(), first_audio_ms=item.first_audio_ms,
                    audible_onset_ms=onset, audible_end_ms=end, played_ms=played,
                    interrupted=any(p.interrupted for p in plays),
                    seqs=sorted({item.first_audio_seq or item.added_seq,
                                 *item.transcript_seqs[-1:]})))
        out.sort(key=lambda u: (u.first_audio_ms, u.response_id, u.item_id))
        return out

    def audible_intervals(self) -> list[tuple[float, float]]:
        """Intervals in which agent audio was heard (audible onset → playback stop)."""
        out: list[tuple[float, float]] = []
        for r in self.responses:
            for p in r.playbacks:
                if p.audible_onset_ms is None:
                    continue
                end = p.stop_ms if p.stop_ms is not None else self.end_ms
                if end > p.audible_onset_ms:
                    out.append((p.audible_onset_ms, end))
        return sorted(out)


def _min(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return min(present) if present else None


def _sole_audio_item(response: Response, item: OutputItem) -> bool:
    """Whether a response-level playback (no item id) can be attributed to this item."""
    audio_items = [i for i in response.items if i.has_audio]
    return bool(audio_items) and audio_items[0] is item


def _parse_arguments(raw: Any) -> tuple[dict[str, Any] | None, str]:
    if isinstance(raw, dict):
        return raw, json.dumps(raw, sort_keys=True)
    text = raw if isinstance(raw, str) else ""
    try:
        parsed = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return None, text
    return (parsed if isinstance(parsed, dict) else None), text


class _Builder:
    """One pass over the frames; keeps lookup tables the finished Timeline does not need."""

    def __init__(self) -> None:
        self.tl = Timeline()
        self.responses: dict[str, Response] = {}
        self.items: dict[str, OutputItem] = {}
        self.calls: dict[str, FunctionCall] = {}
        self.answers: dict[str, ToolAnswer] = {}
        self.transcriptions: dict[str, InputTranscription] = {}
        self.transcription_deltas: dict[str, list[str]] = {}
        self.input_item_time: dict[str, float] = {}
        self.output_call_ids: list[str] = []
        self.pending_follow_up: str | None = None
        self.last_input_ms: float | None = None

    # ------------------------------------------------------------------ responses and items
    def response(self, response_id: str | None, frame: Frame) -> Response | None:
        if not response_id:
            return None
        r = self.responses.get(response_id)
        if r is None:
            # A response whose ``response.created`` was not captured (late join or reordering).
            r = Response(response_id=response_id, created_ms=frame.t_ms, created_seq=frame.seq)
            self.responses[response_id] = r
            self.tl.responses.append(r)
        return r

    def item(self, item_id: str | None, response_id: str | None, type_: str,
             frame: Frame, output_index: int | None = None) -> OutputItem | None:
        if not item_id:
            return None
        item = self.items.get(item_id)
        if item is None:
            item = OutputItem(item_id=item_id, response_id=response_id or "", type=type_,
                              added_ms=frame.t_ms, added_seq=frame.seq, output_index=output_index)
            self.items[item_id] = item
            r = self.response(response_id, frame)
            if r is not None:
                r.items.append(item)
        return item

    def call(self, call_id: str | None, name: str | None, raw_args: Any, response_id: str | None,
             item_id: str | None, frame: Frame) -> None:
        if not call_id or call_id in self.calls:
            return
        arguments, raw = _parse_arguments(raw_args)
        fc = FunctionCall(call_id=call_id, name=name or "", arguments=arguments, arguments_raw=raw,
                          response_id=response_id, item_id=item_id, t_ms=frame.t_ms, seq=frame.seq)
        self.calls[call_id] = fc
        self.tl.function_calls.append(fc)
        r = self.response(response_id, frame)
        if r is not None:
            r.function_calls.append(fc)

    # ------------------------------------------------------------------ frames
    def received(self, f: Frame) -> None:
        ev = f.event
        t = f.type
        if t == "response.created":
            rid = (ev.get("response") or {}).get("id")
            if rid and rid not in self.responses:
                r = self.response(rid, f)
                if r is not None:
                    r.input_anchor_ms = self.last_input_ms
                if r is not None and self.pending_follow_up is not None:
                    r.follow_up_of = self.pending_follow_up
                    self.pending_follow_up = None
        elif t == "response.done":
            resp = ev.get("response") or {}
            r = self.response(resp.get("id"), f)
            if r is None:
                return
            r.done_ms, r.done_seq = f.t_ms, f.seq
            r.status = resp.get("status")
            details = resp.get("status_details") or {}
            r.status_reason = details.get("reason") if isinstance(details, dict) else None
            for out in resp.get("output") or []:
                if out.get("type") == "function_call":
                    self.call(out.get("call_id"), out.get("name"), out.get("arguments"),
                              r.response_id, out.get("id"), f)
                elif out.get("type") == "message" and out.get("id"):
                    item = self.item(out["id"], r.response_id, "message", f)
                    if item is not None and item.transcript_final is None:
                        for part in out.get("content") or []:
                            spoken = part.get("type") in ("output_audio", "audio")
                            if spoken and part.get("transcript"):
                                item.transcript_final = part["transcript"]
        elif t in ("response.output_item.added", "response.output_item.done"):
            it = ev.get("item") or {}
            item = self.item(it.get("id"), ev.get("response_id"), it.get("type", "message"), f,
                             ev.get("output_index"))
            if t == "response.output_item.done":
                if item is not None:
                    item.done_ms, item.status = f.t_ms, it.get("status")
                if it.get("type") == "function_call":
                    self.call(it.get("call_id"), it.get("name"), it.get("arguments"),
                              ev.get("response_id"), it.get("id"), f)
        elif t == "response.function_call_arguments.done":
            self.item(ev.get("item_id"), ev.get("response_id"), "function_call", f)
            self.call(ev.get("call_id"), ev.get("name"), ev.get("arguments"),
                      ev.get("response_id"), ev.get("item_id"), f)
        elif t == "response.output_audio.delta":
            item = self.item(ev.get("item_id"), ev.get("response_id"), "message", f)
            if item is None:
                return
            if item.first_audio_ms is None:
                item.first_audio_ms, item.first_audio_seq = f.t_ms, f.seq
            ref = ev.get("delta")
            ref = ref.get("audio_ref") if isinstance(ref, dict) else ev.get("audio_ref")
            if isinstance(ref, dict) and ref.get("sample_rate"):
                item.audio_received_ms += 1000.0 * ref.get("samples", 0) / ref["sample_rate"]
                item.audio_chunks.append(ref)
        elif t == "response.output_audio_transcript.delta":
            item = self.item(ev.get("item_id"), ev.get("response_id"), "message", f)
            if item is not None:
                item.transcript_deltas.append(ev.get("delta") or "")
                item.transcript_seqs.append(f.seq)
        elif t == "response.output_audio_transcript.done":
            item = self.item(ev.get("item_id"), ev.get("response_id"), "message", f)
            if item is not None:
                item.transcript_final = ev.get("transcript") or ""
                item.transcript_seqs.append(f.seq)
        elif t == "response.output_text.delta":
            item = self.item(ev.get("item_id"), ev.get("response_id"), "message", f)
            if item is not None:
                item.text_deltas.append(ev.get("delta") or "")
        elif t == "response.output_text.done":
            item = self.item(ev.get("item_id"), ev.get("response_id"), "message", f)
            if item is not None:
                item.text_final = ev.get("text") or ""
        elif t in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped"):
            kind = t.rsplit(".", 1)[1]
            audio = ev.get("audio_start_ms" if kind == "speech_started" else "audio_end_ms")
            self.tl.vad.append(VadEvent(kind, f.t_ms, f.seq, ev.get("item_id"), audio))
            if kind == "speech_started":
                self.last_input_ms = f.t_ms
                if ev.get("item_id"):
                    self.input_item_time.setdefault(ev["item_id"], f.t_ms)
        elif t == "input_audio_buffer.timeout_triggered":
            self.last_input_ms = f.t_ms
        elif t == "input_audio_buffer.committed":
            if ev.get("item_id"):
                self.input_item_time.setdefault(ev["item_id"], f.t_ms)
        elif t == "conversation.item.input_audio_transcription.delta":
            self.transcription_deltas.setdefault(ev.get("item_id") or "", []).append(
                ev.get("delta") or "")
        elif t == "conversation.item.input_audio_transcription.completed":
            item_id = ev.get("item_id") or ""
            tr = InputTranscription(item_id=item_id, t_ms=f.t_ms, seq=f.seq,
                                    transcript=ev.get("transcript") or "")
            self.transcriptions[item_id] = tr
            self.tl.input_transcriptions.append(tr)
        elif t == "error":
            err = ev.get("error") or {}
            self.tl.errors.append((f.t_ms, f.seq, str(err.get("message") or err)))

    def sent(self, f: Frame) -> None:
        ev = f.event
        if f.type == "conversation.item.truncate":
            self.tl.truncates.append(Truncate(f.t_ms, f.seq, ev.get("item_id"),
                                              ev.get("audio_end_ms")))
        elif f.type == "response.cancel":
            self.tl.cancels.append(Cancel(f.t_ms, f.seq, ev.get("response_id")))
        elif f.type == "conversation.item.create":
            item = ev.get("item") or {}
            if item.get("type") == "function_call_output" and item.get("call_id"):
                self.output_call_ids.append(item["call_id"])
        elif f.type == "input_audio_buffer.commit":
            self.last_input_ms = f.t_ms
        elif f.type == "response.create" and self.output_call_ids:
            self.pending_follow_up = self.output_call_ids[-1]
            self.output_call_ids.clear()

    def playback(self, f: Frame) -> None:
        ev = f.event
        rid = ev.get("response_id")
        r = self.response(rid, f)
        if r is None:
            return
        item_id = ev.get("item_id")
        kind = f.type.rsplit(".", 1)[1]
        pb = None
        if kind != "started":
            # The open playback of this response (and item, when both name one).
            for cand in reversed(r.playbacks):
                if item_id and cand.item_id and cand.item_id != item_id:
                    continue
                if kind == "audible" and cand.audible_onset_ms is not None:
                    continue
                if kind == "stopped" and cand.stop_ms is not None:
                    continue
                pb = cand
                break
        if pb is None:
            pb = Playback(response_id=rid, item_id=item_id)
            r.playbacks.append(pb)
            item = self.items.get(item_id) if item_id else None
            if item is not None:
                item.playbacks.append(pb)
        if pb.item_id is None and item_id:
            pb.item_id = item_id
            item = self.items.get(item_id)
            if item is not None and pb not in item.playbacks:
                item.playbacks.append(pb)
        if kind == "started":
            pb.start_ms, pb.start_seq = f.t_ms, f.seq
        elif kind == "audible":
            pb.audible_onset_ms = float(ev.get("onset_ms", f.t_ms))
            pb.audible_seq = f.seq
        elif kind == "stopped":
            pb.stop_ms, pb.stop_seq = f.t_ms, f.seq
            pb.stop_reason = ev.get("reason")
            pb.played_ms = ev.get("played_ms")
            pb.dropped_ms = ev.get("dropped_ms")
            pb.received_ms = ev.get("received_ms")

    def harness(self, f: Frame) -> None:
        ev = f.event
        t = f.type
        if t == "harness.turn.started":
            # Outputs sent before a new caller turn are not what a later response.create follows.
            self.output_call_ids.clear()
            self.tl.turns.append(CallerTurn(
                index=int(ev["turn_index"]) + 1, kind=ev.get("kind", "say"), text=ev.get("text"),
                spoken_text=ev.get("spoken_text"), addressed=bool(ev.get("addressed", True)),
                start_ms=float(ev.get("start_ms", f.t_ms)),
                scheduled_end_ms=float(ev.get("end_ms", f.t_ms)),
                speech_onset_ms=ev.get("speech_onset_ms"), speech_end_ms=ev.get("speech_end_ms"),
                pauses_ms=[(float(a), float(b)) for a, b in ev.get("pauses_ms") or []],
                cut_off=bool(ev.get("cut_off", False)), entity=ev.get("entity"),
                intent=ev.get("intent"), trigger=ev.get("trigger", "first"),
                barge_in_at_agent_ms=ev.get("barge_in_at_agent_ms"), seq=f.seq))
        elif t == "harness.turn.ended":
            turn = self.tl.turn(int(ev.get("turn_index", -2)) + 1)
            if turn is not None:
                turn.sent_end_ms, turn.ended_seq = f.t_ms, f.seq
        elif t.startswith("harness.playback."):
            self.playback(f)
        elif t == "harness.tool.answered":
            self.answers[ev.get("call_id", "")] = ToolAnswer(
                t_ms=f.t_ms, seq=f.seq, output=ev.get("output"),
                latency_ms=int(ev.get("latency_ms", 0)), invented=bool(ev.get("invented", False)),
                call_index=int(ev.get("call_index", 0)))
            if ev.get("call_id") not in self.calls:
                # The protocol events of the call were not captured; the annotation still says it.
                self.call(ev.get("call_id"), ev.get("name"), ev.get("arguments_raw")
                          or ev.get("arguments"), None, None, f)
        elif t == "harness.stream.started":
            self.tl.stream_start_ms = f.t_ms
        elif t == "harness.trial.ended":
            self.tl.ended_status = ev.get("status")
            self.tl.ended_error = ev.get("error")

    def finish(self) -> Timeline:
        tl = self.tl
        tl.turns.sort(key=lambda t: (t.start_ms, t.index))
        for call_id, answer in self.answers.items():
            if call_id in self.calls:
                self.calls[call_id].answer = answer
        for r in tl.responses:
            origin = self.calls.get(r.follow_up_of) if r.follow_up_of else None
            if origin is not None and origin.response_id is not None:
                parent = self.responses.get(origin.response_id)
                r.turn_index = parent.turn_index if parent is not None else tl.turn_at(r.created_ms)
            elif r.input_anchor_ms is not None:
                r.turn_index = _input_turn(tl, r.input_anchor_ms, r.created_ms)
            else:
                r.turn_index = tl.turn_at(r.created_ms)
            r.items.sort(key=lambda i: (i.output_index if i.output_index is not None else 1 << 30,
                                        i.added_seq))
        for c in tl.function_calls:
            r = self.responses.get(c.response_id) if c.response_id else None
            c.turn_index = r.turn_index if r is not None else tl.turn_at(c.t_ms)
        for item_id, deltas in self.transcription_deltas.items():
            if item_id not in self.transcriptions and item_id:
                # Transcription that never completed (a cut-short recording): keep the deltas.
                tr = InputTranscription(item_id=item_id, t_ms=tl.end_ms, seq=-1,
                                        transcript="".join(deltas))
                tl.input_transcriptions.append(tr)
        for tr in tl.input_transcriptions:
            tr.turn_index = _input_turn(tl, self.input_item_time.get(tr.item_id, tr.t_ms), tr.t_ms)
        return tl


def _input_turn(tl: Timeline, input_ms: float, later_ms: float) -> int | None:
    """The turn of caller input that began at ``input_ms`` and was answered or transcribed at
    ``later_ms``. Input that the line's noise opened during the lead-in, before the first turn,
    holds the first turn's speech when it lasted into that turn."""
    index = tl.turn_at(input_ms)
    if index is None and tl.turns and later_ms >= tl.turns[0].start_ms:
        return tl.turns[0].index
    return index


def build_timeline(source: Recording | Iterable[Frame]) -> Timeline:
    """The timeline of a recording (or of its frames, in file order)."""
    frames = source.frames if isinstance(source, Recording) else source
    b = _Builder()
    last = 0.0
    for f in frames:
        last = max(last, f.t_ms)
        if f.dir == "received":
            b.received(f)
        elif f.dir == "sent":
            b.sent(f)
        else:
            b.harness(f)
    b.tl.end_ms = last
    return b.finish()
