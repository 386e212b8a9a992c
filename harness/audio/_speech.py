"""Speech measurements on clean clips: speech onset/end, active speech level, plain RMS level.

Levels are in dB relative to PCM16 full scale (32768), so a full-scale square wave is 0 dB and a
full-scale sine −3 dB.
"""

from __future__ import annotations

import numpy as np

FULL_SCALE = 32768.0

SPEECH_WINDOW_MS = 5.0
"""Length of the sliding RMS window that ``detect_speech`` compares with its threshold."""
SPEECH_FLOOR_DBFS = -55.0
"""``detect_speech``: a window quieter than this is never speech."""
SPEECH_RANGE_DB = 40.0
"""``detect_speech``: a window more than this below the loudest window is not speech."""
SPEECH_NOISE_MARGIN_DB = 15.0
"""``detect_speech``: a window must be this far above the clip's noise floor (its quietest 20 ms),
or 20 dB below the loudest window if that is lower (a clip that is all speech has no floor)."""

# ITU-T P.56 method B constants.
_P56_TIME_CONSTANT_S = 0.03
_P56_HANGOVER_S = 0.2
_P56_MARGIN_DB = 15.9
_P56_BLOCK_S = 0.001


def _as_float(samples: np.ndarray) -> np.ndarray:
    return np.asarray(samples, dtype=np.float64).reshape(-1)


def detect_speech(samples: np.ndarray, rate: int) -> tuple[int, int] | None:
    """First and last sample of speech in a clean clip, or ``None`` when there is none.

    A sample is speech when the RMS of the 5 ms window centred on it is above the threshold:
    the loudest of −55 dBFS, 40 dB below the clip's loudest window, and 15 dB above the clip's
    noise floor (its quietest 20 ms; at most 20 dB below the loudest window). Made for
    clean clips (before any bed is mixed in); on padded clips it is accurate to a few ms.
    """
    x = _as_float(samples)
    win = max(1, int(round(rate * SPEECH_WINDOW_MS / 1000)))
    if x.size < win:
        return None
    # Coarse pass on 1 ms blocks finds the threshold and the region; a per-sample pass near
    # the two boundaries places them exactly.
    block = max(1, rate // 1000)
    n_blocks = x.size // block
    energy = np.square(x[: n_blocks * block]).reshape(n_blocks, block).sum(axis=1)
    per_window = max(1, win // block)
    coarse = np.sqrt(np.convolve(energy, np.ones(per_window), mode="same") / (per_window * block))
    peak = coarse.max() if coarse.size else 0.0
    if peak <= 0:
        return None
    floor_blocks = min(n_blocks, 20)
    floor = np.sqrt(np.min(np.convolve(energy, np.ones(floor_blocks), mode="valid"))
                    / (floor_blocks * block))
    threshold = max(FULL_SCALE * 10 ** (SPEECH_FLOOR_DBFS / 20),
                    peak * 10 ** (-SPEECH_RANGE_DB / 20),
                    min(floor * 10 ** (SPEECH_NOISE_MARGIN_DB / 20), peak * 10 ** (-20 / 20)))
    above = np.flatnonzero(coarse > threshold)
    if above.size == 0:
        return None
    margin = 2 * win
    onset = _first_above(x, max(0, above[0] * block - margin),
                         min(x.size, (above[0] + 1) * block + margin), win, threshold)
    end = _last_above(x, max(0, above[-1] * block - margin),
                      min(x.size, (above[-1] + 1) * block + margin), win, threshold)
    if onset is None or end is None or end < onset:
        return None
    return onset, end


def _window_rms(x: np.ndarray, lo: int, hi: int, win: int) -> tuple[np.ndarray, int]:
    """Centred sliding RMS for samples [lo, hi) of ``x``; returns (rms, lo)."""
    half = win // 2
    a, b = max(0, lo - half), min(x.size, hi + win)
    power = np.concatenate(([0.0], np.cumsum(np.square(x[a:b]))))
    centre = np.arange(lo, hi)
    start = np.clip(centre - half, a, b) - a
    stop = np.clip(centre - half + win, a, b) - a
    return np.sqrt(np.maximum(power[stop] - power[start], 0.0) / np.maximum(stop - start, 1)), lo


def _first_above(x: np.ndarray, lo: int, hi: int, win: int, threshold: float) -> int | None:
    rms, base = _window_rms(x, lo, hi, win)
    hits = np.flatnonzero(rms > threshold)
    return int(base + hits[0]) if hits.size else None


def _last_above(x: np.ndarray, lo: int, hi: int, win: int, threshold: float) -> int | None:
    rms, base = _window_rms(x, lo, hi, win)
    hits = np.flatnonzero(rms > threshold)
    return int(base + hits[-1]) if hits.size else None


def rms_db(samples: np.ndarray) -> float:
    """Plain RMS level in dB re full scale (−inf for silence)."""
    x = _as_float(samples)
    if x.size == 0:
        return float("-inf")
    mean_square = float(np.mean(x * x))
    return 10 * np.log10(mean_square / FULL_SCALE**2) if mean_square > 0 else float("-inf")


def active_speech_level(samples: np.ndarray, rate: int) -> float:
    """Active speech level (ITU-T P.56 method B) in dB re full scale; −inf without speech.

    The level of speech while it is active: pauses and silences do not pull it down, so the
    same sentence said with long pauses has the same level. The envelope is computed on 1 ms
    blocks (the 30 ms envelope time constant makes that indistinguishable from per-sample).
    """
    x = _as_float(samples)
    block = max(1, int(round(rate * _P56_BLOCK_S)))
    n_blocks = x.size // block
    if n_blocks == 0:
        return float("-inf")
    x = x[: n_blocks * block]
    total_energy = float(np.sum(x * x))
    if total_energy <= 0:
        return float("-inf")
    magnitude = np.abs(x).reshape(n_blocks, block).mean(axis=1) / FULL_SCALE

    # Two cascaded one-pole smoothers = one kernel (1-g)^2 (k+1) g^k, cut where it is < 1e-6.
    g = np.exp(-_P56_BLOCK_S / _P56_TIME_CONSTANT_S)
    k = np.arange(int(14 * _P56_TIME_CONSTANT_S / _P56_BLOCK_S))
    envelope = np.convolve(magnitude, (1 - g) ** 2 * (k + 1) * g**k)[:n_blocks]

    hangover = int(round(_P56_HANGOVER_S / _P56_BLOCK_S))
    index = np.arange(n_blocks)
    thresholds = 2.0 ** np.arange(-15, 1)  # c_j, 1 LSB … full scale
    levels, margins = [], []
    for c in thresholds:
        last_above = np.maximum.accumulate(np.where(envelope >= c, index, -hangover - 1))
        active = np.count_nonzero(index - last_above <= hangover) * block
        if active == 0:
            break
        level = 10 * np.log10(total_energy / active / FULL_SCALE**2)
        levels.append(level)
        margins.append(level - 20 * np.log10(c))
    # The active level is where the level sits M dB above the threshold (interpolated).
    if margins and margins[0] <= _P56_MARGIN_DB:
        return float(levels[0])
    for j in range(1, len(margins)):
        if margins[j] <= _P56_MARGIN_DB:
            if margins[j - 1] == margins[j]:
                return float(levels[j])
            frac = (margins[j - 1] - _P56_MARGIN_DB) / (margins[j - 1] - margins[j])
            return float(levels[j - 1] + frac * (levels[j] - levels[j - 1]))
    return float(levels[-1]) if levels else float("-inf")
