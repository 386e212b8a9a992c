"""Speech onset/end detection and active speech level on clips whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from harness.audio import active_speech_level, detect_speech, rms_db, synthesize

RATE = 24_000
MS = RATE // 1000


def _tone_burst(start: int, stop: int, total: int, dbfs: float = -20.0) -> np.ndarray:
    """A 200 Hz buzz (harmonics, like voicing) on [start, stop) of a silent clip."""
    t = np.arange(total) / RATE
    buzz = sum(np.sin(2 * np.pi * 200 * h * t) / h for h in range(1, 8))
    buzz *= 32768 * 10 ** (dbfs / 20) / np.sqrt(np.mean(buzz**2))
    out = np.zeros(total)
    out[start:stop] = buzz[start:stop]
    return out


@pytest.mark.parametrize("lead_ms, tail_ms", [(0, 0), (37, 250), (400, 13), (1000, 1000)])
def test_burst_boundaries_within_20_ms(lead_ms: int, tail_ms: int) -> None:
    start, length = lead_ms * MS, 900 * MS
    clip = _tone_burst(start, start + length, start + length + tail_ms * MS)
    onset, end = detect_speech(clip.astype(np.int16), RATE)
    assert abs(onset - start) <= 20 * MS
    assert abs(end - (start + length - 1)) <= 20 * MS


@pytest.mark.parametrize("lead_ms, tail_ms", [(0, 0), (250, 80), (1500, 700)])
def test_padded_speech_boundaries_within_20_ms(lead_ms: int, tail_ms: int) -> None:
    clip = synthesize("Eight three five two one.")
    audible = np.flatnonzero(np.abs(clip) >= 64)  # −54 dBFS: where the voice is audible
    # A noise floor 20 dB below the detector's absolute floor, like a quiet recording.
    rng = np.random.default_rng(7)
    padded = np.concatenate([np.zeros(lead_ms * MS), clip, np.zeros(tail_ms * MS)])
    padded += rng.normal(0, 32768 * 10 ** (-75 / 20), padded.size)
    onset, end = detect_speech(np.rint(padded).astype(np.int16), RATE)
    assert abs(onset - (lead_ms * MS + audible[0])) <= 20 * MS
    assert abs(end - (lead_ms * MS + audible[-1])) <= 20 * MS


def test_a_noise_floor_is_not_speech() -> None:
    rng = np.random.default_rng(1)
    floor = rng.normal(0, 32768 * 10 ** (-45 / 20), RATE)
    clip = floor + _tone_burst(10_000, 16_000, RATE, dbfs=-15.0)
    onset, end = detect_speech(clip, RATE)
    assert abs(onset - 10_000) <= 20 * MS and abs(end - 15_999) <= 20 * MS


def test_silence_has_no_speech() -> None:
    assert detect_speech(np.zeros(RATE, np.int16), RATE) is None
    assert detect_speech(np.zeros(3, np.int16), RATE) is None


def test_active_level_ignores_pauses_and_matches_a_steady_signal() -> None:
    # 2 s on / 2 s off: the active level is the tone's own level; plain RMS is 3 dB lower.
    on = _tone_burst(0, 2 * RATE, 2 * RATE, dbfs=-18.0)
    clip = np.concatenate([on, np.zeros(2 * RATE), on, np.zeros(2 * RATE)])
    assert active_speech_level(clip, RATE) == pytest.approx(-18.0, abs=0.6)
    assert rms_db(clip) == pytest.approx(-21.0, abs=0.1)


def test_active_level_of_speech_does_not_move_with_added_silence() -> None:
    speech = synthesize("Hi, I need to check my order.")
    with_gap = np.concatenate([speech, np.zeros(3 * RATE, np.int16), speech])
    level = active_speech_level(speech, RATE)
    assert active_speech_level(with_gap, RATE) == pytest.approx(level, abs=0.3)
    assert rms_db(with_gap) < level - 2.0
    louder = (speech.astype(np.float64) * 2.0)
    assert active_speech_level(louder, RATE) == pytest.approx(level + 6.02, abs=0.05)
    assert active_speech_level(np.zeros(RATE), RATE) == float("-inf")
