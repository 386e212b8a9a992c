"""The caller's microphone: an endless stream of fixed chunks, the bed with turns laid over it.

The stream never stops, like a microphone's: between turns it carries the scenario's bed (or digital
silence when there is none); when a turn starts, the turn's rendered clip is mixed over the bed of
that turn from the current stream position. Audio is prepared a block of at most one second at a
time (G.711 sessions take a turn in one block, resampled to 8 kHz and encoded in one go; digital
silence is one block built once), and each chunk's wire text is built ahead of its send time:
:meth:`CallerStream.prepare`, called after a chunk went out, builds the next chunk's text (and the
next block when the current one runs out), so sending a chunk costs one list lookup.

Chunk *k* holds stream samples [k·n, (k+1)·n) and is sent at ``stream_start + (k+1)·chunk_ms``;
:meth:`CallerStream.send_time_ms` maps chunk indexes to that schedule. A transport that sends the
audio itself (WebRTC's RTP track) takes each chunk's PCM instead (``wire_text=False``,
:meth:`CallerStream.next_pcm`), and no wire text is built.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.audio import decode_g711, encode_g711, law_of, resample
from harness.realtime.protocol import RealtimeProtocol
from harness.scenario.models import Scenario

RENDER_LOCK = threading.Lock()
"""One TTS render at a time in a process (renders are cached, so waits are brief)."""
SCRIPT_RATE = 24_000
BLOCK_CHUNKS = 50
"""Chunks prepared at a time: one second, so a long turn or the bed never costs one big step."""


def _render(scenario: Scenario) -> Any:
    from harness.audio import render_scenario  # noqa: PLC0415 - rendering pulls in TTS

    with RENDER_LOCK:  # one TTS engine at a time; renders are cached, so this is brief
        return render_scenario(scenario)


# Caller audio is rendered on a thread of its own, first come first served: a run asks for every
# call's audio at its start, in the order the calls start, so renders run ahead of the calls.
_RENDERER = ThreadPoolExecutor(1, thread_name_prefix="render")


async def render_script(scenario: Scenario) -> Any:
    """The scenario's CallerScript (rendering blocks on TTS, so it runs on the render thread)."""
    return await asyncio.get_running_loop().run_in_executor(_RENDERER, _render, scenario)


@dataclass
class Block:
    """Prepared chunks: the bytes to send (``step`` a chunk), the PCM sent (at the stream rate, for
    the caller track) and the wire texts of the chunks encoded so far."""

    raw: bytes
    step: int
    n_chunks: int
    pcm: np.ndarray
    chunk_samples: int
    texts: list[str] = field(default_factory=list)

    def text(self, i: int) -> str:
        """Wire text of chunk ``i`` of the block (encoded now if it was not yet)."""
        texts = self.texts
        while len(texts) <= i:
            j = len(texts)
            texts.append(RealtimeProtocol.append_text(
                base64.b64encode(self.raw[j * self.step:(j + 1) * self.step]).decode("ascii")))
        return texts[i]


@dataclass
class ActiveTurn:
    """A turn whose audio is in the stream: where it starts and how many chunks it spans."""

    index: int
    first_chunk: int
    n_chunks: int

    @property
    def last_chunk(self) -> int:
        return self.first_chunk + self.n_chunks - 1


def _bed_chunk(script: Any, turn_index: int | None, start: int, n: int) -> np.ndarray:
    bed = script.bed(turn_index)
    if bed is None:
        return np.zeros(n, dtype=np.int16)
    return np.asarray(bed.chunk(start, n), dtype=np.int16)


class CallerStream:
    """Produces the caller stream chunk by chunk (see the module docstring)."""

    def __init__(self, script: Any, *, input_format: str = "audio/pcm", chunk_ms: int = 20,
                 wire_text: bool = True):
        self.script = script
        self.wire_text = wire_text
        self.chunk_ms = chunk_ms
        self.law = None if input_format == "audio/pcm" else law_of(input_format)
        self.sample_rate = SCRIPT_RATE if self.law is None else 8_000
        self.script_chunk = SCRIPT_RATE * chunk_ms // 1000
        self.chunk_samples = self.sample_rate * chunk_ms // 1000
        self.next_chunk = 0
        self.turn: ActiveTurn | None = None
        self._clip: np.ndarray = np.zeros(0, dtype=np.int16)
        self._block: Block | None = None
        self._block_first = 0
        self._silence: Block | None = None
        self._sent: list[np.ndarray] = []

    # ------------------------------------------------------------------ blocks

    def _encode(self, pcm24: np.ndarray) -> Block:
        n = len(pcm24) // self.script_chunk
        if self.law is None:
            pcm = pcm24
            raw = pcm.astype("<i2", copy=False).tobytes()
            step = self.chunk_samples * 2
        else:
            pcm8 = resample(pcm24, SCRIPT_RATE, self.sample_rate)[: n * self.chunk_samples]
            raw = encode_g711(pcm8, self.law, sample_rate=self.sample_rate)
            pcm = decode_g711(raw, self.law)  # the track holds exactly what went out
            step = self.chunk_samples
        return Block(raw, step, n, np.asarray(pcm, dtype=np.int16), self.chunk_samples)

    def _set_block(self, block: Block) -> None:
        self._flush_sent()
        self._block = block
        self._block_first = self.next_chunk

    def _flush_sent(self) -> None:
        if self._block is not None:
            used = self.next_chunk - self._block_first
            self._sent.append(self._block.pcm[: used * self._block.chunk_samples])
        self._block = None

    def _next_block(self) -> Block:
        """The block from the next chunk on: the active turn's next part, or the bed."""
        if self.turn is not None:
            return self._turn_block(self.turn)
        bed = self.script.bed(None)
        if bed is None or getattr(bed, "silent", False):
            if self._silence is None:
                self._silence = self._encode(np.zeros(BLOCK_CHUNKS * self.script_chunk,
                                                      dtype=np.int16))
            return self._silence
        start = self.next_chunk * self.script_chunk
        return self._encode(_bed_chunk(self.script, None, start, BLOCK_CHUNKS * self.script_chunk))

    def _turn_block(self, turn: ActiveTurn) -> Block:
        done = self.next_chunk - turn.first_chunk
        left = turn.n_chunks - done
        n = left if self.law is not None else min(left, BLOCK_CHUNKS)
        start = self.next_chunk * self.script_chunk
        mixed = _bed_chunk(self.script, turn.index, start, n * self.script_chunk).astype(np.int32)
        piece = self._clip[done * self.script_chunk: (done + n) * self.script_chunk]
        mixed[: len(piece)] += piece.astype(np.int32)
        return self._encode(np.clip(mixed, -32768, 32767).astype(np.int16))

    # ------------------------------------------------------------------ turns

    def start_turn(self, turn_index: int, samples: np.ndarray) -> ActiveTurn:
        """Lay turn ``turn_index``'s clip over its bed from the next chunk on."""
        n_chunks = max(1, -(-len(samples) // self.script_chunk))
        self._clip = np.asarray(samples)
        self.turn = ActiveTurn(turn_index, self.next_chunk, n_chunks)
        self._set_block(self._turn_block(self.turn))
        return self.turn

    def chunk_of_sample(self, turn: ActiveTurn, script_sample: int) -> int:
        """The stream chunk holding sample ``script_sample`` (24 kHz) of a turn's clip."""
        return turn.first_chunk + min(script_sample // self.script_chunk, turn.n_chunks - 1)

    def send_time_ms(self, stream_start_ms: float, chunk: int) -> float:
        return stream_start_ms + (chunk + 1) * self.chunk_ms

    # ------------------------------------------------------------------ the hot path

    def block_ends(self) -> bool:
        """The next chunk needs a new block (:meth:`prepare` will build it)."""
        block = self._block
        return block is None or self.next_chunk - self._block_first >= block.n_chunks

    def prepare(self) -> None:
        """Build the next chunk's wire text now, so :meth:`next` finds it ready at its send time."""
        if self.block_ends():
            self._set_block(self._next_block())
        assert self._block is not None
        if self.wire_text:
            self._block.text(self.next_chunk - self._block_first)

    def _advance(self) -> tuple[Block, int, int, bool]:
        """(the block of the next chunk, the chunk's place in it, its index, whether it is a
        turn's last chunk); the stream moves on past it."""
        k = self.next_chunk
        if self.block_ends():
            self._set_block(self._next_block())
        block = self._block
        assert block is not None
        self.next_chunk = k + 1
        turn = self.turn
        ended = turn is not None and k == turn.last_chunk
        if ended:
            self.turn = None
        return block, k - self._block_first, k, ended

    def next(self) -> tuple[str, int, bool]:
        """(wire text of the next chunk, its index, whether it is a turn's last chunk)."""
        block, i, k, ended = self._advance()
        return block.text(i), k, ended

    def next_pcm(self) -> tuple[np.ndarray, int, bool]:
        """(PCM16 of the next chunk at the stream rate, its index, whether it is a turn's last
        chunk)."""
        block, i, k, ended = self._advance()
        n = block.chunk_samples
        return block.pcm[i * n:(i + 1) * n], k, ended

    def caller_track(self) -> np.ndarray:
        """Everything sent, at the stream rate (call once, when the stream has stopped)."""
        self._flush_sent()
        return np.concatenate(self._sent) if self._sent else np.zeros(0, dtype=np.int16)
