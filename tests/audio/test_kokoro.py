"""Kokoro voices: real synthesis with the installed model and voice pack, heard back by the
local recogniser; word timings good enough to cut a caller off after a given word; the install
refusing a voice pack whose checksum is wrong; voices merged per turn."""

from __future__ import annotations

import io
import re
import tarfile
from pathlib import Path

import numpy as np
import pytest

from harness.audio import detect_speech, render_scenario
from harness.audio._tts import speak_kokoro
from harness.errors import InputError
from harness.kokoro import VOICES, install_voices, kokoro_voice
from harness.kokoro import _install as install
from harness.scenario.models import CallerVoice, Scenario
from harness.spoken import spoken_to_compact

LINE = "Hi, I'm calling about my order. The number is eight, three, five, two, one."
THREE = ("af_heart", "bm_george", "hf_alpha")  # American woman, British man, Hindi-accented woman


@pytest.fixture(scope="module")
def recognizer():
    from harness.agent.asr import get_recognizer

    return get_recognizer("tiny.en")


def _heard(recognizer, samples: np.ndarray, rate: int = 24_000) -> str:
    return recognizer.transcribe_sync(samples, rate)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", spoken_to_compact(text))


@pytest.mark.parametrize("voice", THREE)
def test_three_voices_say_the_line_and_the_recogniser_reads_the_id_back(recognizer, voice):
    speech = speak_kokoro(LINE, voice)
    samples = np.asarray(speech.samples)
    assert speech.sample_rate == 24_000 and samples.dtype == np.int16
    seconds = samples.size / 24_000
    assert 3.5 < seconds < 8.0, seconds  # 14 words at a natural rate, no runaway audio
    span = detect_speech(samples, 24_000)
    assert span is not None and (span[1] - span[0]) / 24_000 > 3.0
    # word timings: one per word, in order, inside the clip
    assert [LINE[w.start:w.start + w.length] for w in speech.words] == LINE.split()
    starts = [w.sample for w in speech.words]
    assert starts == sorted(starts) and starts[-1] < samples.size
    assert "83521" in _digits(_heard(recognizer, samples))


def test_the_same_text_and_voice_give_the_same_samples(monkeypatch):
    from harness.audio import _tts
    from harness.kokoro import _engine

    synthesised: list[str] = []
    real_speak = _engine.speak

    def counted(text, voice, speed=1.0):
        synthesised.append(text)
        return real_speak(text, voice, speed)

    monkeypatch.setattr(_engine, "speak", counted)
    line = "Order eight, three, five."
    first = speak_kokoro(line, "bf_emma").samples
    assert speak_kokoro(line, "bf_emma") is speak_kokoro(line, "bf_emma")  # remembered
    assert synthesised == [line]
    _tts._memory.clear()
    again = speak_kokoro(line, "bf_emma").samples
    assert synthesised == [line, line]  # forgotten, so synthesised anew: the same samples
    assert np.array_equal(first, again)


def _scenario(caller: dict, turns: list[dict]) -> Scenario:
    return Scenario.model_validate({"name": "kokoro", "caller": caller, "turns": turns,
                                    "expect": [{"transcript": {"must_say": ["order"]}}]})


@pytest.mark.parametrize("voice", ["am_michael", "bf_emma"])
def test_a_caller_cut_off_after_a_word_is_heard_up_to_that_word(recognizer, cache_dir, voice):
    scenario = _scenario({"voice": voice}, [
        {"say": "The order number is eight, three, five, two, one.",
         "cut_off": {"after_text": "The order number is eight, three, five,"}}])
    turn = render_scenario(scenario, cache_dir=cache_dir).turns[0]
    assert turn.cut_off and turn.spoken_text == "The order number is eight, three, five,"
    heard = _heard(recognizer, turn.samples)
    assert _digits(heard) == "835", heard


def test_a_turn_that_changes_the_rate_keeps_the_callers_voice():
    scenario = _scenario({"voice": "bm_george"}, [{"say": "Hello.", "voice":
                                                   {"words_per_minute": 130}}])
    voice = scenario.voice_of(scenario.turns[0])
    assert (voice.engine_name, voice.voice, voice.words_per_minute) == ("kokoro", "bm_george", 130)
    other = _scenario({"voice": "bm_george"}, [{"say": "Hi.", "voice": {"voice": "en-gb"}}])
    assert other.voice_of(other.turns[0]).engine_name == "espeak"


def test_the_engine_follows_the_voice_unless_given():
    assert CallerVoice(voice="af_heart").engine_name == "kokoro"
    assert CallerVoice(voice="en-gb+f3").engine_name == "espeak"
    assert CallerVoice(engine="kokoro").voice == "af_heart"
    assert len(VOICES) == 54 and {v.accent for v in VOICES.values()} >= {
        "American English", "British English", "Hindi", "Spanish"}
    with pytest.raises(InputError, match="unknown Kokoro voice 'af_nobody'; similar voices: af_"):
        kokoro_voice("af_nobody")


def _tarball(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_a_voice_pack_with_the_wrong_checksum_is_refused_and_nothing_is_written(
        tmp_path: Path, monkeypatch):
    monkeypatch.setenv(install.DIR_ENV, str(tmp_path / "kokoro"))
    fake = tmp_path / "kokoro-js-1.2.1.tgz"
    fake.write_bytes(_tarball({"package/voices/af_heart.bin":
                               np.zeros(256 * 4, np.float32).tobytes()}))
    with pytest.raises(InputError, match="SHA-256 .* expected 1f0d0383"):
        install_voices(fake)
    assert not (tmp_path / "kokoro").exists() or not any((tmp_path / "kokoro").iterdir())
    with pytest.raises(InputError, match="harness voices install"):
        install.voices_path()


def test_the_installed_voice_pack_holds_every_voice():
    """setup.sh installed the pack as npm ships it: all 54 voices as (frames, 1, 256) style
    vectors, the catalogue's names exactly."""
    installed = np.load(install.voices_path())
    assert sorted(installed.files) == sorted(VOICES)
    assert all(installed[name].shape[1:] == (1, 256) for name in installed.files)
