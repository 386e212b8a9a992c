"""The local agent's voice on a telephone line: its SIP calls speak with a Kokoro voice, and its
read-back, coded to G.711 and back, is heard by the grader's recogniser with the grader's strict
normaliser (espeak-ng's was heard 0 or 1 time in 4, in every voice and rate tried)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.agent import tts
from harness.agent.server import sip_session
from harness.audio import decode_g711
from harness.kokoro import VOICES
from harness.scenario import load_agent_config
from harness.spoken import find_readbacks

pytest.importorskip("kokoro_onnx")

ROOT = Path(__file__).resolve().parents[2]
READ_BACK = "Just to confirm, I heard {}. Is that right?"


@pytest.fixture(scope="module")
def recognizer():
    from harness.agent.asr import get_recognizer

    return get_recognizer("tiny.en")


def test_a_sip_call_of_the_local_agent_speaks_with_a_kokoro_voice() -> None:
    config = load_agent_config(ROOT / "agents" / "support.yaml")
    assert config.voice == "marin"
    assert sip_session(config)["audio"]["output"]["voice"] == "bf_emma"
    assert tts.phone_voice("cedar") == "bm_george"
    assert tts.phone_voice("am_michael") == "am_michael"  # a Kokoro voice stays as it is
    assert all(voice in VOICES for voice in tts.PHONE_VOICES.values())


@pytest.mark.parametrize("order_id", ["83521", "40917", "66203"])
def test_the_agents_phone_voice_reads_an_id_back_audibly_over_g711(recognizer, order_id) -> None:
    text = READ_BACK.format(", ".join(order_id))
    sentence = tts.synthesize_sentence(text, tts.phone_voice("marin"), 1.0,
                                       {"type": "audio/pcmu"})
    assert sentence.pcm.dtype == np.int16 and 2.0 < sentence.duration_ms / 1000 < 8.0
    line = decode_g711(sentence.encoded, "ulaw")  # what a phone line carries, at 8 kHz
    heard = recognizer.transcribe_sync(line, 8000)
    assert order_id in find_readbacks(heard), heard
