"""In-band DTMF (ITU-T Q.23): the keypad's row and column tones, for a caller who presses keys on
a line without an event channel (a WebSocket or WebRTC call; over SIP the keys go as RFC 4733
events, :mod:`harness.sip.dtmf`, which also detects tones)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

DIGITS = "0123456789*#ABCD"
"""The keys, in RFC 4733 event-code order (0-9, then * = 10, # = 11, A-D = 12-15)."""
ROWS = (697.0, 770.0, 852.0, 941.0)
COLUMNS = (1209.0, 1336.0, 1477.0, 1633.0)
KEYPAD = ("123A", "456B", "789C", "*0#D")
KEY_ON_MS = 100
"""How long a key sounds (a person's press)."""
KEY_OFF_MS = 80
"""The silence between two keys."""
KEYPAD_LEAD_MS = 150
"""Silence before a keypad turn's first key and after its last (the phone leaves the ear)."""


def frequencies(digit: str) -> tuple[float, float]:
    """A key's row and column frequencies (Hz)."""
    for r, keys in enumerate(KEYPAD):
        if digit in keys:
            return ROWS[r], COLUMNS[keys.index(digit)]
    raise ValueError(f"not a DTMF key: {digit!r}")


def dtmf_tones(digits: str, rate: int, *, on_ms: int = KEY_ON_MS, off_ms: int = KEY_OFF_MS,
               level_dbfs: float = -10.0) -> npt.NDArray[np.int16]:
    """In-band DTMF: each key's row and column tones for ``on_ms``, ``off_ms`` of silence
    between keys; each tone at ``level_dbfs`` (a full-scale sine is 0 dBFS), with 2 ms ramps
    so a key starts and stops without a click."""
    for digit in digits:
        if digit not in DIGITS:
            raise ValueError(f"not a DTMF key: {digit!r}; expected one of {DIGITS}")
    amplitude = 32767 * 10 ** (level_dbfs / 20)
    n_on, n_off = rate * on_ms // 1000, rate * off_ms // 1000
    t = np.arange(n_on) / rate
    ramp = np.minimum(1.0, np.minimum(np.arange(n_on), np.arange(n_on)[::-1]) / (0.002 * rate))
    parts: list[npt.NDArray[np.float64]] = []
    for i, digit in enumerate(digits):
        row, column = frequencies(digit)
        tone = amplitude * ramp * (np.sin(2 * np.pi * row * t) + np.sin(2 * np.pi * column * t))
        parts += [np.zeros(n_off), tone] if i else [tone]
    if not parts:
        return np.zeros(0, np.int16)
    out: npt.NDArray[np.int16] = np.rint(np.concatenate(parts)).astype(np.int16)
    return out


def keypad_clip(keys: str, rate: int) -> tuple[npt.NDArray[np.int16], int, int]:
    """A keypad turn's clip: the keys' tones between :data:`KEYPAD_LEAD_MS` of silence, with the
    first and last tone sample (over SIP the runner sends RFC 4733 events at those times and
    silence in their place)."""
    tones = dtmf_tones(keys, rate)
    lead = np.zeros(KEYPAD_LEAD_MS * rate // 1000, dtype=np.int16)
    clip = np.concatenate([lead, tones, lead])
    clip.setflags(write=False)
    return clip, len(lead), len(lead) + len(tones) - 1
