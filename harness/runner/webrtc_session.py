"""One scenario trial over WebRTC: the same session as over a WebSocket, with the audio on RTP.

:class:`WebRTCTrialSession` is a :class:`harness.runner.session.TrialSession` (the same turns,
tool answers, playback clock and recording) on a :class:`harness.realtime.webrtc.WebRTCConnection`.
What the transport changes:

- **Caller audio** goes out on the RTP track, chunk *k* at the stream's send time, instead of as
  ``input_audio_buffer.append`` events. Its frames are recorded as on a WebSocket (the chunk's
  place in ``caller.wav``, its send and due times) with ``"via": "rtp"``: nothing was sent on the
  data channel. The stream is 24 kHz PCM whatever the session's input format (the track is Opus).
- **Agent audio** arrives on the RTP track, not in ``response.output_audio.delta`` events. Each
  packet is stamped when it arrived and belongs to the response whose audio the server's output
  buffer is playing (from ``output_audio_buffer.started`` to ``output_audio_buffer.stopped`` or
  ``.cleared``), or, when audible audio comes before that event, to the response in progress.
  Its item is the last audio message item the response announced (``response.output_item.added``).
  Each packet becomes a recorded ``response.output_audio.delta`` with ``"via": "rtp"`` whose
  ``audio_ref`` points into ``agent_stream.wav``, so the timeline, the playback clock and every
  scorer read it as they read deltas. Audio outside any response (the track's silence) is not
  recorded.
- **Playback**: the server plays its buffer at real-time rate, so what arrives is what a phone
  plays. An item has finished playing when the server says its response's buffer has stopped
  (``response.done`` and ``response.output_audio.done`` come as soon as the audio was made,
  seconds before it has played); it stops, interrupted, when the server clears the buffer. Should
  ``output_audio_buffer.stopped`` never come, a done response whose audio has gone silent for
  :data:`LOST_STOP_MS` after it was last audible has played out (the call would otherwise wait
  for its time limit).
- **RTP statistics**: jitter, packet loss and round-trip time as the call's RTCP saw them
  (:mod:`harness.realtime.rtcstats`) go into ``meta.json`` (``rtp``) when the trial finishes.
- **Barge-in** is the server's truncation: on ``input_audio_buffer.speech_started`` the harness
  neither stops its playback nor sends ``conversation.item.truncate``; the server clears its
  buffer (``output_audio_buffer.cleared``, where playback stops) and truncates the item
  (``conversation.item.truncated``). Where the server will not cancel by itself (turn detection
  off, or ``interrupt_response`` false) the harness sends ``response.cancel`` and
  ``output_audio_buffer.clear``, as a WebRTC client must.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.realtime.events import OutputAudioBufferClear
from harness.realtime.protocol import AUDIO_DELTA, AudioDelta, OutputItemAdded
from harness.realtime.webrtc import AGENT_RATE, CALLER_RATE, RtpAudio
from harness.recording import TurnSpeechSent
from harness.runner.caller import CallerStream
from harness.runner.playback import AUDIBLE_THRESHOLD, PlaybackClock
from harness.runner.session import TrialSession

BUFFER_STARTED = "output_audio_buffer.started"
BUFFER_STOPPED = "output_audio_buffer.stopped"
BUFFER_CLEARED = "output_audio_buffer.cleared"
LOST_STOP_MS = 2000.0
"""Silence on the track this long after a done response was last audible, and no
``output_audio_buffer.stopped``: the event was lost, the response has played out."""


class WebRTCTrialSession(TrialSession):
    """Runs one scenario trial on an open WebRTC call (see the module docstring)."""

    server_playback = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stream = CallerStream(self.script, input_format="audio/pcm",
                                   chunk_ms=self.opt.chunk_ms, wire_text=False)
        assert self.stream.sample_rate == CALLER_RATE
        self.out_law = None
        self.out_rate = AGENT_RATE
        self.playback = PlaybackClock(AGENT_RATE)
        self._playing: str | None = None  # the response the server's output buffer plays
        self._audio_item: dict[str, str] = {}  # response id → its last audio message item
        self._audible_ms: dict[str, float] = {}  # response id → when it was last audible
        self._last_frame = -1  # the index of the last caller frame sent on the track

    # ------------------------------------------------------------------ receiving

    async def _receive_loop(self) -> None:
        while True:
            message, arrived_ns = await self.conn.recv()
            t = (arrived_ns - self.t0_ns) / 1e6
            if isinstance(message, RtpAudio):
                self._on_rtp_audio(message.pcm, t)
                continue
            rec = self.protocol.receive(message, t)
            if rec.type == AUDIO_DELTA:  # not sent over WebRTC; played as a WebSocket's would be
                self._on_audio_frame(rec, t)
                continue
            extra = {"raw_type": rec.raw_type} if rec.raw_type else {}
            self.writer.frame(t, "received", rec.type, rec.event, **extra)
            self._on_output_buffer(rec.type, rec.event.get("response_id"), t)
            for notice in rec.notices:
                if isinstance(notice, OutputItemAdded) and notice.item_type == "message" \
                        and notice.item_id:
                    self._audio_item[notice.response_id] = notice.item_id
                await self._on_notice(notice, t)

    def _on_output_buffer(self, type_: str, response_id: Any, t: float) -> None:
        """The server's output buffer started, stopped or was cleared for a response."""
        if type_ not in (BUFFER_STARTED, BUFFER_STOPPED, BUFFER_CLEARED) or \
                not isinstance(response_id, str):
            return
        if type_ == BUFFER_STARTED:
            self._playing = response_id
            return
        if self._playing == response_id:
            self._playing = None
        if type_ == BUFFER_STOPPED:
            self._annotate_playback(self.playback.complete_response(response_id, t))
        else:
            # the server cut the audio off: the caller hears nothing more of it from now
            self._annotate_playback(self.playback.interrupt(t)[1])

    def _owner(self, audible: bool) -> str | None:
        """The response an RTP packet's audio belongs to (None: the track's silence)."""
        if self._playing is not None:
            return self._playing
        if audible:
            in_progress = self.protocol.in_progress()
            if in_progress:
                return in_progress[-1].id
        return None

    def _stop_lost(self, response_id: str, audible: bool, t: float) -> bool:
        """The playing response is done and has been silent for :data:`LOST_STOP_MS` since it
        was last audible: its ``output_audio_buffer.stopped`` was lost, it has played out."""
        state = self.protocol.responses.get(response_id)
        if audible:
            self._audible_ms[response_id] = t
        last = self._audible_ms.get(response_id)
        if audible or last is None or state is None or state.in_progress or \
                t - last < LOST_STOP_MS:
            return False
        self._on_output_buffer(BUFFER_STOPPED, response_id, t)
        return True

    def _on_rtp_audio(self, pcm: np.ndarray, t: float) -> None:
        audible = bool(len(pcm)) and int(np.abs(pcm.astype(np.int32)).max()) >= AUDIBLE_THRESHOLD
        response_id = self._owner(audible)
        if response_id is None or (response_id == self._playing
                                   and self._stop_lost(response_id, audible, t)):
            self._annotate_playback(self.playback.advance(t))
            return
        item_id = self._audio_item.get(response_id, f"{response_id}:audio")
        ref = {"track": "agent_stream", "start_sample": self.agent_stream_samples,
               "samples": len(pcm), "sample_rate": self.out_rate}
        event = {"type": AUDIO_DELTA, "response_id": response_id, "item_id": item_id,
                 "content_index": 0, "delta": {"audio_ref": ref}}
        rec = self.protocol.receive_event(event, t)
        delta = next(n for n in rec.notices if isinstance(n, AudioDelta))
        self._play_agent_audio(event, rec.notices, delta, pcm, t, {"via": "rtp"})

    def finish(self, status: str, error: str | None, *, time_limit_s: float | None = None
               ) -> None:
        """As over a WebSocket, with the call's RTP statistics in ``meta.json`` (``rtp``; the
        connection sampled them a last time as it closed)."""
        self.writer.meta.rtp = self.conn.rtp_stats(self.t0_ns)
        super().finish(status, error, time_limit_s=time_limit_s)

    # ------------------------------------------------------------------ sending

    def _speech_sent(self, edge: TurnSpeechSent) -> None:
        """Said once the chunk's RTP packet has left (encoded, encrypted, sent), not when it was
        handed to the track: what the agent can hear from then is what latencies count from."""
        def sent(ns: int) -> None:
            self.writer.annotate((ns - self.t0_ns) / 1e6, "harness.turn.speech_sent", edge)

        self.conn.when_sent(self._last_frame, sent)

    async def interrupt(self, t: float) -> None:
        """The server truncates; the harness cancels and clears only where the server won't."""
        if self.client_cancels:
            for response in self.protocol.in_progress():
                await self.send(self.protocol.response_cancel(response.id))
            clear: OutputAudioBufferClear = {"type": "output_audio_buffer.clear"}
            await self.send(clear)

    async def _send_chunk(self, due_ms: float) -> tuple[int, bool]:
        """Send the caller stream's next chunk on the RTP track now; record it."""
        pcm, k, ended = self.stream.next_pcm()
        self._last_frame = self.conn.send_audio(pcm)
        n = self.stream.chunk_samples
        self.writer.caller_chunk(self.now_ms(), due_ms, k * n, n, self.stream.sample_rate,
                                 via="rtp")
        return k, ended
