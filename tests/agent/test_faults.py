"""The degenerate-agent faults at the agent's output: parsing, and what each changes."""

from __future__ import annotations

import numpy as np
import pytest

from harness.agent.faults import INVENTED_TOOL, FaultInjector, Faults
from harness.agent.policy import CallTool, Say
from harness.agent.tts import TTS_RATE, SpokenSentence, encode
from harness.errors import InputError

PCM = {"type": "audio/pcm", "rate": 24000}


def _sentence(ms: int = 500) -> SpokenSentence:
    pcm = (3000 * np.sin(np.arange(ms * TTS_RATE // 1000) / 5)).astype(np.int16)
    return SpokenSentence(text="Hello there.", pcm=pcm, encoded=encode(pcm, PCM))


def test_the_degenerate_faults_parse_and_print_back():
    faults = Faults.parse("mute,silent_audio,lead_silence_ms=400,error_event,invent_tool")
    assert (faults.mute, faults.silent_audio, faults.lead_silence_ms, faults.error_event,
            faults.invent_tool) == (True, True, 400, True, True)
    assert Faults.parse(faults.spec()) == faults
    with pytest.raises(InputError, match="lead_silence_ms.*needs a value"):
        Faults.parse("lead_silence_ms")


def test_mute_never_answers():
    assert FaultInjector(Faults()).answers()
    assert not FaultInjector(Faults(mute=True)).answers()


def test_silent_audio_keeps_the_length_and_transcript_but_not_the_sound():
    spoken = FaultInjector(Faults(silent_audio=True)).speech(_sentence(), PCM, head=True)
    assert spoken.text == "Hello there." and len(spoken.pcm) == len(_sentence().pcm)
    assert not spoken.pcm.any() and not any(spoken.encoded)


def test_lead_silence_goes_before_the_first_sentence_of_a_response_only():
    injector = FaultInjector(Faults(lead_silence_ms=400))
    original = _sentence()
    head = injector.speech(original, PCM, head=True)
    assert head.duration_ms == pytest.approx(original.duration_ms + 400)
    assert not head.pcm[: 400 * TTS_RATE // 1000].any()
    assert np.array_equal(head.pcm[400 * TTS_RATE // 1000:], original.pcm)
    assert injector.speech(original, PCM, head=False) is original


def test_invent_tool_adds_one_call_to_an_undeclared_tool_once():
    injector = FaultInjector(Faults(invent_tool=True))
    assert injector.actions([]) == []
    first = injector.actions([Say("Let me check.")])
    assert [type(a).__name__ for a in first[:1]] == ["Say"]
    assert (first[1].name, first[1].arguments) == (INVENTED_TOOL, {})
    # the caller cut that response off before its call went out: the next one makes it
    again = [CallTool("lookup_order", {"order_id": "1"})]
    assert injector.actions(again)[-1].name == INVENTED_TOOL
    injector.called("lookup_order")
    injector.called(INVENTED_TOOL)
    assert injector.actions(again) == again


def test_error_event_follows_the_first_response_done_only():
    injector = FaultInjector(Faults(error_event=True))
    assert injector.after_event({"type": "response.created"}) == []
    [error] = injector.after_event({"type": "response.done"})
    assert error["type"] == "error" and error["error"]["type"] == "server_error"
    assert injector.after_event({"type": "response.done"}) == []
    assert FaultInjector(Faults()).after_event({"type": "response.done"}) == []
