"""The caller stream: continuous chunks, turns over the bed, G.711 encoding (no sockets)."""

from __future__ import annotations

import base64
import json

import numpy as np

from harness.audio import decode_g711
from harness.runner.caller import CallerStream


class _Bed:
    def chunk(self, start: int, n: int) -> np.ndarray:
        return ((np.arange(start, start + n) % 100) - 50).astype(np.int16)  # position-dependent


class _Script:
    def bed(self, turn_index):
        return _Bed()


def _payload(text: str) -> bytes:
    event = json.loads(text)
    assert event["type"] == "input_audio_buffer.append"
    return base64.b64decode(event["audio"])


def test_bed_never_restarts_and_turns_are_mixed_over_it():
    stream = CallerStream(_Script(), chunk_ms=20)
    first = [stream.next() for _ in range(3)]
    assert [k for _, k, _ in first] == [0, 1, 2]
    clip = np.full(1000, 1000, dtype=np.int16)  # 2.08 chunks → 3 chunks
    turn = stream.start_turn(0, clip)
    assert (turn.first_chunk, turn.n_chunks) == (3, 3)
    texts = [stream.next() for _ in range(4)]
    assert [ended for _, _, ended in texts] == [False, False, True, False]
    sent = np.concatenate([np.frombuffer(_payload(t), dtype="<i2") for t, _, _ in first + texts])
    bed = _Bed().chunk(0, 7 * 480)
    expected = bed.astype(np.int32)
    expected[3 * 480: 3 * 480 + 1000] += 1000
    assert np.array_equal(sent, expected.astype(np.int16))
    assert np.array_equal(stream.caller_track(), sent)
    assert stream.send_time_ms(100.0, 3) == 180.0
    assert stream.chunk_of_sample(turn, 999) == 5


def test_g711_stream_sends_8khz_chunks_and_records_what_went_out():
    stream = CallerStream(_Script(), input_format="audio/pcmu", chunk_ms=20)
    t = np.arange(24_000) / 24_000
    stream.start_turn(0, (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))
    payloads = [_payload(stream.next()[0]) for _ in range(50)]
    assert all(len(p) == 160 for p in payloads)
    decoded = decode_g711(b"".join(payloads), "ulaw")
    track = stream.caller_track()
    assert stream.sample_rate == 8000 and np.array_equal(track, decoded)
    spectrum = np.abs(np.fft.rfft(decoded.astype(float)))
    assert abs(np.argmax(spectrum) * 8000 / len(decoded) - 440) < 2


def test_a_turn_longer_than_a_block_is_mixed_seamlessly():
    stream = CallerStream(_Script(), chunk_ms=20)
    stream.next()
    clip = (np.arange(130 * 480) % 7 * 300).astype(np.int16)  # 130 chunks: three blocks
    turn = stream.start_turn(0, clip)
    texts = []
    for _ in range(131):
        texts.append(stream.next()[0])
        stream.prepare()
    sent = np.concatenate([np.frombuffer(_payload(t), dtype="<i2") for t in texts])
    expected = _Bed().chunk(480, 131 * 480).astype(np.int32)
    expected[: len(clip)] += clip
    assert turn.last_chunk == 130 and stream.turn is None
    assert np.array_equal(sent, expected.astype(np.int16))
    assert np.array_equal(stream.caller_track()[480:], sent)
