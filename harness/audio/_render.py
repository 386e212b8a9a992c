"""Rendering a scenario's caller turns to PCM16 clips with speech boundaries, plus its noise beds.

Each turn becomes a clean clip (no bed) with its speech onset and end found on that clip, the
mid-turn pause intervals, and what was actually said; the beds are separate endless loops the
runner mixes under the stream chunk by chunk. Everything is deterministic and cached by content.
"""

from __future__ import annotations

import math
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from harness.audio import _noise
from harness.audio._cache import RenderCache, cache_key
from harness.audio._codec import to_int16
from harness.audio._dtmf import keypad_clip
from harness.audio._noise import SILENT_BED, Bed
from harness.audio._speech import active_speech_level, detect_speech
from harness.audio._tts import speak_as, voice_identity
from harness.audio._wav import read_clip
from harness.errors import InputError
from harness.espeak import engine_versions
from harness.scenario.models import CallerVoice, NoiseSpec, Pause, Play, Scenario, Turn

SAMPLE_RATE = 24_000
CALLER_SPEECH_LEVEL_DB = -26.0
"""Active level (ITU-T P.56, dB re full scale) of synthesised caller speech: the nominal level of
telephone speech. Recorded clips keep their own level."""
CUT_FADE_MS = 3.0
"""A cut-off ends with this short fade, so it is abrupt but has no click (a click is broadband
energy a VAD could take for more speech)."""
PLAY_FADE_MS = 10.0
_WORD_CLEAN = re.compile(r"[^\w\s]")

TurnKind = Literal["say", "audio", "silence", "play", "dtmf"]


@dataclass(frozen=True, eq=False)
class RenderedTurn:
    """One caller turn as audio: the turn's own clip, without the bed.

    Sample positions are indexes into ``samples`` (24 kHz). ``speech_end_sample`` is the last
    speech sample (inclusive). Speech boundaries are ``None`` for silence and ``play`` turns
    (no caller speech). ``pauses`` are [start, end) intervals of mid-turn pauses.
    """

    index: int
    kind: TurnKind
    samples: np.ndarray
    speech_onset_sample: int | None
    speech_end_sample: int | None
    pauses: tuple[tuple[int, int], ...] = ()
    cut_off: bool = False
    spoken_text: str | None = None
    addressed: bool = False
    sample_rate: int = SAMPLE_RATE

    @property
    def duration_samples(self) -> int:
        return int(self.samples.size)

    @property
    def duration_ms(self) -> float:
        return self.samples.size * 1000.0 / self.sample_rate

    @property
    def speech_onset_ms(self) -> float | None:
        return _ms(self.speech_onset_sample, self.sample_rate)

    @property
    def speech_end_ms(self) -> float | None:
        return _ms(self.speech_end_sample, self.sample_rate)

    @property
    def pauses_ms(self) -> list[tuple[float, float]]:
        return [(a * 1000.0 / self.sample_rate, b * 1000.0 / self.sample_rate)
                for a, b in self.pauses]


def _ms(sample: int | None, rate: int) -> float | None:
    return None if sample is None else sample * 1000.0 / rate


@dataclass(frozen=True, eq=False)
class CallerScript:
    """A rendered scenario: the turns' clips and the beds to play under them.

    ``bed(turn_index)`` is the bed under that turn (its ``noise`` override, or the scenario's);
    ``bed(None)`` the bed between turns. Beds are indexed by stream sample, so switching beds
    never restarts one. ``caller_level_db`` is the active level of all the caller's speech,
    against which SNRs and ``play`` levels are set.
    """

    scenario: str
    turns: tuple[RenderedTurn, ...]
    caller_level_db: float
    scenario_bed: Bed = SILENT_BED
    turn_beds: dict[int, Bed] = field(default_factory=dict)
    sample_rate: int = SAMPLE_RATE

    def bed(self, turn_index: int | None = None) -> Bed:
        if turn_index is not None and turn_index in self.turn_beds:
            return self.turn_beds[turn_index]
        return self.scenario_bed


# --------------------------------------------------------------------------- caches

_memo_lock = threading.Lock()
_memo: dict[tuple[str, str], dict[str, np.ndarray]] = {}
_MEMO_ENTRIES = 256


def _cached(cache: RenderCache, kind: str, params: dict[str, Any],
            make: Any) -> dict[str, np.ndarray]:
    """The arrays for ``params``: from this process, the disk cache, or ``make()``."""
    key = cache_key(kind, params)
    memo_key = (str(cache.root), key)
    with _memo_lock:
        hit = _memo.get(memo_key)
    if hit is not None:
        return hit
    arrays = cache.load_or_make(kind, key, make)
    for array in arrays.values():
        array.setflags(write=False)
    with _memo_lock:
        if len(_memo) >= _MEMO_ENTRIES:
            _memo.pop(next(iter(_memo)))
        _memo[memo_key] = arrays
    return arrays


def clear_memory_cache() -> None:
    """Forget what this process rendered (the disk cache is untouched)."""
    with _memo_lock:
        _memo.clear()


@dataclass(frozen=True)
class _Segment:
    """A synthesised text segment at the caller level, with word timings in its samples."""

    samples: np.ndarray
    words: np.ndarray  # (n, 3): char start, char length, start sample
    speech: tuple[int, int]  # first and last speech sample


def _segment(cache: RenderCache, text: str, voice: CallerVoice) -> _Segment:
    identity = voice_identity(voice)

    def make() -> dict[str, np.ndarray]:
        speech = speak_as(voice, text, SAMPLE_RATE)
        level = active_speech_level(speech.samples, SAMPLE_RATE)
        gain = 10 ** ((CALLER_SPEECH_LEVEL_DB - level) / 20) if math.isfinite(level) else 1.0
        words = np.array([[w.start, w.length, w.sample] for w in speech.words],
                         dtype=np.int64).reshape(-1, 3)
        samples = to_int16(speech.samples * gain)
        span = detect_speech(samples, SAMPLE_RATE) or (0, samples.size - 1)
        return {"samples": samples, "words": words, "speech": np.array(span, dtype=np.int64)}

    arrays = _cached(cache, "tts", {
        "text": text, "words_per_minute": voice.words_per_minute,
        "sample_rate": SAMPLE_RATE, "level_db": CALLER_SPEECH_LEVEL_DB, **identity},
        make)
    return _Segment(arrays["samples"], arrays["words"],
                    (int(arrays["speech"][0]), int(arrays["speech"][1])))


def _unit_loop(cache: RenderCache, kind: str, seed: int) -> np.ndarray:
    params: dict[str, Any] = {"kind": kind, "seed": seed}
    if kind in _noise.TALKER_KINDS:
        params.update(engine_versions())
    return _cached(cache, "bed", params, lambda: {"loop": _noise.GENERATORS[kind](seed)})["loop"]


# --------------------------------------------------------------------------- turns


def _field(index: int, name: str) -> str:
    return f"turns[{index}].{name}"


def _location(scenario: Scenario) -> str | None:
    return str(scenario.source) if scenario.source is not None else None


def _resolve(path: Path, scenario: Scenario) -> Path:
    if path.is_absolute() or scenario.source is None:
        return path
    return Path(scenario.source).parent / path


def _word_end(audio: np.ndarray, words: np.ndarray, k: int) -> int:
    """Sample just after the speech of word ``k`` (before any pause that follows it)."""
    start = int(words[k, 2])
    stop = int(words[k + 1, 2]) if k + 1 < len(words) else audio.size
    span = detect_speech(audio[start:stop], SAMPLE_RATE) if stop > start else None
    return start + span[1] + 1 if span is not None else stop


def _prefix_end(text: str, after_text: str) -> tuple[int, str] | None:
    """Index of the last letter of ``after_text`` in ``text``, and the prefix as written.

    ``after_text`` is found as written, or word by word with case and punctuation ignored (as
    the scenario loader compares them); its last word may stop inside a word of the text.
    """
    at = text.find(after_text)
    if at >= 0:
        last = max((i for i in range(at, at + len(after_text)) if text[i].isalnum()), default=None)
        return None if last is None else (last, text[: at + len(after_text)])
    wanted = _WORD_CLEAN.sub("", after_text.casefold()).split()
    tokens = [(m, _WORD_CLEAN.sub("", m.group().casefold())) for m in re.finditer(r"\S+", text)]
    tokens = [(m, word) for m, word in tokens if word]
    if not wanted or len(wanted) > len(tokens):
        return None
    if any(tokens[i][1] != w for i, w in enumerate(wanted[:-1])):
        return None
    match, word = tokens[len(wanted) - 1]
    if not word.startswith(wanted[-1]):
        return None
    if word == wanted[-1]:
        return max(i for i in range(match.start(), match.end()) if text[i].isalnum()), \
            text[: match.end()]
    letters = [i for i in range(match.start(), match.end()) if text[i].isalnum()]
    last = letters[len(wanted[-1]) - 1]
    return last, text[: last + 1]


def _cut_at_text(audio: np.ndarray, words: np.ndarray, text: str, after_text: str,
                 index: int, scenario: Scenario) -> tuple[int, str]:
    """Where the prefix ending with ``after_text`` stops in the audio, and the text said."""
    found = _prefix_end(text, after_text)
    if found is None:
        raise InputError(f"{after_text!r} is not in the turn's text {text!r}",
                         location=_location(scenario), field=_field(index, "cut_off.after_text"))
    last, prefix = found
    if len(words) == 0 or last < words[0, 0]:
        raise InputError(f"{after_text!r} ends before the first word",
                         location=_location(scenario), field=_field(index, "cut_off.after_text"))
    k = int(np.flatnonzero(words[:, 0] <= last)[-1])
    start, length = int(words[k, 0]), int(words[k, 1])
    end = _word_end(audio, words, k)
    said = last - start + 1
    if said >= length:
        return end, prefix
    # The prefix stops inside a word: cut the same share of the word's audio.
    word_start = int(words[k, 2])
    return word_start + round(said / length * (end - word_start)), prefix


def _text_before(audio: np.ndarray, words: np.ndarray, text: str, cut: int) -> str:
    """The text said before sample ``cut`` (a partly said word keeps the same share of letters)."""
    started = np.flatnonzero(words[:, 2] < cut) if len(words) else np.zeros(0, int)
    if started.size == 0:
        return ""
    k = int(started[-1])
    start, length, word_start = (int(v) for v in words[k])
    end = _word_end(audio, words, k)
    if cut >= end or end <= word_start:
        return text[: start + length]
    return text[: start + math.ceil(length * (cut - word_start) / (end - word_start))]


def _apply_cut(audio: np.ndarray, cut: int,
               pauses: list[tuple[int, int]]) -> tuple[np.ndarray, list[tuple[int, int]]]:
    cut = max(0, min(cut, audio.size))
    out = audio[:cut].astype(np.float64)
    fade = min(int(SAMPLE_RATE * CUT_FADE_MS / 1000), out.size)
    if fade:
        out[-fade:] *= np.linspace(1.0, 0.0, fade + 1)[1:]
    kept = [(a, min(b, cut)) for a, b in pauses if a < cut]
    return to_int16(out), kept


def _say_turn(cache: RenderCache, scenario: Scenario, index: int, turn: Turn) -> RenderedTurn:
    voice = scenario.voice_of(turn)
    try:
        voice_identity(voice)
    except InputError as exc:
        raise InputError(exc.message, location=_location(scenario),
                         field=_field(index, "voice.voice") if turn.voice else "caller.voice"
                         ) from None
    parts = turn.segments
    pieces: list[np.ndarray] = []
    words: list[np.ndarray] = []
    pauses: list[tuple[int, int]] = []
    texts: list[str] = []
    cursor = 0
    char_base = 0
    for i, part in enumerate(parts):
        if isinstance(part, Pause):
            n = part.pause_ms * SAMPLE_RATE // 1000
            if n:
                pauses.append((cursor, cursor + n))
                pieces.append(np.zeros(n, dtype=np.int16))
                cursor += n
            continue
        segment = _segment(cache, part, voice)
        span = segment.speech
        # Inside a turn, segments join at their speech: the pause between them is exactly
        # the scripted one. The turn keeps the engine's own lead-in and tail at its two ends.
        start = span[0] if i > 0 else 0
        stop = span[1] + 1 if i < len(parts) - 1 else segment.samples.size
        pieces.append(segment.samples[start:stop])
        if len(segment.words):
            shifted = segment.words.copy()
            shifted[:, 0] += char_base
            shifted[:, 2] += cursor - start
            words.append(shifted)
        texts.append(part)
        char_base += len(part) + 1
        cursor += stop - start
    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    word_table = np.concatenate(words) if words else np.zeros((0, 3), np.int64)
    text = " ".join(texts)
    spoken = text
    if turn.cut_off is not None:
        cut_off = turn.cut_off
        if cut_off.after_text is not None:
            cut, spoken = _cut_at_text(audio, word_table, text, cut_off.after_text, index, scenario)
        else:
            cut = _cut_sample(audio, cut_off.at_ms, cut_off.fraction)
            spoken = _text_before(audio, word_table, text, cut)
        audio, pauses = _apply_cut(audio, cut, pauses)
    return _speech_turn(index, "say", audio, pauses, turn.cut_off is not None, spoken)


def _cut_sample(audio: np.ndarray, at_ms: int | None, fraction: float | None) -> int:
    span = detect_speech(audio, SAMPLE_RATE) or (0, audio.size - 1)
    if at_ms is not None:
        return span[0] + at_ms * SAMPLE_RATE // 1000
    assert fraction is not None
    return span[0] + round(fraction * (span[1] + 1 - span[0]))


def _speech_turn(index: int, kind: TurnKind, audio: np.ndarray, pauses: list[tuple[int, int]],
                 cut_off: bool, spoken: str | None) -> RenderedTurn:
    audio.setflags(write=False)
    span = detect_speech(audio, SAMPLE_RATE)
    return RenderedTurn(
        index=index, kind=kind, samples=audio,
        speech_onset_sample=span[0] if span else None,
        speech_end_sample=span[1] if span else None,
        pauses=tuple(pauses), cut_off=cut_off, spoken_text=spoken, addressed=True)


def _audio_turn(cache: RenderCache, scenario: Scenario, index: int, turn: Turn) -> RenderedTurn:
    assert turn.audio is not None
    path = _resolve(turn.audio, scenario)
    try:
        audio = read_clip(path, SAMPLE_RATE)
    except InputError as exc:
        raise InputError(f"{path}: {exc.message}", location=_location(scenario),
                         field=_field(index, "audio")) from None
    spoken = turn.text
    if turn.cut_off is not None:
        cut_off = turn.cut_off
        if cut_off.after_text is not None:
            cut, spoken = _cut_clip_at_text(cache, scenario, index, turn, audio, cut_off.after_text)
        else:
            cut = _cut_sample(audio, cut_off.at_ms, cut_off.fraction)
        audio, _ = _apply_cut(audio, cut, [])
    return _speech_turn(index, "audio", audio, [], turn.cut_off is not None, spoken)


def _cut_clip_at_text(cache: RenderCache, scenario: Scenario, index: int, turn: Turn,
                      audio: np.ndarray, after_text: str) -> tuple[int, str]:
    """Where ``after_text`` ends in a recorded clip, estimated from the synthesised text.

    A recording has no word timings, so the turn's ``text`` is synthesised with the caller's
    voice, the prefix's share of that speech is measured, and the clip's speech is cut at the
    same share.
    """
    if turn.text is None:
        raise InputError("after_text needs the clip's words: give the turn a `text`",
                         location=_location(scenario), field=_field(index, "cut_off.after_text"))
    segment = _segment(cache, turn.text, scenario.voice_of(turn))
    cut, spoken = _cut_at_text(segment.samples, segment.words, turn.text, after_text, index,
                               scenario)
    tts_span = segment.speech
    clip_span = detect_speech(audio, SAMPLE_RATE)
    if clip_span is None:
        return 0, ""
    share = (cut - tts_span[0]) / max(1, tts_span[1] + 1 - tts_span[0])
    return clip_span[0] + round(share * (clip_span[1] + 1 - clip_span[0])), spoken


def _play_audio(cache: RenderCache, scenario: Scenario, index: int, play: Play,
                caller_level_db: float) -> np.ndarray:
    n = play.ms * SAMPLE_RATE // 1000
    if play.noise is not None:
        loop = _unit_loop(cache, play.noise, play.seed)
    else:
        assert play.file is not None
        path = _resolve(play.file, scenario)
        try:
            loop = _noise.loop_from_clip(read_clip(path, SAMPLE_RATE))
        except InputError as exc:
            raise InputError(f"{path}: {exc.message}", location=_location(scenario),
                             field=_field(index, "play.file")) from None
    audio = _noise.scale_to_level(_noise.fit_length(loop, n), caller_level_db + play.level_db)
    fade = min(int(SAMPLE_RATE * PLAY_FADE_MS / 1000), n // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32)
        audio[:fade] *= ramp
        audio[-fade:] *= ramp[::-1]
    return to_int16(audio)


def _bed(cache: RenderCache, scenario: Scenario, spec: NoiseSpec | None, caller_level_db: float,
         field_name: str) -> Bed:
    if spec is None:
        return SILENT_BED
    level = caller_level_db - spec.snr_db
    if spec.kind is not None:
        return Bed(spec.kind, _unit_loop(cache, spec.kind, spec.seed), level,
                   snr_db=spec.snr_db, seed=spec.seed)
    assert spec.file is not None
    path = _resolve(spec.file, scenario)
    try:
        loop = _noise.loop_from_clip(read_clip(path, SAMPLE_RATE))
    except InputError as exc:
        raise InputError(f"{path}: {exc.message}", location=_location(scenario),
                         field=field_name) from None
    return Bed("file", loop, level, snr_db=spec.snr_db)


def _dtmf_turn(index: int, turn: Turn) -> RenderedTurn:
    """A keypad turn: its keys' tones, their first and last sample its "speech" edges."""
    assert turn.dtmf is not None
    samples, onset, end = keypad_clip(turn.dtmf, SAMPLE_RATE)
    return RenderedTurn(index=index, kind="dtmf", samples=samples, speech_onset_sample=onset,
                        speech_end_sample=end, spoken_text=turn.spoken_text, addressed=True)


def render_line(scenario: Scenario, index: int, turn: Turn,
                cache_dir: str | Path | None = None) -> RenderedTurn:
    """A ``say`` turn written during the call (a persona's line) as turn ``index``; cached."""
    return _say_turn(RenderCache(cache_dir), scenario, index, turn)


def render_scenario(scenario: Scenario, cache_dir: str | Path | None = None) -> CallerScript:
    """Render every turn of ``scenario`` and its beds (deterministic; cached under
    ``cache_dir``, by default the user's cache folder: see ``default_cache_dir``).

    Raises ``InputError`` (with the scenario file and the turn's field) for an unreadable clip,
    an unknown voice, or an ``after_text`` that is not in the turn's text.
    """
    cache = RenderCache(cache_dir)
    rendered: dict[int, RenderedTurn] = {}
    for index, turn in enumerate(scenario.turns):
        if turn.kind == "say":
            rendered[index] = _say_turn(cache, scenario, index, turn)
        elif turn.kind == "audio":
            rendered[index] = _audio_turn(cache, scenario, index, turn)

    speech = [t.samples for t in rendered.values() if t.samples.size]
    caller_level = (active_speech_level(np.concatenate(speech), SAMPLE_RATE) if speech
                    else float("-inf"))
    if not math.isfinite(caller_level):
        caller_level = CALLER_SPEECH_LEVEL_DB

    for index, turn in enumerate(scenario.turns):
        if turn.kind == "silence":
            assert turn.silence_ms is not None
            silence = np.zeros(turn.silence_ms * SAMPLE_RATE // 1000, dtype=np.int16)
            silence.setflags(write=False)
            rendered[index] = RenderedTurn(index=index, kind="silence", samples=silence,
                                           speech_onset_sample=None, speech_end_sample=None)
        elif turn.kind == "play":
            assert turn.play is not None
            audio = _play_audio(cache, scenario, index, turn.play, caller_level)
            audio.setflags(write=False)
            rendered[index] = RenderedTurn(index=index, kind="play", samples=audio,
                                           speech_onset_sample=None, speech_end_sample=None)
        elif turn.kind == "dtmf":
            rendered[index] = _dtmf_turn(index, turn)

    scenario_bed = _bed(cache, scenario, scenario.noise, caller_level, "noise")
    turn_beds: dict[int, Bed] = {}
    for index, turn in enumerate(scenario.turns):
        if turn.noise == "none":
            turn_beds[index] = SILENT_BED
        elif isinstance(turn.noise, NoiseSpec):
            turn_beds[index] = _bed(cache, scenario, turn.noise, caller_level,
                                    _field(index, "noise"))
    return CallerScript(scenario=scenario.name,
                        turns=tuple(rendered[i] for i in range(len(scenario.turns))),
                        caller_level_db=caller_level, scenario_bed=scenario_bed,
                        turn_beds=turn_beds)
