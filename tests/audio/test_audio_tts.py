"""Text to speech through espeak-ng: voices, determinism, word timings, threads."""

from __future__ import annotations

import subprocess
import sys
import threading

import numpy as np
import pytest

from harness.audio import (
    _tts,
    available_voices,
    detect_speech,
    engine_versions,
    resolve_voice,
    speak,
    synthesize,
    voice_exists,
)
from harness.errors import InputError

TEXT = "Hi, I need to check my order."


def test_synthesize_gives_pcm16_speech_at_the_requested_rate() -> None:
    clip = synthesize(TEXT)
    assert clip.dtype == np.int16 and clip.ndim == 1
    assert 1.0 < len(clip) / 24000 < 3.5
    assert np.abs(clip).max() > 3000  # real audio, not silence
    clip8 = synthesize(TEXT, sample_rate=8000)
    assert abs(len(clip8) * 3 - len(clip)) <= 3


def test_rate_and_voice_change_the_audio() -> None:
    slow = synthesize(TEXT, words_per_minute=130)
    fast = synthesize(TEXT, words_per_minute=260)
    assert len(fast) < 0.7 * len(slow)
    us, gb = synthesize(TEXT, voice="en-us"), synthesize(TEXT, voice="en-gb")
    assert not np.array_equal(us[: min(len(us), len(gb))], gb[: min(len(us), len(gb))])


def test_same_text_is_identical_whatever_was_spoken_before() -> None:
    # espeak-ng keeps state between utterances; the worker must hide it.
    first = synthesize(TEXT, voice="en-gb+m3").tobytes()
    synthesize("Something else entirely, with a different length.", voice="en-gb+m3")
    _tts._memory.clear()
    assert synthesize(TEXT, voice="en-gb+m3").tobytes() == first


def test_output_is_identical_across_processes() -> None:
    code = ("import hashlib; from harness.audio import synthesize; "
            f"print(hashlib.sha256(synthesize({TEXT!r}).tobytes()).hexdigest())")
    here = __import__("hashlib").sha256(synthesize(TEXT).tobytes()).hexdigest()
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           check=True, timeout=60).stdout.strip()
    assert other == here


def test_voices_resolve_to_espeak_identifiers() -> None:
    assert resolve_voice("en-us") == "gmw/en-US"
    assert resolve_voice("EN-GB") == "gmw/en"
    assert resolve_voice("en-gb+f3") == "gmw/en+f3"
    assert "en-us" in available_voices() and "en-gb" in available_voices()
    assert voice_exists("en-gb-x-rp") and voice_exists("gmw/en-US+m3")
    assert not voice_exists("xx-nowhere")
    assert not voice_exists("en-us+nosuchvariant")
    with pytest.raises(InputError, match="unknown voice 'en-zz'"):
        synthesize("hello", voice="en-zz")
    assert set(engine_versions()) == {"espeak-ng", "pyttsx3"}


def test_empty_text_is_an_input_error() -> None:
    with pytest.raises(InputError, match="empty"):
        synthesize("   ")


def test_word_timings_point_at_the_words() -> None:
    speech = speak("Order eight three five, please.")
    words = [speech.text[w.start:w.start + w.length] for w in speech.words]
    assert words == ["Order", "eight", "three", "five", "please"]
    starts = [w.sample for w in speech.words]
    assert starts == sorted(starts) and starts[-1] < len(speech.samples)
    # Each word's own audio starts at its timing: speech right after, not before.
    span = detect_speech(speech.samples[starts[3]:], 24000)
    assert span is not None and span[0] < 0.06 * 24000


def test_word_positions_refer_to_the_original_text() -> None:
    text = "  Un   café,\nplease  "
    speech = speak(text)
    assert [text[w.start:w.start + w.length] for w in speech.words] == ["Un", "café", "please"]


def test_threads_share_the_engine_safely() -> None:
    texts = [f"Caller number {i % 3} says hello." for i in range(9)]
    results: dict[int, bytes] = {}

    def run(i: int) -> None:
        results[i] = synthesize(texts[i], voice="en-us+f2").tobytes()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(9):
        assert results[i] == results[i % 3]
    assert len({results[0], results[1], results[2]}) == 3


def test_a_sentence_asked_for_by_several_threads_at_once_is_made_once() -> None:
    """The calls of a run start together and their agent says the same first sentences: the
    threads that ask while one makes it wait for that one, instead of each making it again on
    the one engine."""
    made: list[int] = []
    started = threading.Event()

    def make() -> _tts.Speech:
        made.append(1)
        started.set()
        threading.Event().wait(0.3)  # a synthesis in progress
        return speak("Is that right?")

    key = ("test", "single flight", threading.get_ident())
    results: list[_tts.Speech] = []
    first = threading.Thread(target=lambda: results.append(_tts._remembered(key, make)))
    first.start()
    started.wait(5)
    others = [threading.Thread(target=lambda: results.append(_tts._remembered(key, make)))
              for _ in range(3)]
    for t in others:
        t.start()
    for t in [first, *others]:
        t.join(10)
    assert len(made) == 1 and len(results) == 4
    assert all(r is results[0] for r in results)


def test_a_sentence_whose_making_failed_is_made_by_the_next_thread_that_asks() -> None:
    key = ("test", "failed once", threading.get_ident())

    def fail() -> _tts.Speech:
        raise RuntimeError("engine down")

    with pytest.raises(RuntimeError):
        _tts._remembered(key, fail)
    assert _tts._remembered(key, lambda: speak("Is that right?")).text == "Is that right?"
