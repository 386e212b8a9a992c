"""Speech from Kokoro-82M (int8 ONNX, through kokoro-onnx), with word timings.

The model predicts how many frames each phoneme lasts; the harness's copy of it returns those
durations beside the audio (see ``model_path``), so every word starts exactly where its first
phoneme does. Sentences are spoken one at a time (as kokoro-onnx batches them), trimmed, and
joined with 100 ms more than the model gives the full stop itself; the pauses at commas are
the model's own.

Synthesis is deterministic (a fixed two-thread ONNX session: the same text, voice and speed give
the same samples) and serialised by a lock; it runs at about 0.4 × real time on two cores.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from functools import cache
from importlib.metadata import version as package_version
from typing import Any

import numpy as np

from harness.errors import InputError
from harness.kokoro._install import MODEL_SHA256, VOICE_PACK_VERSION, model_path, voices_path
from harness.kokoro._voices import kokoro_voice

SAMPLE_RATE = 24_000
THREADS = 2
SENTENCE_PAUSE_S = 0.10
TIMING_VERSION = "3"
"""Bump when the word timing or the speed for a rate changes (part of the render cache key)."""
_WORD = re.compile(r"\S+")
_MARKS = ".,!?;:—…\"'()[]"

_lock = threading.Lock()


@dataclass(frozen=True)
class KokoroSpeech:
    """Float samples in [-1, 1] at 24 kHz and, per word of the text, (char start, char length,
    start sample)."""

    samples: np.ndarray
    words: tuple[tuple[int, int, int], ...]


@cache
def _engine() -> Any:
    import onnxruntime  # noqa: PLC0415 - only when a Kokoro voice speaks
    from kokoro_onnx import Kokoro  # noqa: PLC0415

    for name in ("phonemizer", "kokoro_onnx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(model_path()), options,
                                           providers=["CPUExecutionProvider"])
    kokoro = Kokoro.from_session(session, str(voices_path()))
    if not kokoro.has_timings:
        raise InputError(f"{model_path()} gives no phoneme durations; delete it to remake it")
    return kokoro


@cache
def engine_versions() -> dict[str, str]:
    """Everything that shapes a Kokoro clip (part of the render cache key)."""
    return {"kokoro-onnx": package_version("kokoro-onnx"),
            "onnxruntime": package_version("onnxruntime"), "model": MODEL_SHA256[:16],
            "voices": VOICE_PACK_VERSION, "threads": str(THREADS), "timing": TIMING_VERSION}


WORDS_PER_MINUTE_AT_1 = 220
"""How fast Kokoro speaks at speed 1.0: the median of eight voices (American, British, Hindi and
Spanish accents) on three caller lines was 223 words a minute of speech, from 180 (bm_george on
an order number) to 285 (ef_dora)."""


def speed_for(words_per_minute: int) -> float:
    """Kokoro's speed for a speaking rate (0.5 to 2.0, the model's range)."""
    return float(min(2.0, max(0.5, words_per_minute / WORDS_PER_MINUTE_AT_1)))


def speak(text: str, voice: str, speed: float = 1.0) -> KokoroSpeech:
    """Speak ``text`` with the Kokoro voice ``voice`` (see ``VOICES``) at ``speed``."""
    spec = kokoro_voice(voice)
    if not text.strip():
        raise InputError("nothing to say: the text is empty")
    with _lock:
        kokoro = _engine()
        try:
            audio, _, timings = kokoro.create_timed(
                text, voice=spec.name, speed=speed, lang=spec.language, trim=True,
                sentence_pause=SENTENCE_PAUSE_S, clause_pause=0.0)
        except ValueError as exc:  # text with no phonemes ("…", a lone symbol)
            raise InputError(f"Kokoro cannot say {text!r}: {exc}") from None
        words = [(m.start(), len(m.group())) for m in _WORD.finditer(text)]
        counts = [_phoneme_words(kokoro, m, spec.language) for m in _WORD.findall(text)]
    starts = _word_starts(timings, counts)
    samples = np.asarray(audio, dtype=np.float32)
    return KokoroSpeech(samples=samples, words=tuple(
        (s, n, min(round(at * SAMPLE_RATE), samples.size - 1))
        for (s, n), at in zip(words, starts, strict=True)))


def _phoneme_words(kokoro: Any, word: str, language: str) -> int:
    """How many words the phonemiser makes of one written word ("83521" is several)."""
    bare = word.strip(_MARKS)
    if not bare:
        return 0
    return len(kokoro.tokenizer.phonemize(bare, language).split())


def _word_starts(timings: list[Any], counts: list[int]) -> list[float]:
    """When each written word starts: the first phoneme of its first spoken word.

    ``timings`` are kokoro-onnx's phonemes with times, words separated by spaces; a written word
    that makes ``counts[i]`` spoken words takes that many. A word that makes none (a lone mark)
    starts where the next one does; if the counts disagree with the phonemes, each written word
    takes its share of the spoken ones.
    """
    spoken: list[float] = []
    fresh = True
    for t in timings:
        if t.phoneme == " ":
            fresh = True
        elif fresh and t.phoneme not in _MARKS:
            spoken.append(float(t.start))
            fresh = False
    if not spoken:
        return [0.0] * len(counts)
    total = sum(counts)
    if total != len(spoken):  # the text was normalised differently: share them out in order
        scale = len(spoken) / max(1, total)
        firsts = np.floor(np.cumsum([0, *counts])[:-1] * scale).astype(int)
        return [spoken[min(int(i), len(spoken) - 1)] for i in firsts]
    out: list[float] = []
    k = 0
    for c in counts:
        out.append(spoken[min(k, len(spoken) - 1)])
        k += c
    return out
