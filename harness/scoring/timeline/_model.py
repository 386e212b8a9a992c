"""What a call was, as scorers and the report see it: caller turns, responses, items, tools."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal


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
    transcript_heard: bool = False  # written by the harness's recogniser from the audio
    transcript_written_only_in: str | None = None  # ... which writes only this language
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
    heard: bool = False
    """The transcript is the harness's recogniser's (source ``asr``: a SIP or production call),
    not the agent's own: its spelling of homophones is the recogniser's choice."""
    written_only_in: str | None = None
    """The one language the recogniser that wrote a heard transcript writes, whatever was
    spoken (the offline recogniser: ``en``); None when it writes the language spoken."""

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
    """An agent audio item cut at what was played: the ``conversation.item.truncate`` the client
    sent, or the ``conversation.item.truncated`` the server reported (over WebRTC the server
    plays the audio and truncates by itself; over a WebSocket it confirms the client's)."""

    t_ms: float
    seq: int
    item_id: str | None
    audio_end_ms: float | None
    by: Literal["client", "server"] = "client"


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
                                 *item.transcript_seqs[-1:]}),
                    heard=item.transcript_heard,
                    written_only_in=item.transcript_written_only_in))
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
