"""The local agent's Kokoro voice on a telephone line: a session voice that names a Kokoro voice is
spoken by Kokoro, and its read-back, coded to G.711 and back, is heard by the grader's recogniser
with the grader's strict normaliser (espeak-ng's was heard 0 or 1 time in 4, in every voice and
rate tried)."""

from __future__ import annotations

import numpy as np
import pytest

from harness.agent import tts
from harness.audio import decode_g711
from harness.spoken import find_readbacks

pytest.importorskip("kokoro_onnx")

READ_BACK = "Just to confirm, I heard {}. Is that right?"


@pytest.fixture(scope="module")
def recognizer():
    from harness.agent.asr import get_recognizer

    return get_recognizer("tiny.en")


def test_a_kokoro_voice_name_is_spoken_by_kokoro_and_a_service_voice_by_espeak() -> None:
    assert tts.kokoro_voice_name("bf_emma") == "bf_emma"
    assert tts.kokoro_voice_name(" BM_George ") == "bm_george"
    assert tts.kokoro_voice_name("marin") is None and tts.kokoro_voice_name("en-gb+f3") is None
    fmt = {"type": "audio/pcm"}
    kokoro = tts.synthesize_sentence("Is that right?", "bf_emma", 1.0, fmt)
    espeak = tts.synthesize_sentence("Is that right?", "marin", 1.0, fmt)
    assert kokoro.pcm.dtype == np.int16 and kokoro.encoded == kokoro.pcm.astype("<i2").tobytes()
    assert not np.array_equal(kokoro.pcm[:len(espeak.pcm)], espeak.pcm[:len(kokoro.pcm)])


@pytest.mark.parametrize("order_id", ["83521", "40917", "66203"])
def test_a_kokoro_agent_voice_reads_an_id_back_audibly_over_g711(recognizer, order_id) -> None:
    text = READ_BACK.format(", ".join(order_id))
    sentence = tts.synthesize_sentence(text, "bf_emma", 1.0, {"type": "audio/pcmu"})
    assert 2.0 < sentence.duration_ms / 1000 < 8.0
    line = decode_g711(sentence.encoded, "ulaw")  # what a phone line carries, at 8 kHz
    heard = recognizer.transcribe_sync(line, 8000)
    assert order_id in find_readbacks(heard), heard
