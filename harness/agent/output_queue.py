"""The server's output audio buffer of a call whose server plays the agent's audio out itself
(WebRTC, SIP): responses' audio queued and played at real-time rate in 20 ms frames, announced
as it goes (``output_audio_buffer.started`` / ``stopped`` / ``cleared``)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.agent.events import server_event

Pcm = np.ndarray
BUFFER_RATE = 24_000
"""The rate the output buffer holds agent audio at (every output format is decoded to it)."""
FRAME_MS = 20
FRAME_SAMPLES = BUFFER_RATE * FRAME_MS // 1000
RESPONSE_PAUSE_MS = 240
"""Silence played between a response and one queued right behind it (a tool's answer behind
the preamble still playing): a listener, and a grader that has only the audio, hears two
utterances. Pauses between words are under 60 ms."""


@dataclass
class _Piece:
    response_id: str
    item_id: str
    pcm: Pcm


class OutputQueue:
    """The server's output audio buffer: responses' audio queued, taken 20 ms at a time by
    whatever plays it out (an RTP track, a SIP call's RTP stream) at real-time rate.

    ``emit(event)`` sends the buffer's ``output_audio_buffer.*`` events to the client.
    """

    def __init__(self, emit: Callable[[dict[str, Any]], None]) -> None:
        self._emit = emit
        self._pieces: deque[_Piece] = deque()
        self.playing: str | None = None  # the response whose audio is going out
        self.item_id: str | None = None  # the item the last audio sent belongs to
        self.item_played = 0  # samples of that item sent
        self._done: set[str] = set()
        self._cleared: set[str] = set()
        self._pause_frames = 0

    def add(self, response_id: str, item_id: str, pcm: Pcm) -> None:
        """Audio of a response, to be played after what is buffered."""
        if response_id not in self._cleared and len(pcm):
            self._pieces.append(_Piece(response_id, item_id, pcm))

    def played_ms(self, response_id: str) -> float | None:
        """How much of the response's audio has gone out while it plays; 0 while it waits in
        the buffer; None once it has played (or was cleared), or when it had no audio."""
        if self.playing == response_id:
            return self.item_played * 1000.0 / BUFFER_RATE
        if any(piece.response_id == response_id for piece in self._pieces):
            return 0.0
        return None

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

    def take_frame(self) -> Pcm:
        """The next 20 ms of the buffer (silence when nothing plays); the caller paces it."""
        out = np.zeros(FRAME_SAMPLES, dtype=np.int16)
        filled = 0
        while filled < FRAME_SAMPLES and self._pieces:
            piece = self._pieces[0]
            if self.playing != piece.response_id:
                if filled:
                    break  # a new response starts with the next frame
                if self.playing is not None:
                    # one response right after another (an answer queued behind its preamble):
                    # a pause between them, as between two utterances of a speaker
                    self._stop()
                    self._pause_frames = RESPONSE_PAUSE_MS // FRAME_MS
                if self._pause_frames:
                    self._pause_frames -= 1
                    return out
                self.playing = piece.response_id
                self._emit(server_event("output_audio_buffer.started",
                                        response_id=piece.response_id))
            if self.item_id != piece.item_id:
                self.item_id, self.item_played = piece.item_id, 0
            n = min(FRAME_SAMPLES - filled, len(piece.pcm))
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
