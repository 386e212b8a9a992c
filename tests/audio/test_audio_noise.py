"""Generated noise beds: seeded, seamless loops with the right character."""

from __future__ import annotations

import numpy as np
import pytest

from harness.audio import NOISE_GENERATORS, active_speech_level, detect_speech
from harness.audio._noise import REFERENCE_LEVEL_DB, loop_from_clip

RATE = 24_000


def _band_power(x: np.ndarray, lo: float, hi: float) -> float:
    spectrum = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / RATE)
    return float(spectrum[(freqs >= lo) & (freqs < hi)].sum())


@pytest.fixture(scope="module")
def loops() -> dict[str, np.ndarray]:
    return {kind: make(1) for kind, make in NOISE_GENERATORS.items()}


def test_every_kind_is_a_loop_at_the_reference_level(loops: dict[str, np.ndarray]) -> None:
    assert set(loops) == {"white", "pink", "brown", "babble", "hold_music", "tv",
                          "side_conversation"}
    for kind, loop in loops.items():
        assert loop.dtype == np.float32 and loop.size >= 10 * RATE, kind
        assert active_speech_level(loop, RATE) == pytest.approx(REFERENCE_LEVEL_DB, abs=0.05)


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "hold_music", "side_conversation"])
def test_same_seed_same_loop_other_seed_other_loop(kind: str,
                                                   loops: dict[str, np.ndarray]) -> None:
    make = NOISE_GENERATORS[kind]
    assert np.array_equal(make(1), loops[kind])
    assert not np.array_equal(make(2), loops[kind])


def test_noise_colours_have_their_spectral_slopes(loops: dict[str, np.ndarray]) -> None:
    # Power per octave: flat (+3 dB/octave per band for white), 0 dB for pink, −3 dB for brown.
    def octave_step(x: np.ndarray) -> float:
        return 10 * np.log10(_band_power(x, 2000, 4000) / _band_power(x, 1000, 2000))

    assert octave_step(loops["white"]) == pytest.approx(3.0, abs=0.3)
    assert octave_step(loops["pink"]) == pytest.approx(0.0, abs=0.3)
    assert octave_step(loops["brown"]) == pytest.approx(-3.0, abs=0.3)


@pytest.mark.parametrize("kind", ["white", "pink", "brown", "babble", "hold_music", "tv",
                                  "side_conversation"])
def test_the_loop_seam_is_inaudible(kind: str, loops: dict[str, np.ndarray]) -> None:
    loop = loops[kind].astype(np.float64)
    steps = np.abs(np.diff(loop))
    assert abs(loop[0] - loop[-1]) <= np.percentile(steps, 99.9)


def test_babble_is_many_talkers_at_a_steady_level(loops: dict[str, np.ndarray]) -> None:
    babble = loops["babble"]
    window = int(1.5 * RATE)
    levels = [active_speech_level(babble[i:i + window], RATE)
              for i in range(0, babble.size - window, window // 2)]
    assert max(levels) - min(levels) < 1.5
    # Several overlapping talkers leave no gaps, unlike one talker.
    frame = RATE // 20
    def quiet_share(x: np.ndarray) -> float:
        power = np.square(x[: x.size // frame * frame]).reshape(-1, frame).mean(axis=1)
        return float(np.mean(power < np.median(power) * 10 ** (-20 / 10)))
    assert quiet_share(babble) < 0.01
    assert quiet_share(loops["side_conversation"]) > 0.03


def test_hold_music_is_tonal(loops: dict[str, np.ndarray]) -> None:
    spectrum = np.abs(np.fft.rfft(loops["hold_music"]))
    # Energy sits in a few narrow peaks: the top 1% of bins hold most of it.
    top = np.sort(spectrum**2)[::-1]
    assert top[: top.size // 100].sum() > 0.8 * top.sum()


def test_tv_sounds_through_a_small_speaker(loops: dict[str, np.ndarray]) -> None:
    tv = loops["tv"]
    assert _band_power(tv, 20, 150) < 1e-6 * _band_power(tv, 300, 3000)
    assert detect_speech(tv, RATE) is not None


def test_a_recorded_clip_becomes_a_seamless_loop() -> None:
    t = np.arange(RATE) / RATE
    clip = 8000 * np.sin(2 * np.pi * 220.5 * t)  # does not fit the clip length: a seam to hide
    loop = loop_from_clip(clip)
    steps = np.abs(np.diff(loop.astype(np.float64)))
    assert abs(float(loop[0]) - float(loop[-1])) <= steps.max() * 1.01
    assert active_speech_level(loop, RATE) == pytest.approx(REFERENCE_LEVEL_DB, abs=0.1)
