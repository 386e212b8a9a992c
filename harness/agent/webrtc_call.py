"""One WebRTC call of the local agent: the same session as over a WebSocket, with the caller's
audio from an RTP track, the agent's audio to an RTP track, and events on ``oai-events``.

:class:`WebRTCAgentSession` is a :class:`harness.agent.server_played.ServerPlayedSession` (the
same protocol core, listener, responder, dialogue policy and faults; the server plays the
agent's audio out) whose connection is the data channel:

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
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiortc import MediaStreamTrack, RTCDataChannel
from aiortc.mediastreams import MediaStreamError

from harness.agent.output_queue import BUFFER_RATE, OutputQueue
from harness.agent.server_played import ServerPlayedSession
from harness.realtime.rtp import FRAME_MS, ArrivalDecoder, PushTrack

__all__ = ["BUFFER_RATE", "DataChannelConnection", "OutputBuffer", "WebRTCAgentSession",
           "drain_in_background"]


class OutputBuffer(OutputQueue, PushTrack):
    """The output buffer played on the agent's RTP track at real-time rate."""

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        OutputQueue.__init__(self, emit)
        PushTrack.__init__(self, BUFFER_RATE)
        self._start: float | None = None
        self._frames = 0

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
        self.push(self.take_frame())
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


class WebRTCAgentSession(ServerPlayedSession):
    """An agent session over a WebRTC call (see the module docstring)."""

    def __init__(self, **options: Any) -> None:
        self.connection = DataChannelConnection()
        self.output = OutputBuffer(self._send)
        super().__init__(self.connection, **options)  # type: ignore[arg-type]


def drain_in_background(track: MediaStreamTrack, tasks: set[asyncio.Task[None]]) -> None:
    """Read an incoming track's frames (the arrival decoder already has its audio)."""
    task = asyncio.ensure_future(ArrivalDecoder.drain(track))
    tasks.add(task)
    task.add_done_callback(tasks.discard)
