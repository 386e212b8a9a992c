"""The agent's Realtime protocol core, without I/O: client frames in, server events out.

:class:`AgentProtocol` parses and checks client events, keeps the session configuration and the
conversation (items and responses), and builds every server event the client sees. It never
waits, reads a clock or touches a socket: what needs audio processing, transcription or a
response task comes back from :meth:`AgentProtocol.receive` as a request for the layers above
(``listener``, ``responder``), which call the core's ``emit``-ing methods to say what happened.
Events go to a sink callback when one is set (the connection), else into an outbox that
:meth:`AgentProtocol.events_to_send` drains (tests).
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness import audio
from harness.agent import config
from harness.agent.conversation import (
    ClientEventError,
    Item,
    Response,
    spoken_text,
    word_deltas,
)
from harness.agent.events import error_event, new_id, obfuscation, server_event
from harness.agent.response_events import ResponseEvents


@dataclass(frozen=True)
class AudioAppended:
    """Caller audio decoded from ``input_audio_buffer.append`` (input rate, PCM16)."""

    samples: np.ndarray


@dataclass(frozen=True)
class CommitRequested:
    """``input_audio_buffer.commit``: the listener checks the buffer and commits it."""

    event_id: str | None


@dataclass(frozen=True)
class ClearRequested:
    """``input_audio_buffer.clear``."""


@dataclass(frozen=True)
class SessionChanged:
    """``session.update`` took effect; which parts the listener and responder must follow."""

    format_changed: bool
    turn_detection_changed: bool
    tools_changed: bool


@dataclass(frozen=True)
class UserAudioAdded:
    """A user message with audio was created by the client: it needs a transcript."""

    item: Item


@dataclass(frozen=True)
class ItemTruncated:
    """The client cut an agent message at ``audio_end_ms`` (what it actually played)."""

    item: Item
    audio_end_ms: int


@dataclass(frozen=True)
class ResponseRequested:
    """``response.create`` passed its checks; ``input_items`` replace the conversation."""

    params: dict[str, Any]
    input_items: list[Item] | None


@dataclass(frozen=True)
class CancelRequested:
    """``response.cancel`` of a response in progress."""

    response: Response


Request = (AudioAppended | CommitRequested | ClearRequested | SessionChanged | UserAudioAdded
           | ItemTruncated | ResponseRequested | CancelRequested)


class AgentProtocol(ResponseEvents):
    """Session configuration, conversation and server events of one connection (no I/O)."""

    def __init__(self, model: str) -> None:
        self.session = config.default_session(model)
        self.conversation_id = new_id("conv")
        self.items: list[Item] = []
        self.responses: list[Response] = []
        self.response: Response | None = None  # the default-conversation response in progress
        self.sink: Callable[[dict[str, Any]], None] | None = None
        self._outbox: list[dict[str, Any]] = []
        self._odd_byte = b""

    # ----------------------------------------------------------------------- events out

    def emit(self, event: dict[str, Any]) -> None:
        """Send a server event (to the sink, or into the outbox)."""
        if self.sink is not None:
            self.sink(event)
        else:
            self._outbox.append(event)

    def events_to_send(self) -> list[dict[str, Any]]:
        """Server events emitted since the last call (when no sink is set)."""
        out, self._outbox = self._outbox, []
        return out

    def error(self, message: str, *, code: str, param: str | None = None,
              client_event_id: str | None = None, error_type: str | None = None) -> None:
        """An ``error`` event."""
        extra = {"error_type": error_type} if error_type else {}
        self.emit(error_event(message, code=code, param=param, client_event_id=client_event_id,
                              **extra))

    def reject(self, exc: ClientEventError | config.ConfigError,
               client_event_id: str | None) -> None:
        """Answer a client event that failed its checks with an ``error`` event."""
        self.error(exc.message, code=exc.code, param=exc.param, client_event_id=client_event_id)

    def created(self) -> None:
        """``session.created``: the first event of a connection."""
        self.emit(server_event("session.created", session=copy.deepcopy(self.session)))

    # ----------------------------------------------------------------------- events in

    def receive(self, message: str | bytes) -> list[Request]:
        """Handle one client frame; bad events get an ``error`` event, the session goes on."""
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError) as exc:
            self.error(f"Invalid JSON in client event: {exc}", code="invalid_json")
            return []
        if not isinstance(event, dict):
            self.error("Invalid client event: expected a JSON object.", code="invalid_json")
            return []
        client_event_id = event.get("event_id")
        event_type = event.get("type")
        handlers = self._handlers()
        handler = handlers.get(event_type) if isinstance(event_type, str) else None
        if handler is None:
            self.error(f"Invalid value: {event_type!r}. Supported values are: "
                       + ", ".join(f"'{t}'" for t in handlers) + ".",
                       code="invalid_value", param="type", client_event_id=client_event_id)
            return []
        try:
            return handler(event)
        except (ClientEventError, config.ConfigError) as exc:
            self.reject(exc, client_event_id)
            return []

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], list[Request]]]:
        return {
            "session.update": self._on_session_update,
            "input_audio_buffer.append": self._on_append,
            "input_audio_buffer.commit": lambda e: [CommitRequested(e.get("event_id"))],
            "input_audio_buffer.clear": lambda e: [ClearRequested()],
            "conversation.item.create": self._on_item_create,
            "conversation.item.truncate": self._on_truncate,
            "conversation.item.delete": self._on_delete,
            "conversation.item.retrieve": self._on_retrieve,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
        }

    @property
    def input_rate(self) -> int:
        return config.FORMAT_RATES[self.session["audio"]["input"]["format"]["type"]]

    @property
    def transcription(self) -> dict[str, Any] | None:
        """The session's input transcription settings (None: no transcription events)."""
        return self.session["audio"]["input"]["transcription"]

    @property
    def tools(self) -> list[dict[str, Any]]:
        return self.session["tools"]

    def _on_session_update(self, event: dict[str, Any]) -> list[Request]:
        old = self.session
        self.session = config.apply_update(self.session, event.get("session"))
        old_input, new_input = old["audio"]["input"], self.session["audio"]["input"]
        format_changed = old_input["format"] != new_input["format"]
        if format_changed:
            self._odd_byte = b""
        self.emit(server_event("session.updated", session=copy.deepcopy(self.session)))
        return [SessionChanged(
            format_changed=format_changed,
            turn_detection_changed=old_input["turn_detection"] != new_input["turn_detection"],
            tools_changed=old["tools"] != self.session["tools"])]

    def decode_input(self, raw: bytes) -> np.ndarray:
        """Caller audio bytes in the session's input format → PCM16 samples."""
        kind = self.session["audio"]["input"]["format"]["type"]
        if kind == "audio/pcm":
            data = self._odd_byte + raw
            # PCM16 frames may straddle appends; keep an odd trailing byte for the next one.
            self._odd_byte = data[len(data) - len(data) % 2:]
            return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.int16)
        return audio.decode_g711(raw, "ulaw" if kind == "audio/pcmu" else "alaw")

    def _on_append(self, event: dict[str, Any]) -> list[Request]:
        payload = event.get("audio")
        if not isinstance(payload, str):
            raise ClientEventError("Missing required parameter: 'audio'.",
                                   code="missing_required_parameter", param="audio")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ClientEventError("Invalid 'audio'. Expected base64-encoded audio bytes.",
                                   code="invalid_value", param="audio") from None
        samples = self.decode_input(raw)
        return [AudioAppended(samples)] if len(samples) else []

    # ----------------------------------------------------------------------- conversation

    def find(self, item_id: Any, param: str) -> Item:
        """The conversation item ``item_id`` (else the error the service gives)."""
        for item in self.items:
            if item.id == item_id:
                return item
        raise ClientEventError(f"Invalid '{param}': no item with id {item_id!r} in the "
                               "conversation.", code="item_not_found", param=param)

    def _on_item_create(self, event: dict[str, Any]) -> list[Request]:
        raw = event.get("item")
        if not isinstance(raw, dict):
            raise ClientEventError("Missing required parameter: 'item'.",
                                   code="missing_required_parameter", param="item")
        kind = raw.get("type", "message")
        item_id = raw.get("id") or new_id("item")
        if kind == "message":
            role = raw.get("role")
            if role not in ("user", "system", "assistant"):
                raise ClientEventError("Invalid 'item.role': expected 'user', 'system' or "
                                       "'assistant'.", code="invalid_value", param="item.role")
            item = self._message_item(item_id, role, raw.get("content"))
        elif kind == "function_call_output":
            if not isinstance(raw.get("call_id"), str):
                raise ClientEventError("Missing required parameter: 'item.call_id'.",
                                       code="missing_required_parameter", param="item.call_id")
            output = raw.get("output", "")
            item = Item(id=item_id, type="function_call_output", call_id=raw["call_id"],
                        output=output if isinstance(output, str) else json.dumps(output))
        elif kind == "function_call":
            item = Item(id=item_id, type="function_call", name=raw.get("name"),
                        call_id=raw.get("call_id") or new_id("call"),
                        arguments=raw.get("arguments", "{}"), consumed=True)
        else:
            raise ClientEventError(f"Invalid 'item.type': {kind!r}.", code="invalid_value",
                                   param="item.type")
        previous_id = event.get("previous_item_id")
        if previous_id is None or previous_id == (self.items[-1].id if self.items else None):
            index = len(self.items)
        elif previous_id == "root":
            index = 0
        else:
            index = self.items.index(self.find(previous_id, "previous_item_id")) + 1
        previous = self.items[index - 1].id if index > 0 else None
        self.items.insert(index, item)
        self.emit(server_event("conversation.item.added", previous_item_id=previous,
                               item=item.public()))
        self.emit(server_event("conversation.item.done", previous_item_id=previous,
                               item=item.public()))
        if item.audio is not None and item.role == "user":
            return [UserAudioAdded(item)]
        return []

    def _message_item(self, item_id: str, role: str, content: Any) -> Item:
        if not isinstance(content, list) or not content:
            raise ClientEventError("Missing required parameter: 'item.content'.",
                                   code="missing_required_parameter", param="item.content")
        item = Item(id=item_id, type="message", role=role, consumed=role != "user")
        for i, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind in ("input_text", "text", "output_text"):
                item.content.append({"type": kind, "text": str(part.get("text", ""))})
            elif kind == "input_audio" and role == "user":
                try:
                    raw = base64.b64decode(part.get("audio", ""), validate=True)
                except (binascii.Error, ValueError):
                    raise ClientEventError(
                        "Invalid 'item.content.audio'. Expected base64-encoded audio bytes.",
                        code="invalid_value", param=f"item.content[{i}].audio") from None
                self._odd_byte = b""
                item.audio = self.decode_input(raw)
                item.audio_rate = self.input_rate
                item.content.append({"type": "input_audio", "transcript": None})
            else:
                raise ClientEventError(f"Invalid 'item.content[{i}].type': {kind!r}.",
                                       code="invalid_value", param=f"item.content[{i}].type")
        if item.role == "user" and item.audio is None:
            item.transcript = " ".join(p["text"] for p in item.content if "text" in p)
        return item

    def _on_truncate(self, event: dict[str, Any]) -> list[Request]:
        item = self.find(event.get("item_id"), "item_id")
        audio_end_ms = event.get("audio_end_ms")
        content_index = event.get("content_index", 0)
        if item.role != "assistant" or item.audio is None:
            raise ClientEventError("Invalid 'item_id': only assistant messages with audio can "
                                   "be truncated.", code="invalid_value", param="item_id")
        if content_index != 0:
            raise ClientEventError("Invalid 'content_index': the item has one content part.",
                                   code="invalid_value", param="content_index")
        if not isinstance(audio_end_ms, int) or audio_end_ms < 0:
            raise ClientEventError("Invalid 'audio_end_ms': expected a non-negative integer.",
                                   code="invalid_value", param="audio_end_ms")
        if audio_end_ms > item.audio_ms:
            raise ClientEventError(
                f"Audio content of {item.audio_ms:.0f}ms is shorter than {audio_end_ms}ms.",
                code="invalid_value", param="audio_end_ms")
        item.audio = item.audio[: int(audio_end_ms * item.audio_rate / 1000)]
        item.content[0]["transcript"] = spoken_text(item, audio_end_ms)
        self.emit(server_event("conversation.item.truncated", item_id=item.id,
                               content_index=content_index, audio_end_ms=audio_end_ms))
        return [ItemTruncated(item, audio_end_ms)]

    def _on_delete(self, event: dict[str, Any]) -> list[Request]:
        item = self.find(event.get("item_id"), "item_id")
        self.items.remove(item)
        self.emit(server_event("conversation.item.deleted", item_id=item.id))
        return []

    def _on_retrieve(self, event: dict[str, Any]) -> list[Request]:
        item = self.find(event.get("item_id"), "item_id")
        public = item.public()
        if item.type == "message" and item.audio is not None and item.role == "user":
            public["content"][0]["audio"] = base64.b64encode(
                item.audio.astype("<i2").tobytes()).decode()
        self.emit(server_event("conversation.item.retrieved", item=public))
        return []

    # ----------------------------------------------------------------------- input buffer

    def speech_started(self, audio_start_ms: int, item_id: str) -> None:
        self.emit(server_event("input_audio_buffer.speech_started",
                               audio_start_ms=audio_start_ms, item_id=item_id))

    def speech_stopped(self, audio_end_ms: int, item_id: str) -> None:
        self.emit(server_event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms,
                               item_id=item_id))

    def timeout_triggered(self, start_ms: int, end_ms: int, item_id: str) -> None:
        self.emit(server_event("input_audio_buffer.timeout_triggered", audio_start_ms=start_ms,
                               audio_end_ms=end_ms, item_id=item_id))

    def buffer_cleared(self) -> None:
        self.emit(server_event("input_audio_buffer.cleared"))

    def commit_audio(self, item_id: str, pcm: np.ndarray, *, no_input: bool = False) -> Item:
        """A committed input buffer becomes a user message (its transcript comes later)."""
        previous = self.items[-1].id if self.items else None
        item = Item(id=item_id, type="message", role="user",
                    content=[{"type": "input_audio", "transcript": None}],
                    audio=pcm, audio_rate=self.input_rate, no_input=no_input)
        self.items.append(item)
        self.emit(server_event("input_audio_buffer.committed", previous_item_id=previous,
                               item_id=item_id))
        self.emit(server_event("conversation.item.added", previous_item_id=previous,
                               item=item.public()))
        self.emit(server_event("conversation.item.done", previous_item_id=previous,
                               item=item.public()))
        return item

    # ----------------------------------------------------------------------- transcription

    def transcribed(self, item: Item, text: str) -> None:
        """A user message's transcript is known: its deltas go out now, "completed" with the
        first audio of a response answering it (as the service does) or at once otherwise."""
        if self.transcription is not None and not item.no_input:
            for delta in word_deltas(text, leading_space=True):
                self.emit(server_event(
                    "conversation.item.input_audio_transcription.delta", item_id=item.id,
                    content_index=0, delta=delta, obfuscation=obfuscation(delta)))
            item.transcription_pending = True
        item.content[0]["transcript"] = text if self.transcription else None
        if item.transcript is None:
            item.transcript = text
        if not any(item in r.consumed_items and not r.done for r in self.responses):
            self.flush_transcription(item)

    def transcription_failed(self, item: Item, message: str) -> None:
        if self.transcription is not None:
            self.emit(server_event(
                "conversation.item.input_audio_transcription.failed", item_id=item.id,
                content_index=0, error={"type": "transcription_error",
                                        "code": "transcription_failed",
                                        "message": message, "param": None}))

    def flush_transcription(self, item: Item) -> None:
        """Send a pending ``input_audio_transcription.completed``."""
        if not item.transcription_pending:
            return
        item.transcription_pending = False
        self.emit(server_event(
            "conversation.item.input_audio_transcription.completed", item_id=item.id,
            content_index=0, transcript=item.transcript or "",
            usage={"type": "duration", "seconds": max(1, round(item.audio_ms / 1000))}))

    # ----------------------------------------------------------------------- responses

    def _on_response_create(self, event: dict[str, Any]) -> list[Request]:
        params = event.get("response") or {}
        if not isinstance(params, dict):
            raise ClientEventError("Invalid 'response': expected an object.",
                                   code="invalid_value", param="response")
        conversation = params.get("conversation", "auto")
        if conversation not in ("auto", "none"):
            raise ClientEventError("Invalid 'response.conversation': expected 'auto' or 'none'.",
                                   code="invalid_value", param="response.conversation")
        if conversation == "auto" and self.response is not None:
            raise ClientEventError(
                "Conversation already has an active response in progress: "
                f"{self.response.id}. Wait until the response is finished before creating a "
                "new one.", code="conversation_already_has_active_response")
        if "output_modalities" in params:
            config.output_modalities(params["output_modalities"], "response.output_modalities")
        if "tool_choice" in params:
            config.tool_choice(params["tool_choice"], "response.tool_choice")
        input_items = None
        if params.get("input") is not None:
            if not isinstance(params["input"], list):
                raise ClientEventError("Invalid 'response.input': expected an array.",
                                       code="invalid_value", param="response.input")
            input_items = [self._response_input(raw, i) for i, raw in enumerate(params["input"])]
        return [ResponseRequested(params, input_items)]

    def _response_input(self, raw: Any, index: int) -> Item:
        param = f"response.input[{index}]"
        if not isinstance(raw, dict):
            raise ClientEventError(f"Invalid '{param}': expected an object.",
                                   code="invalid_value", param=param)
        if raw.get("type") == "item_reference":
            return self.find(raw.get("id"), f"{param}.id")
        if raw.get("type", "message") != "message":
            raise ClientEventError(f"Invalid '{param}.type': expected 'message' or "
                                   "'item_reference'.", code="invalid_value",
                                   param=f"{param}.type")
        return self._message_item(raw.get("id") or new_id("item"), raw.get("role", "user"),
                                  raw.get("content"))

    def _on_response_cancel(self, event: dict[str, Any]) -> list[Request]:
        wanted = event.get("response_id")
        candidates = [r for r in self.responses if wanted in (None, r.id)]
        if wanted is None and self.response is not None:
            candidates = [self.response]
        if not candidates:
            raise ClientEventError("Cancellation failed: no active response found",
                                   code="response_cancel_not_active")
        return [CancelRequested(candidates[0])]
