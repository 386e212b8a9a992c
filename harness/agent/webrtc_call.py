"""One WebRTC call of the local agent: the same session as over a WebSocket, with the caller's
audio from an RTP track, the agent's audio to an RTP track, and events on ``oai-events``.

:class:`WebRTCAgentSession` is an :class:`harness.agent.session.AgentSession` (the same protocol
core, listener, responder, dialogue policy and faults) whose connection is the data channel;
only what the transport changes is done here:

- **Caller audio** arrives as Opus packets, decoded as each one arrives
  (:class:`harness.realtime.rtp.ArrivalDecoder`) and fed to the listener as
  ``input_audio_buffer.append`` audio would be, at the session's input rate.
- **Agent audio**: the responder's ``response.output_audio.delta`` events do not go out; their
  audio goes into the server's output buffer, :class:`OutputBuffer`, a track that plays it at
  real-time rate in 20 ms frames (silence when there is nothing to play). The buffer announces
  what it plays: ``output_audio_buffer.started`` when a response's first audio goes out,
  ``output_audio_buffer.stopped`` when the response is done and its audio has all gone out,
  ``output_audio_buffer.cleared`` when it is emptied before that.
- **Interruptions**: the server knows what was played, so it truncates by itself. When the caller
  starts speaking (``input_audio_buffer.speech_started``) while a response plays and turn
  detection interrupts responses, the buffer is cleared and the item playing is truncated at the
  audio that went out, exactly as a client's ``conversation.item.truncate`` would (the
  ``conversation.item.truncated`` event goes out). The client's ``output_audio_buffer.clear``
  does the same.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from aiortc import MediaStreamTrack, RTCDataChannel
from aiortc.mediastreams import MediaStreamError

from harness import audio
from harness.agent import config
from harness.agent.events import server_event
from harness.agent.session import AgentSession
from harness.realtime.rtp import FRAME_MS, ArrivalDecoder, Pcm, PushTrack

log = logging.getLogger(__name__)

BUFFER_RATE = 24_000
"""The rate the output buffer holds agent audio at (every output format is decoded to it)."""
_FRAME_SAMPLES = BUFFER_RATE * FRAME_MS // 1000


@dataclass
class _Piece:
    response_id: str
    item_id: str
    pcm: Pcm


class OutputBuffer(PushTrack):
    """The server's output audio buffer, played on the agent's RTP track at real-time rate.

    ``emit(event)`` sends the buffer's ``output_audio_buffer.*`` events to the client.
    """

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        super().__init__(BUFFER_RATE)
        self._emit = emit
        self._pieces: deque[_Piece] = deque()
        self._start: float | None = None
        self._frames = 0
        self.playing: str | None = None  # the response whose audio is going out
        self.item_id: str | None = None  # the item the last audio sent belongs to
        self.item_played = 0  # samples of that item sent
        self._done: set[str] = set()
        self._cleared: set[str] = set()

    def add(self, response_id: str, item_id: str, pcm: Pcm) -> None:
        """Audio of a response, to be played after what is buffered."""
        if response_id not in self._cleared and len(pcm):
            self._pieces.append(_Piece(response_id, item_id, pcm))

    def response_done(self, response_id: str) -> None:
        """The response has no more audio coming: once it has played, the buffer stops."""
        self._done.add(response_id)

    def clear(self) -> tuple[str | None, int]:
        """Empty the buffer now. Returns (the item that was playing, its samples sent)."""
        item = (self.item_id, self.item_played) if self.playing is not None else (None, 0)
        for piece in self._pieces:
            self._cleared.add(piece.response_id)
        self._pieces.clear()
        if self.playing is not None:
            self._cleared.add(self.playing)
            self._emit(server_event("output_audio_buffer.cleared", response_id=self.playing))
            self.playing = None
        return item

    def _take(self) -> Pcm:
        out = np.zeros(_FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < _FRAME_SAMPLES and self._pieces:
            piece = self._pieces[0]
            if self.playing != piece.response_id:
                if filled:
                    break  # a new response starts with the next frame
                if self.playing is not None:
                    self._stop()
                self.playing = piece.response_id
                self._emit(server_event("output_audio_buffer.started",
                                        response_id=piece.response_id))
            if self.item_id != piece.item_id:
                self.item_id, self.item_played = piece.item_id, 0
            n = min(_FRAME_SAMPLES - filled, len(piece.pcm))
            out[filled: filled + n] = piece.pcm[:n]
            filled += n
            self.item_played += n
            piece.pcm = piece.pcm[n:]
            if not len(piece.pcm):
                self._pieces.popleft()
        if not filled and self.playing is not None and self.playing in self._done:
            self._stop()
        return out

    def _stop(self) -> None:
        assert self.playing is not None
        self._emit(server_event("output_audio_buffer.stopped", response_id=self.playing))
        self.playing = None

    async def recv(self) -> Any:
        """The next 20 ms of the buffer, when it is due (real-time rate from the first frame)."""
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        due = self._start + self._frames * FRAME_MS / 1000.0
        if due > now:
            await asyncio.sleep(due - now)
        self._frames += 1
        self.push(self._take())
        return await super().recv()


class DataChannelConnection:
    """The data channel of a call as the agent session's connection: messages in, frames out,
    and ``transport.abort()`` (the ``drop_connection_after_ms`` fault) closing the call."""

    def __init__(self) -> None:
        self._channel: RTCDataChannel | None = None
        self._open = asyncio.Event()
        self._inbox: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.transport = self

    def attach(self, channel: RTCDataChannel) -> None:
        self._channel = channel
        channel.on("message", self._inbox.put_nowait)
        channel.on("close", self.ended)
        if channel.readyState == "open":
            self._open.set()
        channel.on("open", self._open.set)

    def ended(self) -> None:
        """The call is over: the session's message loop ends."""
        self._inbox.put_nowait(None)

    async def send(self, frame: str) -> None:
        await self._open.wait()
        if self._channel is None or self._channel.readyState != "open":
            raise ConnectionError("the data channel is closed")
        self._channel.send(frame)

    def abort(self) -> None:
        """Drop the call without a goodbye (the session ends, then the call is closed)."""
        self.ended()

    async def __aiter__(self) -> AsyncIterator[str | bytes]:
        while (message := await self._inbox.get()) is not None:
            yield message


class WebRTCAgentSession(AgentSession):
    """An agent session over a WebRTC call (see the module docstring)."""

    def __init__(self, **options: Any) -> None:
        self.connection = DataChannelConnection()
        self.output = OutputBuffer(self._send)
        super().__init__(self.connection, **options)  # type: ignore[arg-type]

    def hear(self, pcm: Pcm, _arrived_ns: int) -> None:
        """Caller audio from the RTP track (24 kHz), as the listener takes appended audio."""
        try:
            rate = self.protocol.input_rate
            samples = pcm if rate == BUFFER_RATE else audio.resample(pcm, BUFFER_RATE, rate)
            if len(samples):
                self.listener.append(samples)
        except Exception:  # noqa: BLE001 - a packet must not break the transport's receive path
            log.exception("caller audio packet failed")

    def _send(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "response.output_audio.delta":
            self.output.add(event["response_id"], event["item_id"], self._decode(event["delta"]))
            return
        if kind == "response.done":
            self.output.response_done(event["response"]["id"])
        super()._send(event)
        if kind == "input_audio_buffer.speech_started":
            td = config.turn_detection(self.protocol.session)
            if td is not None and td.interrupt_response:
                self._clear_output()

    def _decode(self, delta: str) -> Pcm:
        raw = base64.b64decode(delta)
        kind = self.protocol.session["audio"]["output"]["format"]["type"]
        if kind == "audio/pcm":
            return np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int16)
        law = "ulaw" if kind == "audio/pcmu" else "alaw"
        return audio.decode_g711(raw, law, sample_rate=BUFFER_RATE)

    def _clear_output(self) -> None:
        """Stop the agent's audio now and truncate the item at what was played."""
        item_id, played = self.output.clear()
        if item_id is None or not any(i.id == item_id for i in self.protocol.items):
            return
        audio_end_ms = played * 1000 // BUFFER_RATE
        self.handle(json.dumps({"type": "conversation.item.truncate", "item_id": item_id,
                                "content_index": 0, "audio_end_ms": audio_end_ms}))

    def handle(self, message: str | bytes) -> None:
        """One client event; ``output_audio_buffer.clear`` is the transport's own."""
        if isinstance(message, str) and '"output_audio_buffer.clear"' in message:
            try:
                event = json.loads(message)
            except ValueError:
                event = None
            if isinstance(event, dict) and event.get("type") == "output_audio_buffer.clear":
                self._clear_output()
                return
        super().handle(message)


def drain_in_background(track: MediaStreamTrack, tasks: set[asyncio.Task[None]]) -> None:
    """Read an incoming track's frames (the arrival decoder already has its audio)."""
    task = asyncio.ensure_future(ArrivalDecoder.drain(track))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
