"""Text to speech with word timings: espeak-ng through pyttsx3's binding, Kokoro's neural
voices (``speak_kokoro``; both deterministic), or a cloud speech endpoint (``speak_openai``);
``speak_as`` speaks with a scenario's ``CallerVoice`` and ``voice_identity`` says what shapes
its clips. Each is remembered in this process (the render cache keeps them on disk).

Synthesis runs in the espeak-ng worker process (:mod:`harness.espeak`), which forks a fresh
child per utterance, so a clip depends only on (text, voice, rate) and never on what was spoken
before.
Calls from any thread are serialised by a lock; a short sentence takes a few milliseconds.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.audio._codec import resample
from harness.errors import InputError
from harness.espeak import engine_versions, resolve_voice, worker
from harness.extras import require
from harness.kokoro import kokoro_voice
from harness.scenario.models import CallerVoice

DEFAULT_VOICE = "en-us"
DEFAULT_WORDS_PER_MINUTE = 165
STREAM_RATE = 24_000


@dataclass(frozen=True)
class Word:
    """Where one word of the input text is spoken: characters [start, start+length) of the
    text begin at ``sample`` in the clip."""

    start: int
    length: int
    sample: int


@dataclass(frozen=True)
class Speech:
    """One synthesised utterance: PCM16 mono samples and the start sample of each word."""

    text: str
    samples: np.ndarray
    sample_rate: int
    words: tuple[Word, ...]


# --------------------------------------------------------------------------- synthesis

_MEMORY_ENTRIES = 512
_memory: OrderedDict[tuple[Any, ...], Speech] = OrderedDict()
_memory_lock = threading.Lock()
_making: dict[tuple[Any, ...], threading.Event] = {}


def _remembered(key: tuple[Any, ...], make: Callable[[], Speech]) -> Speech:
    """The speech for ``key`` from this process's memory, else ``make()`` remembered. A key
    being made is made once: threads that ask for it meanwhile wait for it (the calls of a run
    start together and their agent says the same first sentences; each had synthesised them
    itself, one after the other on the engine, and with a Kokoro voice the first calls of a run
    were mute for 15 s)."""
    while True:
        with _memory_lock:
            hit = _memory.get(key)
            if hit is not None:
                _memory.move_to_end(key)
                return hit
            made = _making.get(key)
            if made is None:
                _making[key] = threading.Event()
                break
        made.wait()  # then from memory, or made here if that attempt failed
    try:
        speech = make()
        with _memory_lock:
            _memory[key] = speech
            while len(_memory) > _MEMORY_ENTRIES:
                _memory.popitem(last=False)
        return speech
    finally:
        with _memory_lock:
            _making.pop(key).set()


def _clean_text(text: str) -> str:
    # espeak reads control characters and SSML-looking brackets literally or not at all;
    # whitespace runs only shift word positions.
    return re.sub(r"\s+", " ", text).strip()


def speak(text: str, voice: str = DEFAULT_VOICE,
          words_per_minute: int = DEFAULT_WORDS_PER_MINUTE,
          sample_rate: int = STREAM_RATE) -> Speech:
    """Synthesise ``text`` with word timings (deterministic; memoised in this process).

    Word positions refer to ``text`` as given. The samples are espeak-ng's output resampled
    with soxr; leading and trailing silence are kept as the engine produced them.
    """
    if not text.strip():
        raise InputError("nothing to say: the text is empty")
    return _remembered(("espeak", text, voice, int(words_per_minute), int(sample_rate)),
                       lambda: _speak_espeak(text, voice, int(words_per_minute), sample_rate))


def _speak_espeak(text: str, voice: str, words_per_minute: int, sample_rate: int) -> Speech:
    espeak_voice = resolve_voice(voice)
    spoken = _clean_text(text)
    header, pcm = worker.request({"op": "speak", "text": spoken, "voice": espeak_voice,
                                   "words_per_minute": int(words_per_minute)})
    native_rate = int(header["sample_rate"])
    samples = resample(np.frombuffer(pcm, dtype=np.int16), native_rate, sample_rate)
    samples.setflags(write=False)
    offsets = _char_offsets(text, spoken)
    words = tuple(
        Word(start=offsets[start],
             length=offsets[min(start + length, len(spoken))] - offsets[start],
             sample=round(sample * sample_rate / native_rate))
        for start, length, sample in header["words"] if start < len(spoken))
    return Speech(text=text, samples=samples, sample_rate=sample_rate, words=words)


def _char_offsets(original: str, cleaned: str) -> list[int]:
    """Map each character index of ``cleaned`` (plus its end) to an index of ``original``."""
    offsets: list[int] = []
    i = 0
    for ch in cleaned:
        while i < len(original) and original[i] != ch and not (ch == " " and original[i].isspace()):
            i += 1
        offsets.append(i)
        if ch == " ":
            while i < len(original) and original[i].isspace():
                i += 1
        else:
            i += 1
    offsets.append(len(original.rstrip()))
    return offsets


def synthesize(text: str, voice: str = DEFAULT_VOICE,
               words_per_minute: int = DEFAULT_WORDS_PER_MINUTE,
               sample_rate: int = STREAM_RATE) -> np.ndarray:
    """Speak ``text`` with espeak-ng: PCM16 mono samples at ``sample_rate`` (24 kHz default).

    Deterministic (the same arguments give the same samples in any process, in any order) and
    memoised. ``voice`` is one of ``available_voices()``, optionally with a variant
    (``en-gb+f3``); an unknown voice raises ``InputError``. Thread-safe; a short sentence takes
    a few milliseconds. The result is a fresh, writable array.
    """
    return speak(text, voice, words_per_minute, sample_rate).samples.copy()


def speak_kokoro(text: str, voice: str, words_per_minute: int = DEFAULT_WORDS_PER_MINUTE,
                 sample_rate: int = STREAM_RATE) -> Speech:
    """Synthesise ``text`` with the Kokoro voice ``voice``, with word timings (deterministic;
    memoised in this process).

    Needs the ``voices`` extra and the installed voice pack (``harness voices install``).
    """
    require("voices", f"the Kokoro voice {voice!r}")
    return _remembered(("kokoro", text, voice, int(words_per_minute), int(sample_rate)),
                       lambda: _speak_kokoro(text, voice, int(words_per_minute), sample_rate))


def _speak_kokoro(text: str, voice: str, words_per_minute: int, sample_rate: int) -> Speech:
    from harness.kokoro._engine import SAMPLE_RATE, speak, speed_for  # noqa: PLC0415

    spoken = speak(text, voice, speed_for(words_per_minute))
    pcm = np.clip(np.round(spoken.samples * 32767.0), -32768, 32767).astype(np.int16)
    samples = resample(pcm, SAMPLE_RATE, sample_rate) if sample_rate != SAMPLE_RATE else pcm
    samples.setflags(write=False)
    words = tuple(Word(start=s, length=n, sample=round(at * sample_rate / SAMPLE_RATE))
                  for s, n, at in spoken.words)
    return Speech(text=text, samples=samples, sample_rate=sample_rate, words=words)


def kokoro_versions() -> dict[str, str]:
    """What shapes a Kokoro clip (the render cache key); needs the ``voices`` extra."""
    require("voices", "the Kokoro voices")
    from harness.kokoro._engine import engine_versions  # noqa: PLC0415

    return {"engine": "kokoro", **engine_versions()}


def speak_openai(text: str, voice: str, model: str, instructions: str | None = None,
                 sample_rate: int = STREAM_RATE) -> Speech:
    """``text`` from the speech endpoint (``harness.audio._openai_tts``), with word starts
    estimated in proportion to the text; memoised in this process."""
    from harness.audio import _openai_tts as cloud  # noqa: PLC0415

    if not text.strip():
        raise InputError("nothing to say: the text is empty")

    def make() -> Speech:
        pcm = cloud.request_speech(text, voice, model, instructions)
        samples = resample(pcm, cloud.PCM_RATE, sample_rate) if sample_rate != cloud.PCM_RATE \
            else pcm
        samples.setflags(write=False)
        words = tuple(Word(start=s, length=n, sample=at)
                      for s, n, at in cloud.word_starts(text, samples, sample_rate))
        return Speech(text=text, samples=samples, sample_rate=sample_rate, words=words)

    return _remembered(("openai", text, voice, model, instructions, cloud.base_url(),
                        int(sample_rate)), make)


def voice_identity(voice: CallerVoice) -> dict[str, Any]:
    """The engine's name for ``voice`` and everything that shapes its clips, never a key
    (``InputError`` for an unknown voice or a missing engine)."""
    engine = voice.engine_name
    if engine == "kokoro":
        return {"voice": kokoro_voice(voice.voice).name, **kokoro_versions()}
    if engine == "openai":
        from harness.audio._openai_tts import base_url  # noqa: PLC0415
        from harness.scenario._caller import DEFAULT_OPENAI_MODEL  # noqa: PLC0415

        return {"engine": "openai", "voice": voice.voice, "endpoint": base_url(),
                "model": voice.model or DEFAULT_OPENAI_MODEL,
                "instructions": voice.spoken_instructions}
    return {"voice": resolve_voice(voice.voice), **engine_versions()}


def speak_as(voice: CallerVoice, text: str, sample_rate: int = STREAM_RATE) -> Speech:
    """``text`` spoken with a scenario's caller voice, by its engine."""
    engine = voice.engine_name
    if engine == "kokoro":
        return speak_kokoro(text, voice.voice, voice.words_per_minute, sample_rate)
    if engine == "openai":
        from harness.scenario._caller import DEFAULT_OPENAI_MODEL  # noqa: PLC0415

        return speak_openai(text, voice.voice, voice.model or DEFAULT_OPENAI_MODEL,
                            voice.spoken_instructions, sample_rate)
    return speak(text, voice.voice, voice.words_per_minute, sample_rate)
