"""Background beds and non-addressed sounds: generated from a seed, looped without end.

Every generator returns a seamless loop (its end runs straight into its start) at 24 kHz, so a
bed under a call of any length is a loop buffer read with a wrapping index. Levels are active
levels (ITU-T P.56, see ``active_speech_level``): for steady noise that is its RMS; for talkers it
is their level while they speak, so an SNR compares like with like.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.audio._codec import to_int16
from harness.audio._speech import FULL_SCALE, active_speech_level
from harness.audio._tts import speak

RATE = 24_000
REFERENCE_LEVEL_DB = -30.0
"""Active level at which loops are generated and cached; beds scale from there."""

NOISE_LOOP_S = 20.0
TALKER_LOOP_S = 16.0

_CHATTER = (
    "The train was late again this morning, so I walked the last part.",
    "Did you see the game last night? It went to extra time.",
    "We should try that new place on the corner for lunch.",
    "My sister is moving to the coast in the spring.",
    "I left my umbrella at the office, of course, and then it rained.",
    "The kids have a school play on Thursday evening.",
    "They are painting the whole building next week.",
    "Can you pass me the sugar? Thanks.",
    "I think the meeting got moved to half past three.",
    "The garden looks lovely now that the roses are out.",
    "He said the parking garage is closed for repairs.",
    "Let's not forget to call grandma on Sunday.",
    "The new phone takes much better pictures in the dark.",
    "We ran out of milk, so I used cream instead.",
    "It is supposed to be sunny all weekend, apparently.",
    "I have been reading a book about old lighthouses.",
    "The bus driver waved at everyone this morning.",
    "Honestly, the soup was better the second day.",
)
_NEWS = (
    "Good evening, and welcome to the six o'clock news.",
    "Heavy rain is expected across the north of the region overnight.",
    "The city council has approved plans for a new riverside park.",
    "In sport, the home team secured a narrow win in the final minutes.",
    "Traffic is building on the ring road after an earlier accident.",
    "Scientists say the comet will be visible to the naked eye next week.",
    "Shares closed slightly higher after a quiet day of trading.",
    "And now, a look at tomorrow's weather with our forecaster.",
    "Temperatures will climb to the low twenties by the afternoon.",
    "The museum reopens on Saturday after two years of renovation.",
)
_BABBLE_VOICES = ("en-us", "en-gb", "en-gb-x-rp", "en-029", "en-us+f2", "en-gb+f3",
                  "en-us+m3", "en-gb-scotland+f4")


def _rng(kind: str, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, sum(kind.encode())])


def _unit(x: np.ndarray) -> np.ndarray:
    """Scale to the reference active level, float32 in PCM16 units."""
    rms = float(np.sqrt(np.mean(np.square(x)))) if x.size else 0.0
    if rms == 0:
        return np.zeros(x.size, dtype=np.float32)
    x = x * (FULL_SCALE * 10 ** (REFERENCE_LEVEL_DB / 20) / rms)  # into the level meter's range
    level = active_speech_level(x, RATE)
    return (x * 10 ** ((REFERENCE_LEVEL_DB - level) / 20)).astype(np.float32)


def _level_out(x: np.ndarray, window_s: float = 0.4, max_gain_db: float = 6.0) -> np.ndarray:
    """Even out slow level swings of a circular signal (a crowd gets no louder or quieter)."""
    win = int(window_s * RATE)
    power = np.fft.irfft(np.fft.rfft(np.square(x)) * np.fft.rfft(np.r_[np.ones(win), np.zeros(
        x.size - win)] / win), x.size)  # circular moving average: the loop stays seamless
    power = np.roll(power, -win // 2)
    gain = np.sqrt(np.mean(np.square(x)) / np.maximum(power, 1e-12))
    limit = 10 ** (max_gain_db / 20)
    return x * np.clip(gain, 1 / limit, limit)


def _coloured(seed: int, kind: str, exponent: float) -> np.ndarray:
    """Noise with power ∝ 1/f**exponent, made in the frequency domain so it loops seamlessly."""
    n = int(NOISE_LOOP_S * RATE)
    rng = _rng(kind, seed)
    spectrum = rng.standard_normal(n // 2 + 1) + 1j * rng.standard_normal(n // 2 + 1)
    freqs = np.fft.rfftfreq(n, 1 / RATE)
    shape = np.zeros_like(freqs)
    audible = freqs >= 20.0  # no DC drift or sub-audio rumble
    shape[audible] = freqs[audible] ** (-exponent / 2)
    return np.fft.irfft(spectrum * shape, n)


def white(seed: int) -> np.ndarray:
    return _unit(_rng("white", seed).standard_normal(int(NOISE_LOOP_S * RATE)))


def pink(seed: int) -> np.ndarray:
    return _unit(_coloured(seed, "pink", 1.0))


def brown(seed: int) -> np.ndarray:
    return _unit(_coloured(seed, "brown", 2.0))


def _place(track: np.ndarray, clip: np.ndarray, at: int) -> None:
    """Add ``clip`` into the circular ``track`` starting at ``at`` (wrapping round the end)."""
    n = track.size
    at %= n
    first = min(clip.size, n - at)
    track[at:at + first] += clip[:first]
    rest = clip[first:]
    while rest.size:
        take = min(rest.size, n)
        track[:take] += rest[:take]
        rest = rest[take:]


def _speech_clip(text: str, voice: str, wpm: int) -> np.ndarray:
    x = speak(text, voice, wpm, RATE).samples.astype(np.float64)
    level = active_speech_level(x, RATE)
    return x * 10 ** ((REFERENCE_LEVEL_DB - level) / 20)


def _talker(rng: np.random.Generator, length: int, voices: tuple[str, ...],
            sentences: tuple[str, ...], gap_s: tuple[float, float]) -> np.ndarray:
    """A circular track of one or more alternating voices saying sentences back to back."""
    track = np.zeros(length)
    order = rng.permutation(len(sentences))
    at = int(rng.integers(0, length))
    spoken = 0
    i = 0
    while spoken < length:
        voice = voices[i % len(voices)]
        wpm = int(rng.integers(150, 186))
        clip = _speech_clip(sentences[order[i % len(order)]], voice, wpm)
        if spoken + clip.size > length:
            if i:
                break  # the rest of the loop is a longer pause
            clip = clip[:length]
        _place(track, clip, at)
        gap = int(rng.uniform(*gap_s) * RATE)
        at += clip.size + gap
        spoken += clip.size + gap
        i += 1
    return track


def babble(seed: int) -> np.ndarray:
    """Six talkers at slightly different levels, all at once: a busy room or call centre."""
    rng = _rng("babble", seed)
    length = int(TALKER_LOOP_S * RATE)
    voices = rng.permutation(_BABBLE_VOICES)[:6]
    mix = np.zeros(length)
    for voice in voices:
        mix += _talker(rng, length, (str(voice),), _CHATTER, (0.1, 0.5)) * 10 ** (
            rng.uniform(-3, 3) / 20)
    return _unit(_level_out(mix))


def side_conversation(seed: int) -> np.ndarray:
    """Two people talking to each other nearby (not to the agent)."""
    rng = _rng("side_conversation", seed)
    pair = (("en-us+f2", "en-gb+m3"), ("en-gb+f4", "en-us+m1"))[int(rng.integers(0, 2))]
    return _unit(_talker(rng, int(TALKER_LOOP_S * RATE), pair, _CHATTER, (0.25, 0.7)))


def tv(seed: int) -> np.ndarray:
    """A television in the room: a presenter over quiet music, through a small speaker."""
    rng = _rng("tv", seed)
    length = int(TALKER_LOOP_S * RATE)
    voice = ("en-gb-x-rp", "en-us+m3", "en-gb+f2")[int(rng.integers(0, 3))]
    speech = _talker(rng, length, (voice,), _NEWS, (0.3, 0.6))
    music = _music(rng, length) * 10 ** (-14 / 20)
    mix = np.fft.rfft(speech + music)
    freqs = np.fft.rfftfreq(length, 1 / RATE)
    mix[(freqs < 180) | (freqs > 6500)] = 0  # a TV speaker has no deep bass, few highs
    return _unit(np.fft.irfft(mix, length))


_PROGRESSIONS = ((0, 5, 3, 4), (0, 3, 4, 0), (0, 5, 1, 4), (0, 4, 5, 3))
_MAJOR = (0, 2, 4, 5, 7, 9, 11)


def _note(freq: float, seconds: float, harmonics: int, decay: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    wave = sum(np.sin(2 * np.pi * freq * h * t) / h**1.5 for h in range(1, harmonics + 1))
    attack = np.minimum(1.0, t / 0.015)
    release = np.minimum(1.0, (seconds - t) / 0.08)
    return wave * attack * release * np.exp(-t * decay)


def _music(rng: np.random.Generator, length: int) -> np.ndarray:
    """Soft chords with an arpeggio on a circular timeline (four-chord progression, looped)."""
    track = np.zeros(length)
    root = 220.0 * 2 ** (int(rng.integers(-3, 5)) / 12)
    beat = 60.0 / float(rng.uniform(84, 112))
    progression = _PROGRESSIONS[int(rng.integers(0, len(_PROGRESSIONS)))]
    bar = 4 * beat
    bars = max(1, int(length / RATE / bar))
    bar_len = length / bars  # stretch bars slightly so the loop closes exactly
    for b in range(bars):
        degree = progression[b % len(progression)]
        chord = [_MAJOR[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
        start = int(b * bar_len)
        for semitone in chord:
            _place(track, 0.25 * _note(root * 2 ** (semitone / 12), bar_len / RATE, 4, 0.6),
                   start)
        for step in range(8):  # eighth-note arpeggio an octave up
            semitone = chord[step % 3] + 12
            _place(track, 0.18 * _note(root * 2 ** (semitone / 12), beat / 2 * 0.95, 3, 3.0),
                   start + int(step * bar_len / 8))
    return track


def hold_music(seed: int) -> np.ndarray:
    """Synthesised hold music: chords and an arpeggio, a little muffled like a phone line."""
    rng = _rng("hold_music", seed)
    length = int(NOISE_LOOP_S * RATE)
    music = np.fft.rfft(_music(rng, length))
    freqs = np.fft.rfftfreq(length, 1 / RATE)
    music[freqs > 3400] *= 0.1
    return _unit(np.fft.irfft(music, length))


GENERATORS: dict[str, Callable[[int], np.ndarray]] = {
    "white": white, "pink": pink, "brown": brown, "babble": babble,
    "hold_music": hold_music, "tv": tv, "side_conversation": side_conversation,
}
"""Noise kind → generator of a seamless loop at ``REFERENCE_LEVEL_DB`` (float32, PCM16 units)."""

TALKER_KINDS = frozenset({"babble", "tv", "side_conversation"})
"""Kinds made of synthesised speech (their loops depend on the TTS engine's version)."""


def loop_from_clip(clip: np.ndarray, crossfade_ms: float = 50.0) -> np.ndarray:
    """A seamless loop from a recorded clip: its tail is cross-faded into its head."""
    x = clip.astype(np.float64)
    fade = min(int(RATE * crossfade_ms / 1000), x.size // 4)
    if fade > 0:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False)
        head = x[:fade] * ramp + x[-fade:] * (1 - ramp)
        x = np.concatenate([head, x[fade:-fade]])
    return _unit(x)


def fit_length(loop: np.ndarray, n: int) -> np.ndarray:
    """``n`` samples of a loop from its start, repeating it as often as needed."""
    reps = -(-n // loop.size) if loop.size else 0
    return np.tile(loop, max(reps, 1))[:n] if loop.size else np.zeros(n, np.float32)


class Bed:
    """An endless background bed under the caller stream (never stops between turns).

    ``chunk(start_sample, n)`` gives stream samples [start, start + n) of the bed as int16, ready
    to add (in a wider type) to turn audio. The loop buffer is precomputed once (and shared by
    every bed of the same kind and seed); a chunk is a slice or two scaled to the bed's level.
    ``level_db`` is the bed's active level (dB re full scale).
    """

    def __init__(self, kind: str, unit_loop: np.ndarray, level_db: float, *,
                 snr_db: float | None = None, seed: int | None = None) -> None:
        self.kind = kind
        self.level_db = level_db
        self.snr_db = snr_db
        self.seed = seed
        self._unit = unit_loop
        self._gain = np.float32(10 ** ((level_db - REFERENCE_LEVEL_DB) / 20)) if unit_loop.size \
            else np.float32(0)

    def __repr__(self) -> str:
        return f"Bed(kind={self.kind!r}, level_db={self.level_db:.1f}, seed={self.seed})"

    @property
    def silent(self) -> bool:
        return self._unit.size == 0

    @property
    def loop(self) -> np.ndarray:
        """One whole period of the bed, int16."""
        return self.chunk(0, self._unit.size)

    def chunk(self, start_sample: int, n: int) -> np.ndarray:
        if self.silent or n <= 0:
            return np.zeros(max(n, 0), dtype=np.int16)
        size = self._unit.size
        at = start_sample % size
        if at + n <= size:
            part = self._unit[at:at + n]
        else:
            part = np.empty(n, dtype=np.float32)
            filled = 0
            while filled < n:
                take = min(n - filled, size - at)
                part[filled:filled + take] = self._unit[at:at + take]
                filled += take
                at = 0
        return to_int16(part * self._gain)


SILENT_BED = Bed("none", np.zeros(0, dtype=np.float32), float("-inf"))


def scale_to_level(x: np.ndarray, level_db: float) -> np.ndarray:
    """``x`` (at the reference level) scaled to active level ``level_db``, float32."""
    return (x.astype(np.float64) * 10 ** ((level_db - REFERENCE_LEVEL_DB) / 20)).astype(
        np.float32)
