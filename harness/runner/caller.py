"""The caller's microphone: an endless stream of fixed chunks, the bed with turns laid over it.

The stream never stops (DESIGN §4): between turns it carries the scenario's bed (or digital
silence when there is none); when a turn starts, the turn's rendered clip is mixed over the bed of
that turn from the current stream position. Audio is prepared a block at a time (a whole turn, or
one second of bed) and each chunk's wire text is built once per block, so sending a chunk costs
one list lookup. For G.711 sessions a block is resampled to 8 kHz and encoded in one go.

Chunk *k* holds stream samples [k·n, (k+1)·n) and is sent at ``stream_start + (k+1)·chunk_ms``;
:meth:`CallerStream.send_time_ms` maps chunk indexes to that schedule.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.audio import decode_g711, encode_g711, law_of, resample
from harness.realtime.protocol import RealtimeProtocol

SCRIPT_RATE = 24_000
IDLE_BLOCK_CHUNKS = 50


@dataclass
class Block:
    """Prepared chunks: wire texts and the PCM sent (at the stream rate), for the caller track."""

    texts: list[str]
    pcm: np.ndarray
    chunk_samples: int


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

    def __init__(self, script: Any, *, input_format: str = "audio/pcm", chunk_ms: int = 20):
        self.script = script
        self.chunk_ms = chunk_ms
        self.law = None if input_format == "audio/pcm" else law_of(input_format)
        self.sample_rate = SCRIPT_RATE if self.law is None else 8_000
        self.script_chunk = SCRIPT_RATE * chunk_ms // 1000
        self.chunk_samples = self.sample_rate * chunk_ms // 1000
        self.next_chunk = 0
        self.turn: ActiveTurn | None = None
        self._block: Block | None = None
        self._block_first = 0
        self._sent: list[np.ndarray] = []
        self._sent_block_start = 0

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
        texts = [RealtimeProtocol.append_text(base64.b64encode(raw[i * step:(i + 1) * step])
                                              .decode("ascii")) for i in range(n)]
        return Block(texts, np.asarray(pcm, dtype=np.int16), self.chunk_samples)

    def _set_block(self, block: Block) -> None:
        self._flush_sent()
        self._block = block
        self._block_first = self.next_chunk

    def _flush_sent(self) -> None:
        if self._block is not None:
            used = self.next_chunk - self._block_first
            self._sent.append(self._block.pcm[: used * self._block.chunk_samples])
        self._block = None

    def _idle_block(self) -> Block:
        start = self.next_chunk * self.script_chunk
        pcm = _bed_chunk(self.script, None, start, IDLE_BLOCK_CHUNKS * self.script_chunk)
        return self._encode(pcm)

    # ------------------------------------------------------------------ turns

    def start_turn(self, turn_index: int, samples: np.ndarray) -> ActiveTurn:
        """Lay turn ``turn_index``'s clip over its bed from the next chunk on."""
        n_chunks = max(1, -(-len(samples) // self.script_chunk))
        start = self.next_chunk * self.script_chunk
        mixed = _bed_chunk(self.script, turn_index, start, n_chunks * self.script_chunk)
        mixed = mixed.astype(np.int32)
        mixed[: len(samples)] += np.asarray(samples, dtype=np.int32)
        pcm = np.clip(mixed, -32768, 32767).astype(np.int16)
        self._set_block(self._encode(pcm))
        self.turn = ActiveTurn(turn_index, self.next_chunk, n_chunks)
        return self.turn

    def chunk_of_sample(self, turn: ActiveTurn, script_sample: int) -> int:
        """The stream chunk holding sample ``script_sample`` (24 kHz) of a turn's clip."""
        return turn.first_chunk + min(script_sample // self.script_chunk, turn.n_chunks - 1)

    def send_time_ms(self, stream_start_ms: float, chunk: int) -> float:
        return stream_start_ms + (chunk + 1) * self.chunk_ms

    # ------------------------------------------------------------------ the hot path

    def next(self) -> tuple[str, int, bool]:
        """(wire text of the next chunk, its index, whether it is a turn's last chunk)."""
        k = self.next_chunk
        block = self._block
        if block is None or k - self._block_first >= len(block.texts):
            self._set_block(self._idle_block())
            block = self._block
            assert block is not None
        text = block.texts[k - self._block_first]
        self.next_chunk = k + 1
        turn = self.turn
        ended = turn is not None and k == turn.last_chunk
        if ended:
            self.turn = None
        return text, k, ended

    def caller_track(self) -> np.ndarray:
        """Everything sent, at the stream rate (call once, when the stream has stopped)."""
        self._flush_sent()
        return np.concatenate(self._sent) if self._sent else np.zeros(0, dtype=np.int16)
