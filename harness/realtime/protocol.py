"""The Realtime protocol as a state machine without I/O: feed it received text, read what happened.

:class:`RealtimeProtocol` parses each received frame, normalises it to GA names (see
:mod:`harness.realtime.dialects`), keeps the state the runner needs (responses, their audio items,
function calls, whether the caller's speech is active) and returns :class:`Notice` objects saying
what the frame means. It also builds every client event the harness sends. It never touches a
socket or a clock: times are passed in, so it is tested by feeding it events.

It is the one reader of the server's event stream: the runner feeds it frames as they arrive
(:meth:`RealtimeProtocol.receive`), and scoring replays a recording's frames through it
(:meth:`RealtimeProtocol.receive_event`) to build the call's timeline, so both see the same
responses, items and function calls under the same rules.

Servers do not always send events in the documented order. The state machine accepts audio or
arguments for a response it has not seen created (the response is created on first sight), takes
function calls from ``response.output_item.done`` or ``response.done`` when
``response.function_call_arguments.done`` never came, and reports each function call and each
``response.done`` exactly once. A function call item that did not complete (its response was
cancelled mid-arguments) is not a call: nobody answers it. An event without a response id belongs
to the response :data:`UNKNOWN_RESPONSE`; agent audio without an item id to the item
``<response id>:audio``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

from harness.realtime.dialects import Dialect, normalize_event, session_config
from harness.realtime.events import (
    ConversationItemCreate,
    ConversationItemTruncate,
    InputAudioBufferCommit,
    ResponseCancel,
    ResponseCreate,
    SessionUpdate,
)
from harness.scenario.models import AgentConfig

AUDIO_DELTA = "response.output_audio.delta"
UNKNOWN_RESPONSE = "resp_unknown"
"""The response of events that name none."""


@dataclass
class FunctionCall:
    """A function call the agent made."""

    call_id: str
    name: str
    arguments_raw: str
    response_id: str | None
    item_id: str | None


@dataclass
class ResponseState:
    """What is known about one response."""

    id: str
    first_seen_ms: float
    status: str = "in_progress"
    done_ms: float | None = None
    transcript: str = ""
    audio_items: list[str] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)

    @property
    def in_progress(self) -> bool:
        return self.done_ms is None


# --------------------------------------------------------------------------- notices


@dataclass
class Notice:
    """Base of what a received frame means to the runner."""


@dataclass
class SessionReady(Notice):
    session: dict[str, Any]


@dataclass
class SpeechStarted(Notice):
    item_id: str | None
    audio_start_ms: float | None


@dataclass
class SpeechStopped(Notice):
    item_id: str | None
    audio_end_ms: float | None


@dataclass
class ResponseCreated(Notice):
    """A response seen for the first time: announced by ``response.created``, or not."""

    response_id: str
    announced: bool = False


@dataclass
class AudioDelta(Notice):
    """Agent audio: the decoded payload, or, for a recorded frame, the reference to its track."""

    response_id: str
    item_id: str
    data: bytes
    audio_ref: dict[str, Any] | None = None


@dataclass
class AudioDone(Notice):
    response_id: str
    item_id: str


@dataclass
class TranscriptDelta(Notice):
    """Text of a response: the transcript of its speech (``spoken``) or its text output."""

    response_id: str
    item_id: str | None
    text: str
    spoken: bool = True


@dataclass
class TranscriptDone(Notice):
    """The final transcript of an item's speech (``spoken``) or its final text output."""

    response_id: str
    item_id: str | None
    text: str
    spoken: bool = True


@dataclass
class OutputItemAdded(Notice):
    response_id: str
    item_id: str | None
    item_type: str
    output_index: int | None


@dataclass
class OutputItemDone(Notice):
    response_id: str
    item_id: str | None
    item_type: str
    output_index: int | None
    status: str | None


@dataclass
class FunctionCallReady(Notice):
    call: FunctionCall


@dataclass
class ResponseDone(Notice):
    """A response finished. ``messages``: (item id, spoken transcript or None) of each message
    item in its output."""

    response_id: str
    status: str
    reason: str | None = None
    messages: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass
class IdleTimeout(Notice):
    """The server's idle timeout fired on the caller's silence (it may answer on its own)."""


@dataclass
class InputCommitted(Notice):
    item_id: str | None


@dataclass
class InputTranscriptDelta(Notice):
    item_id: str | None
    text: str


@dataclass
class InputTranscriptDone(Notice):
    item_id: str | None
    transcript: str


@dataclass
class ServerError(Notice):
    type: str | None
    code: str | None
    message: str


@dataclass
class Received:
    """One parsed frame: the GA-normalised event, the wire type when it differed, the notices."""

    event: dict[str, Any]
    raw_type: str | None
    notices: list[Notice]

    @property
    def type(self) -> str:
        return _event_type(self.event)


# --------------------------------------------------------------------------- state machine


class RealtimeProtocol:
    """Client-side state of one Realtime session (sans-I/O)."""

    def __init__(self, dialect: Dialect = "ga"):
        self.dialect: Dialect = dialect
        self.session: dict[str, Any] | None = None
        self.session_ready = False
        self.responses: dict[str, ResponseState] = {}
        self.calls: dict[str, FunctionCall] = {}
        self.speech_active = False
        self.errors: list[ServerError] = []

    # ------------------------------------------------------------------ client events

    def session_update(self, config: AgentConfig, instructions: str | None) -> SessionUpdate:
        return {"type": "session.update",
                "session": session_config(config, instructions, self.dialect)}

    @staticmethod
    def append_text(audio_b64: str) -> str:
        """The wire text of an ``input_audio_buffer.append`` (built by hand: it is the hot path)."""
        return '{"type":"input_audio_buffer.append","audio":"' + audio_b64 + '"}'

    @staticmethod
    def commit() -> InputAudioBufferCommit:
        return {"type": "input_audio_buffer.commit"}

    @staticmethod
    def response_create() -> ResponseCreate:
        return {"type": "response.create"}

    @staticmethod
    def response_cancel(response_id: str | None = None) -> ResponseCancel:
        event: ResponseCancel = {"type": "response.cancel"}
        if response_id is not None:
            event["response_id"] = response_id
        return event

    @staticmethod
    def truncate(item_id: str, audio_end_ms: int) -> ConversationItemTruncate:
        return {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0,
                "audio_end_ms": int(audio_end_ms)}

    @staticmethod
    def function_output(call_id: str, output: Any) -> ConversationItemCreate:
        return {"type": "conversation.item.create",
                "item": {"type": "function_call_output", "call_id": call_id,
                         "output": json.dumps(output)}}

    # ------------------------------------------------------------------ queries

    def in_progress(self) -> list[ResponseState]:
        return [r for r in self.responses.values() if r.in_progress]

    # ------------------------------------------------------------------ received events

    def _response(self, response_id: str | None, t_ms: float) -> ResponseState:
        rid = response_id or UNKNOWN_RESPONSE
        state = self.responses.get(rid)
        if state is None:
            state = self.responses[rid] = ResponseState(rid, t_ms)
        return state

    def _call_seen(self, call_id: str, name: str, arguments: str, response_id: str | None,
                   item_id: str | None, t_ms: float, notices: list[Notice]) -> None:
        if call_id in self.calls:
            return
        call = self.calls[call_id] = FunctionCall(call_id, name, arguments, response_id, item_id)
        if response_id is not None:
            self._response(response_id, t_ms).call_ids.append(call_id)
        notices.append(FunctionCallReady(call))

    def _call_from_item(self, item: Any, response_id: str | None, t_ms: float,
                        notices: list[Notice]) -> None:
        if (isinstance(item, dict) and item.get("type") == "function_call"
                and item.get("call_id") and item.get("status", "completed") == "completed"):
            self._call_seen(item["call_id"], item.get("name", ""), item.get("arguments") or "",
                            response_id, item.get("id"), t_ms, notices)

    def receive(self, text: str | bytes, t_ms: float) -> Received:
        """Parse one received frame at session time ``t_ms``; update the state."""
        try:
            raw = json.loads(text)
        except (json.JSONDecodeError, UnicodeDecodeError):
            err = ServerError("harness", "invalid_json", "the target sent a frame that is not JSON")
            self.errors.append(err)
            return Received({"type": "harness.invalid_frame", "text": str(text)[:200]}, None, [err])
        if not isinstance(raw, dict):
            err = ServerError("harness", "invalid_event",
                              "the target sent a JSON frame that is not an object")
            self.errors.append(err)
            return Received({"type": "harness.invalid_frame", "text": str(text)[:200]}, None, [err])
        return self.receive_event(raw, t_ms)

    def receive_event(self, raw: dict[str, Any], t_ms: float) -> Received:
        """Take one decoded event at session time ``t_ms`` (a recorded frame's ``event``, when a
        recording is replayed); update the state."""
        event = normalize_event(raw, self.dialect)
        type_ = _event_type(event)
        wire_type = _event_type(raw)
        raw_type = wire_type if wire_type != type_ else None
        notices: list[Notice] = []
        handler = _HANDLERS.get(type_)
        if handler is not None:
            handler(self, event, t_ms, notices)
        return Received(event, raw_type, notices)

    # handlers -----------------------------------------------------------

    def _on_session(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        self.session = _object(event.get("session"))
        if event["type"] == "session.updated":
            self.session_ready = True
            notices.append(SessionReady(self.session))

    def _on_speech_started(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        self.speech_active = True
        notices.append(SpeechStarted(event.get("item_id"), event.get("audio_start_ms")))

    def _on_speech_stopped(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        self.speech_active = False
        notices.append(SpeechStopped(event.get("item_id"), event.get("audio_end_ms")))

    def _on_response_created(self, event: dict[str, Any], t_ms: float,
                             notices: list[Notice]) -> None:
        rid = _object(event.get("response")).get("id")
        fresh = (rid or UNKNOWN_RESPONSE) not in self.responses
        state = self._response(rid, t_ms)
        if fresh:
            notices.append(ResponseCreated(state.id, announced=True))

    def _ensure_created(self, rid: str | None, t_ms: float, notices: list[Notice]) -> ResponseState:
        fresh = (rid or UNKNOWN_RESPONSE) not in self.responses
        state = self._response(rid, t_ms)
        if fresh:
            notices.append(ResponseCreated(state.id))
        return state

    def _on_audio_delta(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        state = self._ensure_created(event.get("response_id"), t_ms, notices)
        item_id = event.get("item_id") or f"{state.id}:audio"
        if item_id not in state.audio_items:
            state.audio_items.append(item_id)
        delta = event.get("delta")
        if isinstance(delta, dict):  # a recorded frame: the audio went to a track
            ref = delta.get("audio_ref")
            notices.append(AudioDelta(state.id, item_id, b"",
                                      ref if isinstance(ref, dict) else None))
            return
        try:
            data = base64.b64decode(delta or "")
        except (ValueError, TypeError):
            data = b""
        notices.append(AudioDelta(state.id, item_id, data))

    def _on_audio_done(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        state = self._ensure_created(event.get("response_id"), t_ms, notices)
        item_id = event.get("item_id") or f"{state.id}:audio"
        notices.append(AudioDone(state.id, item_id))

    def _on_transcript_delta(self, event: dict[str, Any], t_ms: float,
                             notices: list[Notice]) -> None:
        state = self._ensure_created(event.get("response_id"), t_ms, notices)
        text = event.get("delta") or ""
        state.transcript += text
        notices.append(TranscriptDelta(state.id, event.get("item_id"), text,
                                       spoken=event["type"] != "response.output_text.delta"))

    def _on_transcript_done(self, event: dict[str, Any], t_ms: float,
                            notices: list[Notice]) -> None:
        state = self._ensure_created(event.get("response_id"), t_ms, notices)
        spoken = event["type"] == "response.output_audio_transcript.done"
        text = event.get("transcript" if spoken else "text") or ""
        notices.append(TranscriptDone(state.id, event.get("item_id"), text, spoken=spoken))

    def _on_item_added(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        state = self._ensure_created(event.get("response_id"), t_ms, notices)
        item = _object(event.get("item"))
        notices.append(OutputItemAdded(state.id, item.get("id"), item.get("type", "message"),
                                       event.get("output_index")))

    def _on_args_done(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        rid = event.get("response_id")
        self._ensure_created(rid, t_ms, notices)
        if event.get("call_id"):
            self._call_seen(event["call_id"], event.get("name", ""), event.get("arguments") or "",
                            rid, event.get("item_id"), t_ms, notices)

    def _on_item_done(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        rid = event.get("response_id")
        state = self._ensure_created(rid, t_ms, notices)
        item = _object(event.get("item"))
        notices.append(OutputItemDone(state.id, item.get("id"), item.get("type", "message"),
                                      event.get("output_index"), item.get("status")))
        self._call_from_item(item, rid, t_ms, notices)

    def _on_response_done(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        response = _object(event.get("response"))
        state = self._ensure_created(response.get("id"), t_ms, notices)
        output = [item for item in response.get("output") or [] if isinstance(item, dict)]
        for item in output:
            self._call_from_item(item, state.id, t_ms, notices)
        if state.done_ms is None:
            state.done_ms = t_ms
            state.status = response.get("status") or "completed"
            details = response.get("status_details")
            reason = details.get("reason") if isinstance(details, dict) else None
            messages = [(item["id"], _spoken_transcript(item)) for item in output
                        if item.get("type") == "message" and item.get("id")]
            notices.append(ResponseDone(state.id, state.status, reason, messages))

    def _on_idle_timeout(self, event: dict[str, Any], t_ms: float,
                         notices: list[Notice]) -> None:
        notices.append(IdleTimeout())

    def _on_committed(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        notices.append(InputCommitted(event.get("item_id")))

    def _on_input_transcript_delta(self, event: dict[str, Any], t_ms: float,
                                   notices: list[Notice]) -> None:
        notices.append(InputTranscriptDelta(event.get("item_id"), event.get("delta") or ""))

    def _on_input_transcript_done(self, event: dict[str, Any], t_ms: float,
                                  notices: list[Notice]) -> None:
        notices.append(InputTranscriptDone(event.get("item_id"), event.get("transcript") or ""))

    def _on_error(self, event: dict[str, Any], t_ms: float, notices: list[Notice]) -> None:
        error = _object(event.get("error"))
        err = ServerError(error.get("type"), error.get("code"),
                          str(error.get("message") or "error event without a message"))
        self.errors.append(err)
        notices.append(err)


def _event_type(event: dict[str, Any]) -> str:
    """An event's ``type``; "" when it has none or one that is not a string."""
    type_ = event.get("type")
    return type_ if isinstance(type_, str) else ""


def _object(value: Any) -> dict[str, Any]:
    """A JSON value that should be an object, or an empty one when it is not."""
    return value if isinstance(value, dict) else {}


def _spoken_transcript(item: dict[str, Any]) -> str | None:
    """The transcript of a message item's audio content, when the item carries one."""
    for part in item.get("content") or []:
        if (isinstance(part, dict) and part.get("type") in ("output_audio", "audio")
                and part.get("transcript")):
            return str(part["transcript"])
    return None


_HANDLERS = {
    "session.created": RealtimeProtocol._on_session,
    "session.updated": RealtimeProtocol._on_session,
    "input_audio_buffer.speech_started": RealtimeProtocol._on_speech_started,
    "input_audio_buffer.speech_stopped": RealtimeProtocol._on_speech_stopped,
    "response.created": RealtimeProtocol._on_response_created,
    AUDIO_DELTA: RealtimeProtocol._on_audio_delta,
    "response.output_audio.done": RealtimeProtocol._on_audio_done,
    "response.output_audio_transcript.delta": RealtimeProtocol._on_transcript_delta,
    "response.output_text.delta": RealtimeProtocol._on_transcript_delta,
    "response.output_audio_transcript.done": RealtimeProtocol._on_transcript_done,
    "response.output_text.done": RealtimeProtocol._on_transcript_done,
    "response.function_call_arguments.done": RealtimeProtocol._on_args_done,
    "response.output_item.added": RealtimeProtocol._on_item_added,
    "response.output_item.done": RealtimeProtocol._on_item_done,
    "response.done": RealtimeProtocol._on_response_done,
    "input_audio_buffer.timeout_triggered": RealtimeProtocol._on_idle_timeout,
    "input_audio_buffer.committed": RealtimeProtocol._on_committed,
    "conversation.item.input_audio_transcription.delta":
        RealtimeProtocol._on_input_transcript_delta,
    "conversation.item.input_audio_transcription.completed":
        RealtimeProtocol._on_input_transcript_done,
    "error": RealtimeProtocol._on_error,
}
