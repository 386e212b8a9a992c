"""One Realtime (GA) session of the local agent: client events in, server events out.

The session owns the input audio buffer and its VAD, the conversation, and the responses. Each
response runs as a task: it waits for the transcript of the turn it answers, asks the dialogue
policy what to do, then speaks (TTS sentence by sentence, streamed faster than real time) and/or
calls tools. Everything the client sees goes through :meth:`AgentSession.emit`, in order.

The agent estimates where the client's playback is (a client plays a response's audio from its
first delta at real-time rate); the idle timeout and the ``ignore_barge_in`` fault use it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness import audio
from harness.agent import asr, config, tts
from harness.agent.events import (
    audio_tokens,
    error_event,
    new_id,
    obfuscation,
    rate_limits,
    server_event,
    text_tokens,
    usage,
)
from harness.agent.faults import INVENTED_TOOL, FaultInjector
from harness.agent.vad import (
    CALLER_TURN_GATE_DB,
    SpeechPaused,
    SpeechStarted,
    SpeechStopped,
    VoiceActivityDetector,
    follow_level,
)

# The smallest buffer the service commits by hand.
MIN_COMMIT_MS = 100
# Audio before the current turn kept in the input buffer (the service's buffer is unbounded;
# a long silent stretch need not be kept whole).
_MAX_IDLE_BUFFER_MS = 30_000
# Trailing silence given to the speculative transcript so the last word is not clipped.
_SPECULATION_TAIL_MS = 150
_SAY_INSTRUCTION = re.compile(r"^\s*say(?:\s+exactly)?\s*:?\s*[\"“'](.+?)[\"”']\s*\.?\s*$",
                              re.IGNORECASE | re.DOTALL)
log = logging.getLogger(__name__)


@dataclass
class Item:
    """A conversation item plus what the agent needs to know about it."""

    id: str
    type: str
    role: str | None = None
    status: str = "completed"
    content: list[dict[str, Any]] = field(default_factory=list)
    name: str | None = None
    call_id: str | None = None
    arguments: str | None = None
    output: str | None = None
    # user audio (input rate) or agent audio (24 kHz PCM16)
    audio: np.ndarray | None = None
    audio_rate: int = 24000
    # agent speech: (start_ms, end_ms, text) per sentence, on the item's own audio
    sentences: list[tuple[float, float, str]] = field(default_factory=list)
    transcript: asyncio.Future[str] | None = None
    no_input: bool = False
    addressed: bool = True
    consumed: bool = False
    transcription_pending: bool = False
    play_start: float | None = None  # loop time its audio starts playing at the client

    def public(self) -> dict[str, Any]:
        """The item as the service shows it."""
        if self.type == "message":
            return {"id": self.id, "type": "message", "status": self.status, "role": self.role,
                    "content": copy.deepcopy(self.content)}
        if self.type == "function_call":
            return {"id": self.id, "type": "function_call", "status": self.status,
                    "name": self.name, "call_id": self.call_id, "arguments": self.arguments}
        return {"id": self.id, "type": "function_call_output", "call_id": self.call_id,
                "output": self.output}

    @property
    def audio_ms(self) -> float:
        return 0.0 if self.audio is None else len(self.audio) * 1000.0 / self.audio_rate


@dataclass
class Response:
    """One response in progress."""

    id: str
    in_conversation: bool
    modalities: list[str]
    voice: str
    speed: float
    output_format: dict[str, Any]
    metadata: Any
    instructions: str | None
    tool_choice: Any
    input_items: list[Item] | None
    output: list[Item] = field(default_factory=list)
    open_item: Item | None = None
    task: asyncio.Task[None] | None = None
    done: bool = False
    consumed_items: list[Item] = field(default_factory=list)
    input_tokens: tuple[int, int] = (0, 0)
    spoken: bool = False  # audio of it has been synthesised: the next sentence is not its head

    def public(self, status: str, status_details: Any = None,
               usage_block: Any = None) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": status_details,
            "output": [item.public() for item in self.output],
            "conversation_id": None,
            "output_modalities": list(self.modalities),
            "max_output_tokens": "inf",
            "audio": {"output": {"format": dict(self.output_format), "voice": self.voice}},
            "usage": usage_block,
            "metadata": self.metadata,
        }


@dataclass(frozen=True)
class _Said:
    """A sentence dictated by a response's instructions ("Say 'Hello.'"), spoken as is."""

    text: str


class ClientEventError(Exception):
    """A client event the service would answer with an ``error`` event."""

    def __init__(self, message: str, *, code: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


PolicyFactory = Callable[[list[dict[str, Any]], Any], Any]


class AgentSession:
    """Serves one WebSocket connection; :meth:`run` returns when the connection ends."""

    def __init__(
        self,
        websocket: Any,
        *,
        model: str,
        faults: Any,
        policy_factory: PolicyFactory,
        audio_speed: float,
        delta_ms: int,
    ) -> None:
        self.ws = websocket
        self.faults = faults
        self.injector = FaultInjector(faults)
        self.policy_factory = policy_factory
        self.audio_speed = audio_speed
        self.delta_ms = delta_ms
        self.session = config.default_session(model)
        self.conversation_id = new_id("conv")
        self.items: list[Item] = []
        self.responses: list[Response] = []
        self.response: Response | None = None  # the default-conversation response in progress
        self.policy: Any = None
        self._loop = asyncio.get_running_loop()
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._odd_byte = b""
        self._buffer: list[np.ndarray] = []
        self._buffer_start_ms = 0.0
        self._stream_ms = 0.0
        self._speech_item_id: str | None = None
        self._speech_start_ms = 0
        self._speculation: tuple[int, asyncio.Task[str]] | None = None
        self._playback_end = 0.0  # loop time the client's playback of agent audio ends
        self._idle_from_ms: float | None = None
        self._hold_until_ms: float | None = None
        # Resolved True when a held utterance's time is up, False when the caller goes on.
        self._hold_expiry: asyncio.Future[bool] | None = None
        self._interrupted: tuple[Item, float] | None = None
        self._deferred_vad: list[Any] = []
        self._malformed_sent = False
        self.vad: VoiceActivityDetector | None = None
        self._vad_origin_ms = 0.0
        self._caller_level_db: float | None = None
        self._caller_turn_level_db: float | None = None
        self._rebuild_vad()

    # ----------------------------------------------------------------------- plumbing

    def emit(self, event: dict[str, Any]) -> None:
        """Queue a server event for the client (sent in order by the writer task)."""
        self._out.put_nowait(json.dumps(event))
        for extra in self.injector.after_event(event):
            self._out.put_nowait(json.dumps(extra))
        if (event["type"] == "response.created" and self.faults.malformed_event
                and not self._malformed_sent):
            self._malformed_sent = True
            # A frame cut in the middle of a string: not JSON, as a broken proxy would send.
            broken = json.dumps(server_event("response.output_audio.delta",
                                             response_id=event["response"]["id"], delta="UklGR"))
            self._out.put_nowait(broken[: len(broken) // 2])

    def _error(self, message: str, *, code: str, param: str | None = None,
               client_event_id: str | None = None) -> None:
        self.emit(error_event(message, code=code, param=param, client_event_id=client_event_id))

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _writer(self) -> None:
        while True:
            frame = await self._out.get()
            if frame is None:
                return
            await self.ws.send(frame)

    async def run(self) -> None:
        """Serve the connection until the client leaves (or a fault drops it)."""
        writer = asyncio.ensure_future(self._writer())
        if self.faults.drop_connection_after_ms is not None:
            # An abrupt drop: the TCP connection goes away without a close frame.
            self._loop.call_later(self.faults.drop_connection_after_ms / 1000.0,
                                  self.ws.transport.abort)
        self.emit(server_event("session.created", session=self._session_public()))
        try:
            async for message in self.ws:
                self.handle(message)
        except Exception as exc:  # noqa: BLE001 - a dropped socket ends the session quietly
            if not _is_connection_closed(exc):
                raise
        finally:
            for response in list(self.responses):
                if response.task is not None:
                    response.task.cancel()
            for task in list(self._tasks):
                task.cancel()
            self._out.put_nowait(None)
            try:
                await writer
            except Exception as exc:  # noqa: BLE001
                if not _is_connection_closed(exc):
                    raise

    def _session_public(self) -> dict[str, Any]:
        return copy.deepcopy(self.session)

    # ----------------------------------------------------------------------- client events

    def handle(self, message: str | bytes) -> None:
        """Dispatch one client frame; bad events get an ``error`` event, the session goes on."""
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError) as exc:
            self._error(f"Invalid JSON in client event: {exc}", code="invalid_json")
            return
        if not isinstance(event, dict):
            self._error("Invalid client event: expected a JSON object.", code="invalid_json")
            return
        client_event_id = event.get("event_id")
        event_type = event.get("type")
        handler = self._handlers().get(event_type) if isinstance(event_type, str) else None
        if handler is None:
            self._error(f"Invalid value: {event_type!r}. Supported values are: "
                        + ", ".join(f"'{t}'" for t in self._handlers()) + ".",
                        code="invalid_value", param="type", client_event_id=client_event_id)
            return
        try:
            handler(event)
        except ClientEventError as exc:
            self._error(exc.message, code=exc.code, param=exc.param,
                        client_event_id=client_event_id)
        except config.ConfigError as exc:
            self._error(exc.message, code=exc.code, param=exc.param,
                        client_event_id=client_event_id)

    def _handlers(self) -> dict[str, Callable[[dict[str, Any]], None]]:
        return {
            "session.update": self._on_session_update,
            "input_audio_buffer.append": self._on_append,
            "input_audio_buffer.commit": self._on_commit,
            "input_audio_buffer.clear": self._on_clear,
            "conversation.item.create": self._on_item_create,
            "conversation.item.truncate": self._on_truncate,
            "conversation.item.delete": self._on_delete,
            "conversation.item.retrieve": self._on_retrieve,
            "response.create": self._on_response_create,
            "response.cancel": self._on_response_cancel,
        }

    def _on_session_update(self, event: dict[str, Any]) -> None:
        old = self.session
        self.session = config.apply_update(self.session, event.get("session"))
        old_input, new_input = old["audio"]["input"], self.session["audio"]["input"]
        if (old_input["format"] != new_input["format"]
                or old_input["turn_detection"] != new_input["turn_detection"]):
            if old_input["format"] != new_input["format"]:
                # The service fixes formats before audio flows; a change restarts the buffer.
                self._buffer, self._odd_byte = [], b""
                self._buffer_start_ms = self._stream_ms
            self._rebuild_vad()
        if self.policy is not None and old["tools"] != self.session["tools"]:
            self.policy = self.policy_factory(self.session["tools"], self.faults)
        self.emit(server_event("session.updated", session=self._session_public()))

    @property
    def input_rate(self) -> int:
        return config.FORMAT_RATES[self.session["audio"]["input"]["format"]["type"]]

    def _rebuild_vad(self) -> None:
        if self.vad is not None and self.vad.caller_level_db is not None:
            self._caller_level_db = self.vad.caller_level_db
        td = config.turn_detection(self.session)
        if td is None:
            self.vad = None
            return
        self.vad = VoiceActivityDetector(
            self.input_rate, threshold=td.threshold, prefix_padding_ms=td.prefix_padding_ms,
            silence_duration_ms=td.silence_duration_ms,
            caller_gate=not self.faults.talk_over_noise)
        self.vad.caller_level_db = self._caller_level_db
        # The VAD's clock restarts at zero; it reports times relative to now.
        self._vad_origin_ms = self._stream_ms
        self.vad.buffer_start_ms = int(self._buffer_start_ms - self._vad_origin_ms)

    def _decode_input(self, raw: bytes) -> np.ndarray:
        kind = self.session["audio"]["input"]["format"]["type"]
        if kind == "audio/pcm":
            data = self._odd_byte + raw
            # PCM16 frames may straddle appends; keep an odd trailing byte for the next one.
            self._odd_byte = data[len(data) - len(data) % 2:]
            return np.frombuffer(data[: len(data) - len(data) % 2], dtype="<i2").astype(np.int16)
        return audio.decode_g711(raw, "ulaw" if kind == "audio/pcmu" else "alaw")

    def _on_append(self, event: dict[str, Any]) -> None:
        payload = event.get("audio")
        if not isinstance(payload, str):
            raise ClientEventError("Missing required parameter: 'audio'.",
                                   code="missing_required_parameter", param="audio")
        try:
            raw = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ClientEventError("Invalid 'audio'. Expected base64-encoded audio bytes.",
                                   code="invalid_value", param="audio") from None
        samples = self._decode_input(raw)
        if not len(samples):
            return
        self._buffer.append(samples)
        self._stream_ms += len(samples) * 1000.0 / self.input_rate
        if self.vad is None:
            return
        recognizer = asr.loaded_recognizer()
        if recognizer is not None:
            # Speculate early enough for the transcript to be ready when the turn ends.
            self.vad.speculation_lead_ms = int(recognizer.recent_seconds * 1000) + 50
        for vad_event in self.vad.feed(samples):
            self._on_vad(vad_event)
        self._trim_buffer()
        self._check_hold()
        self._check_idle_timeout()

    def _trim_buffer(self) -> None:
        if self.vad is None or self.vad.speaking:
            return
        keep_from = self._stream_ms - _MAX_IDLE_BUFFER_MS
        if keep_from > self._buffer_start_ms + 5000:
            self._drop_buffer_until(keep_from)

    # ----------------------------------------------------------------------- VAD and turns

    def _audible(self) -> bool:
        return self._loop.time() < self._playback_end

    def _on_vad(self, vad_event: Any) -> None:
        if self._deferred_vad or (
                isinstance(vad_event, SpeechStarted) and self.faults.ignore_barge_in
                and self._audible()):
            # The agent does not listen while it talks: the turn is heard once it is done.
            if not self._deferred_vad:
                self._loop.call_at(self._playback_end, self._flush_deferred_vad)
            self._deferred_vad.append(vad_event)
            return
        origin = self._vad_origin_ms
        if isinstance(vad_event, SpeechStarted):
            self._on_speech_started(int(origin + vad_event.audio_start_ms))
        elif isinstance(vad_event, SpeechPaused):
            self._speculate(int(origin + vad_event.speech_end_ms))
        elif isinstance(vad_event, SpeechStopped):
            self._on_speech_stopped(int(origin + vad_event.audio_end_ms),
                                    int(origin + vad_event.speech_end_ms))

    def _flush_deferred_vad(self) -> None:
        if self._audible():
            self._loop.call_at(self._playback_end, self._flush_deferred_vad)
            return
        events, self._deferred_vad = self._deferred_vad, []
        for vad_event in events:
            self._on_vad(vad_event)

    def _on_speech_started(self, audio_start_ms: int) -> None:
        self._speech_item_id = new_id("item")
        self._speech_start_ms = audio_start_ms
        self._drop_speculation()
        self._idle_from_ms = None
        if self._hold_expiry is not None and not self._hold_expiry.done():
            # The caller goes on: the next turn's transcript joins the held words.
            self._hold_expiry.set_result(False)
        self.emit(server_event("input_audio_buffer.speech_started",
                               audio_start_ms=audio_start_ms, item_id=self._speech_item_id))
        td = config.turn_detection(self.session)
        if self._audible():
            self._note_interruption(self._loop.time())
            # The client stops its playback on speech_started.
            self._playback_end = self._loop.time()
        if (td is not None and td.interrupt_response and not self.faults.ignore_barge_in
                and self.response is not None):
            self._cancel(self.response, "turn_detected")

    def _note_interruption(self, at: float) -> None:
        for item in reversed(self.items):
            if item.type == "message" and item.role == "assistant" and item.play_start is not None:
                if item.play_start <= at:
                    self._interrupted = (item, (at - item.play_start) * 1000.0)
                return

    def _drop_speculation(self) -> None:
        # A queued transcription that nobody will read must not hold up the shared workers.
        if self._speculation is not None:
            self._speculation[1].cancel()
            self._speculation = None

    def _speculate(self, speech_end_ms: int) -> None:
        recognizer = asr.loaded_recognizer()
        if recognizer is None or not recognizer.idle:
            return  # speculation only uses spare capacity; the final transcript always runs
        self._drop_speculation()
        end = min(self._stream_ms, speech_end_ms + _SPECULATION_TAIL_MS)
        pcm = self._take_audio(self._speech_start_ms, end)
        self._speculation = (speech_end_ms, self._spawn(self._transcribe(pcm)))

    def _on_speech_stopped(self, audio_end_ms: int, speech_end_ms: int) -> None:
        item_id = self._speech_item_id or new_id("item")
        self._speech_item_id = None
        self.emit(server_event("input_audio_buffer.speech_stopped", audio_end_ms=audio_end_ms,
                               item_id=item_id))
        pcm = self._take_audio(self._speech_start_ms, audio_end_ms)
        speculation = self._speculation
        transcript_task = None
        if speculation is not None and speculation[0] == speech_end_ms:
            transcript_task, self._speculation = speculation[1], None
        self._drop_speculation()
        self._drop_buffer_until(audio_end_ms)
        item = self._commit(item_id, pcm, transcript_task)
        item.addressed = self._judge_turn(pcm)
        td = config.turn_detection(self.session)
        if td is not None and td.create_response and self.response is None:
            self._start_response({})

    def _judge_turn(self, pcm: np.ndarray) -> bool:
        """Whether a VAD turn is the caller talking to the agent, by its level (see ``vad``)."""
        level = audio.active_speech_level(pcm, self.input_rate)
        if self.faults.talk_over_noise or not np.isfinite(level):
            return True
        ref = self._caller_turn_level_db
        if ref is not None and level < ref - CALLER_TURN_GATE_DB:
            return False
        self._caller_turn_level_db = follow_level(ref, level)
        assert self.vad is not None
        self.vad.learn_caller_level()
        return True

    def _check_hold(self) -> None:
        """The policy held an unfinished utterance; the caller did not go on in time."""
        expiry = self._hold_expiry
        if expiry is None or expiry.done() or self._hold_until_ms is None:
            return
        if self._stream_ms < self._hold_until_ms or (self.vad is not None and self.vad.speaking):
            return
        expiry.set_result(True)

    def _check_idle_timeout(self) -> None:
        td = config.turn_detection(self.session)
        if td is None or td.idle_timeout_ms is None or self.vad is None or self.vad.speaking:
            return
        if self.response is not None or self._audible() or self._deferred_vad:
            return
        if self._idle_from_ms is None:
            return
        if self._stream_ms - self._idle_from_ms < td.idle_timeout_ms:
            return
        item_id = new_id("item")
        start_ms, end_ms = int(self._idle_from_ms), int(self._stream_ms)
        self._idle_from_ms = None
        self.emit(server_event("input_audio_buffer.timeout_triggered", audio_start_ms=start_ms,
                               audio_end_ms=end_ms, item_id=item_id))
        pcm = self._take_audio(start_ms, end_ms)
        self._drop_buffer_until(end_ms)
        self.vad.reset(int(end_ms - self._vad_origin_ms))
        self._commit(item_id, pcm, None, no_input=True)
        if td.create_response:
            self._start_response({})

    # ----------------------------------------------------------------------- input buffer

    def _take_audio(self, start_ms: float, end_ms: float) -> np.ndarray:
        if not self._buffer:
            return np.zeros(0, dtype=np.int16)
        data = np.concatenate(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        self._buffer = [data]
        rate = self.input_rate
        lo = max(0, int(round((start_ms - self._buffer_start_ms) * rate / 1000)))
        hi = max(lo, int(round((end_ms - self._buffer_start_ms) * rate / 1000)))
        return data[lo:hi].copy()

    def _drop_buffer_until(self, ms: float) -> None:
        rest = self._take_audio(ms, self._stream_ms)
        self._buffer = [rest] if len(rest) else []
        self._buffer_start_ms = self._stream_ms - len(rest) * 1000.0 / self.input_rate

    def _on_commit(self, event: dict[str, Any]) -> None:
        buffered_ms = self._stream_ms - self._buffer_start_ms
        if buffered_ms < MIN_COMMIT_MS:
            raise ClientEventError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty")
        pcm = self._take_audio(self._buffer_start_ms, self._stream_ms)
        self._drop_buffer_until(self._stream_ms)
        if self.vad is not None:
            self.vad.reset(int(self._stream_ms - self._vad_origin_ms))
        item_id = (self._speech_item_id if self.vad is not None and self.vad.speaking
                   and self._speech_item_id else new_id("item"))
        self._speech_item_id = None
        self._commit(item_id, pcm, None)

    def _on_clear(self, event: dict[str, Any]) -> None:
        self._buffer = []
        self._buffer_start_ms = self._stream_ms
        self._drop_speculation()
        if self.vad is not None:
            self.vad.reset(int(self._stream_ms - self._vad_origin_ms))
        self.emit(server_event("input_audio_buffer.cleared"))

    def _commit(self, item_id: str, pcm: np.ndarray, transcript_task: asyncio.Task[str] | None,
                *, no_input: bool = False) -> Item:
        previous = self.items[-1].id if self.items else None
        item = Item(id=item_id, type="message", role="user",
                    content=[{"type": "input_audio", "transcript": None}],
                    audio=pcm, audio_rate=self.input_rate, no_input=no_input)
        item.transcript = self._loop.create_future()
        self.items.append(item)
        self.emit(server_event("input_audio_buffer.committed", previous_item_id=previous,
                               item_id=item_id))
        self.emit(server_event("conversation.item.added", previous_item_id=previous,
                               item=item.public()))
        self.emit(server_event("conversation.item.done", previous_item_id=previous,
                               item=item.public()))
        self._spawn(self._transcribe_item(item, transcript_task))
        return item

    # ----------------------------------------------------------------------- transcription

    def _transcription_config(self) -> dict[str, Any] | None:
        return self.session["audio"]["input"]["transcription"]

    async def _transcribe(self, pcm: np.ndarray) -> str:
        settings = self._transcription_config() or {}
        # A session that gives no prompt gets its dialogue profile's: the setting of the call,
        # which helps a small recogniser with the call's words.
        profile = getattr(self._ensure_policy(), "profile", None)
        prompt = settings.get("prompt") or getattr(profile, "transcription_prompt", None)
        recognizer = await asyncio.to_thread(asr.get_recognizer)
        return await recognizer.transcribe(pcm, self.input_rate, prompt=prompt,
                                           language=settings.get("language"))

    async def _transcribe_item(self, item: Item, task: asyncio.Task[str] | None) -> None:
        assert item.transcript is not None
        if item.no_input:
            text = ""
        else:
            try:
                text = await (task if task is not None else self._transcribe(item.audio))
            except Exception as exc:  # noqa: BLE001 - the caller still gets an answer
                if self._transcription_config() is not None:
                    self.emit(server_event(
                        "conversation.item.input_audio_transcription.failed", item_id=item.id,
                        content_index=0, error={"type": "transcription_error",
                                                "code": "transcription_failed",
                                                "message": str(exc), "param": None}))
                text = ""
        if self._transcription_config() is not None and not item.no_input:
            for delta in _deltas(text, leading_space=True):
                self.emit(server_event(
                    "conversation.item.input_audio_transcription.delta", item_id=item.id,
                    content_index=0, delta=delta, obfuscation=obfuscation(delta)))
            item.transcription_pending = True
        item.content[0]["transcript"] = text if self._transcription_config() else None
        if not item.transcript.done():
            item.transcript.set_result(text)
        # A response answering this turn sends "completed" alongside its first audio, as the
        # service does; otherwise it goes out now.
        if not any(item in r.consumed_items and not r.done for r in self.responses):
            self._flush_transcription(item)

    def _flush_transcription(self, item: Item) -> None:
        if not item.transcription_pending:
            return
        item.transcription_pending = False
        text = item.transcript.result() if item.transcript and item.transcript.done() else ""
        self.emit(server_event(
            "conversation.item.input_audio_transcription.completed", item_id=item.id,
            content_index=0, transcript=text,
            usage={"type": "duration", "seconds": max(1, round(item.audio_ms / 1000))}))

    # ----------------------------------------------------------------------- conversation

    def _find(self, item_id: Any, param: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise ClientEventError(f"Invalid '{param}': no item with id {item_id!r} in the "
                               "conversation.", code="item_not_found", param=param)

    def _on_item_create(self, event: dict[str, Any]) -> None:
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
            index = self.items.index(self._find(previous_id, "previous_item_id")) + 1
        previous = self.items[index - 1].id if index > 0 else None
        self.items.insert(index, item)
        self.emit(server_event("conversation.item.added", previous_item_id=previous,
                               item=item.public()))
        self.emit(server_event("conversation.item.done", previous_item_id=previous,
                               item=item.public()))
        if item.audio is not None and item.role == "user":
            self._spawn(self._transcribe_item(item, None))

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
                item.audio = self._decode_input(raw)
                item.audio_rate = self.input_rate
                item.transcript = self._loop.create_future()
                item.content.append({"type": "input_audio", "transcript": None})
            else:
                raise ClientEventError(f"Invalid 'item.content[{i}].type': {kind!r}.",
                                       code="invalid_value", param=f"item.content[{i}].type")
        if item.role == "user" and item.transcript is None:
            item.transcript = self._loop.create_future()
            item.transcript.set_result(" ".join(p["text"] for p in item.content if "text" in p))
        return item

    def _on_truncate(self, event: dict[str, Any]) -> None:
        item = self._find(event.get("item_id"), "item_id")
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
        spoken = _spoken_text(item, audio_end_ms)
        item.content[0]["transcript"] = spoken
        if self._interrupted is None or self._interrupted[0] is item:
            self._interrupted = (item, float(audio_end_ms))
        if item.play_start is not None:
            self._playback_end = min(self._playback_end, self._loop.time())
        self.emit(server_event("conversation.item.truncated", item_id=item.id,
                               content_index=content_index, audio_end_ms=audio_end_ms))

    def _on_delete(self, event: dict[str, Any]) -> None:
        item = self._find(event.get("item_id"), "item_id")
        self.items.remove(item)
        self.emit(server_event("conversation.item.deleted", item_id=item.id))

    def _on_retrieve(self, event: dict[str, Any]) -> None:
        item = self._find(event.get("item_id"), "item_id")
        public = item.public()
        if item.type == "message" and item.audio is not None and item.role == "user":
            public["content"][0]["audio"] = base64.b64encode(
                item.audio.astype("<i2").tobytes()).decode()
        self.emit(server_event("conversation.item.retrieved", item=public))

    # ----------------------------------------------------------------------- responses

    def _on_response_create(self, event: dict[str, Any]) -> None:
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
        self._start_response(params, input_items)

    def _response_input(self, raw: Any, index: int) -> Item:
        param = f"response.input[{index}]"
        if not isinstance(raw, dict):
            raise ClientEventError(f"Invalid '{param}': expected an object.",
                                   code="invalid_value", param=param)
        if raw.get("type") == "item_reference":
            return self._find(raw.get("id"), f"{param}.id")
        if raw.get("type", "message") != "message":
            raise ClientEventError(f"Invalid '{param}.type': expected 'message' or "
                                   "'item_reference'.", code="invalid_value",
                                   param=f"{param}.type")
        return self._message_item(raw.get("id") or new_id("item"), raw.get("role", "user"),
                                  raw.get("content"))

    def _start_response(self, params: dict[str, Any],
                        input_items: list[Item] | None = None) -> None:
        if not self.injector.answers():
            return
        out_audio = self.session["audio"]["output"]
        audio_params = (params.get("audio") or {}).get("output") or {}
        response = Response(
            id=new_id("resp"),
            in_conversation=params.get("conversation", "auto") != "none",
            modalities=list(params.get("output_modalities") or self.session["output_modalities"]),
            voice=audio_params.get("voice", out_audio["voice"]),
            speed=float(out_audio.get("speed", 1.0)),
            output_format=audio_params.get("format", out_audio["format"]),
            metadata=params.get("metadata"),
            instructions=params.get("instructions"),
            tool_choice=params.get("tool_choice", self.session["tool_choice"]),
            input_items=input_items,
        )
        self.responses.append(response)
        if response.in_conversation:
            self.response = response
            self._idle_from_ms = None
            # The turns this response answers; their transcripts' "completed" events go out
            # with the response's first audio.
            response.consumed_items = [i for i in self.items if not i.consumed
                                       and i.type in ("message", "function_call_output")]
        created = response.public("in_progress")
        created["conversation_id"] = self.conversation_id if response.in_conversation else None
        self.emit(server_event("response.created", response=created))
        response.task = self._spawn(self._run_response(response))

    def _ensure_policy(self) -> Any:
        if self.policy is None:
            self.policy = self.policy_factory(self.session["tools"], self.faults)
        return self.policy

    async def _decide(self, response: Response) -> list[Any]:
        """Wait for the turn's transcript and ask the policy what to do."""
        if response.instructions:
            said = _SAY_INSTRUCTION.match(response.instructions)
            if said:
                return [_Said(said.group(1).strip())]
        policy = self._ensure_policy()
        if not response.in_conversation:
            # An out-of-band response must not move the conversation's state.
            policy = copy.deepcopy(policy)
            inputs = [i for i in response.input_items or [] if i.role == "user"] or [
                i for i in self.items if i.type == "message" and i.role == "user"][-1:]
        else:
            inputs = response.consumed_items
        texts: list[str] = []
        not_addressed: list[str] = []
        no_input = False
        actions: list[Any] = []
        for item in inputs:
            if item.type == "message":
                assert item.transcript is not None
                # Shielded: cancelling this response must not cancel the turn's transcript,
                # which the next response answers.
                text = await asyncio.shield(item.transcript)
                no_input = no_input or item.no_input
                if text:
                    (texts if item.addressed else not_addressed).append(text)
        if self._interrupted is not None and response.in_conversation:
            item, spoken_ms = self._interrupted
            self._interrupted = None
            policy.on_interrupted(_spoken_text(item, spoken_ms))
        if texts:
            actions.extend(policy.on_user_turn(" ".join(texts)))
        elif not_addressed:
            actions.extend(policy.on_user_turn(" ".join(not_addressed), addressed=False))
        elif no_input:
            actions.extend(policy.on_no_input())
        elif any(i.type == "message" for i in inputs) or not inputs:
            actions.extend(policy.on_user_turn(""))
        for item in inputs:
            if item.type == "function_call_output":
                call = next((i for i in self.items if i.type == "function_call"
                             and i.call_id == item.call_id), None)
                if call is None or call.name == INVENTED_TOOL:
                    # The invent_tool fault made that call, not the policy.
                    continue
                try:
                    arguments = json.loads(call.arguments or "{}")
                except ValueError:
                    arguments = {}
                actions.extend(policy.on_tool_output(call.name, arguments, item.output))
        if response.in_conversation:
            for item in inputs:
                item.consumed = True
            hold_ms = getattr(policy, "hold_ms", None)
            if not actions and hold_ms is not None:
                actions = await self._hold(policy, hold_ms)
        choice = response.tool_choice
        if choice == "none":
            actions = [a for a in actions if _is_say(a)]
        elif isinstance(choice, dict):
            actions = [a for a in actions if _is_say(a) or a.name == choice["name"]]
        response.input_tokens = (
            sum(text_tokens(t) for t in texts),
            sum(audio_tokens(i.audio_ms) for i in inputs if i.audio is not None))
        return actions

    async def _hold(self, policy: Any, hold_ms: int) -> list[Any]:
        """An unfinished utterance: the response stays open and silent, as a model still
        listening would, so the caller knows the agent owes an answer. When the caller goes on
        (speech starts; the response is usually cancelled then) the policy keeps the held words
        for the next turn; after ``hold_ms`` of stream time without that, it answers them."""
        self._hold_until_ms = self._stream_ms + hold_ms
        self._hold_expiry = expiry = self._loop.create_future()
        try:
            expired = await expiry
        finally:
            if self._hold_expiry is expiry:
                self._hold_expiry = self._hold_until_ms = None
        return list(policy.on_hold_expired()) if expired else []

    async def _run_response(self, response: Response) -> None:
        try:
            actions = self.injector.actions(await self._decide(response))
            delay_ms = self.faults.added_latency_ms
            if delay_ms and actions:
                await asyncio.sleep(delay_ms / 1000.0)
            pending_text: list[str] = []
            for action in [*actions, None]:
                if action is not None and _is_say(action):
                    pending_text.append(action.text)
                    continue
                if pending_text:
                    await self._say(response, " ".join(pending_text))
                    pending_text = []
                if action is not None:
                    self._call_tool(response, action)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the client must learn the response failed
            log.exception("response %s failed", response.id)
            error = {"type": "server_error", "code": "response_failed",
                     "message": f"The response failed: {exc}"}
            self.emit(error_event(error["message"], code="response_failed",
                                  error_type="server_error"))
            self._finish(response, "failed", details={"type": "failed", "error": error})
            return
        self._finish(response, "completed")

    def _add_output_item(self, response: Response, item: Item) -> None:
        response.output.append(item)
        self.emit(server_event("response.output_item.added", response_id=response.id,
                               output_index=len(response.output) - 1, item=item.public()))
        if response.in_conversation:
            previous = self.items[-1].id if self.items else None
            self.items.append(item)
            self.emit(server_event("conversation.item.added", previous_item_id=previous,
                                   item=item.public()))

    def _close_output_item(self, response: Response, item: Item, status: str) -> None:
        item.status = status
        index = response.output.index(item)
        if response.in_conversation:
            position = self.items.index(item) if item in self.items else 0
            previous = self.items[position - 1].id if position > 0 else None
            self.emit(server_event("conversation.item.done", previous_item_id=previous,
                                   item=item.public()))
        self.emit(server_event("response.output_item.done", response_id=response.id,
                               output_index=index, item=item.public()))

    async def _say(self, response: Response, text: str) -> None:
        audio_out = "audio" in response.modalities
        item = Item(id=new_id("item"), type="message", role="assistant", status="in_progress",
                    consumed=True)
        self._add_output_item(response, item)
        response.open_item = item
        index = len(response.output) - 1
        ids = {"response_id": response.id, "item_id": item.id, "output_index": index,
               "content_index": 0}
        part = {"type": "audio", "transcript": ""} if audio_out else {"type": "text", "text": ""}
        item.content = [{"type": "output_audio", "transcript": ""} if audio_out
                        else {"type": "output_text", "text": ""}]
        self.emit(server_event("response.content_part.added", **ids, part=part))
        spoken: list[str] = []
        pcm_parts: list[np.ndarray] = []
        sent_ms = 0.0
        stream_start: float | None = None
        for sentence in tts.split_sentences(text):
            deltas = _deltas(sentence, leading_space=bool(spoken))
            if not audio_out:
                for delta in deltas:
                    self.emit(server_event("response.output_text.delta", **ids, delta=delta,
                                           obfuscation=obfuscation(delta)))
                spoken.append(sentence)
                item.content[0]["text"] = " ".join(spoken)
                continue
            speech = self.injector.speech(
                await tts.synthesize_sentence_async(sentence, response.voice, response.speed,
                                                    response.output_format),
                response.output_format, head=not response.spoken)
            response.spoken = True
            for delta in deltas:
                self.emit(server_event("response.output_audio_transcript.delta", **ids,
                                       delta=delta, obfuscation=obfuscation(delta)))
            item.sentences.append((sent_ms, sent_ms + speech.duration_ms, sentence))
            spoken.append(sentence)
            item.content[0]["transcript"] = " ".join(spoken)
            pcm_parts.append(speech.pcm)
            item.audio = np.concatenate(pcm_parts)
            bytes_per_ms = len(speech.encoded) / max(speech.duration_ms, 1e-6)
            chunk = max(2, int(bytes_per_ms * self.delta_ms) // 2 * 2)
            for offset in range(0, len(speech.encoded), chunk):
                piece = speech.encoded[offset: offset + chunk]
                if stream_start is None:
                    stream_start = self._loop.time()
                    item.play_start = max(stream_start, self._playback_end)
                else:
                    # Faster than real time, as the service sends it.
                    due = stream_start + sent_ms / 1000.0 / self.audio_speed
                    if due > self._loop.time():
                        await asyncio.sleep(due - self._loop.time())
                self.emit(server_event("response.output_audio.delta", **ids,
                                       delta=base64.b64encode(piece).decode()))
                sent_ms += len(piece) / bytes_per_ms
                self._playback_end = max(self._playback_end,
                                         item.play_start + sent_ms / 1000.0)
                for consumed in response.consumed_items:
                    self._flush_transcription(consumed)
        self._close_message(response, item, "completed")

    def _close_message(self, response: Response, item: Item, status: str) -> None:
        response.open_item = None
        ids = {"response_id": response.id, "item_id": item.id,
               "output_index": response.output.index(item), "content_index": 0}
        if "audio" in response.modalities:
            transcript = item.content[0]["transcript"]
            self.emit(server_event("response.output_audio.done", **ids))
            self.emit(server_event("response.output_audio_transcript.done", **ids,
                                   transcript=transcript))
            part = {"type": "audio", "transcript": transcript}
        else:
            self.emit(server_event("response.output_text.done", **ids,
                                   text=item.content[0]["text"]))
            part = {"type": "text", "text": item.content[0]["text"]}
        self.emit(server_event("response.content_part.done", **ids, part=part))
        self._close_output_item(response, item, status)

    def _call_tool(self, response: Response, action: Any) -> None:
        arguments = json.dumps(action.arguments)
        item = Item(id=new_id("item"), type="function_call", status="in_progress",
                    name=action.name, call_id="call_" + new_id("x")[2:18], arguments="",
                    consumed=True)
        self._add_output_item(response, item)
        ids = {"response_id": response.id, "item_id": item.id,
               "output_index": len(response.output) - 1, "call_id": item.call_id}
        for start in range(0, len(arguments), 8):
            delta = arguments[start: start + 8]
            self.emit(server_event("response.function_call_arguments.delta", **ids, delta=delta,
                                   obfuscation=obfuscation(delta)))
        item.arguments = arguments
        self.emit(server_event("response.function_call_arguments.done", **ids, name=action.name,
                               arguments=arguments))
        self._close_output_item(response, item, "completed")

    def _finish(self, response: Response, status: str, reason: str | None = None,
                details: dict[str, Any] | None = None) -> None:
        if response.done:
            return
        response.done = True
        if response.open_item is not None:
            self._close_message(response, response.open_item, "incomplete")
        for consumed in response.consumed_items:
            self._flush_transcription(consumed)
        if self.response is response:
            self.response = None
        self.responses.remove(response)
        out_text = sum(text_tokens(_item_text(i)) for i in response.output)
        out_audio = sum(audio_tokens(i.audio_ms) for i in response.output)
        done = response.public(
            status,
            {"type": "cancelled", "reason": reason} if status == "cancelled" else details,
            usage(input_text_tokens=response.input_tokens[0],
                  input_audio_tokens=response.input_tokens[1], output_text_tokens=out_text,
                  output_audio_tokens=out_audio))
        done["conversation_id"] = self.conversation_id if response.in_conversation else None
        self.emit(server_event("response.done", response=done))
        self.emit(server_event("rate_limits.updated", rate_limits=rate_limits()))
        if response.in_conversation:
            self._idle_from_ms = self._stream_ms + max(
                0.0, (self._playback_end - self._loop.time()) * 1000.0)

    def _cancel(self, response: Response, reason: str) -> None:
        if response.task is not None:
            response.task.cancel()
        self._finish(response, "cancelled", reason)

    def _on_response_cancel(self, event: dict[str, Any]) -> None:
        wanted = event.get("response_id")
        candidates = [r for r in self.responses if wanted in (None, r.id)]
        if wanted is None and self.response is not None:
            candidates = [self.response]
        if not candidates:
            raise ClientEventError("Cancellation failed: no active response found",
                                   code="response_cancel_not_active")
        self._cancel(candidates[0], "client_cancelled")


def _spoken_text(item: Item, spoken_ms: float) -> str:
    """The part of an agent message heard in its first ``spoken_ms`` ms (whole words, assuming
    an even pace within a sentence)."""
    words: list[str] = []
    for start, end, sentence in item.sentences:
        if spoken_ms >= end:
            words.extend(sentence.split())
            continue
        if spoken_ms > start:
            parts = sentence.split()
            heard = int(len(parts) * (spoken_ms - start) / max(end - start, 1e-6))
            words.extend(parts[:heard])
        break
    return " ".join(words)


def _deltas(text: str, *, leading_space: bool) -> list[str]:
    """``text`` cut into word deltas as the service sends them (" word", punctuation attached)."""
    return [(" " if i or leading_space else "") + word for i, word in enumerate(text.split())]


def _is_say(action: Any) -> bool:
    """A policy action is ``Say(text)`` or ``CallTool(name, arguments)``."""
    return isinstance(getattr(action, "text", None), str)


def _item_text(item: Item) -> str:
    if item.type == "function_call":
        return item.arguments or ""
    return " ".join(str(p.get("transcript") or p.get("text") or "") for p in item.content)


def _is_connection_closed(exc: BaseException) -> bool:
    from websockets.exceptions import ConnectionClosed

    return isinstance(exc, ConnectionClosed | ConnectionError)
