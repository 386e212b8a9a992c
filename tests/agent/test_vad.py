"""Server VAD on the input stream's own clock: start/stop times, padding, gates, threshold."""

from __future__ import annotations

import numpy as np
from agent_client import caller_speech, silence

from harness import audio
from harness.agent.vad import SpeechPaused, SpeechStarted, SpeechStopped, VoiceActivityDetector

RATE = 24000


def _feed(vad: VoiceActivityDetector, stream: np.ndarray, chunk: int = 37 * RATE // 1000):
    """Feed in odd-sized chunks (frames straddle appends); events with the stream ms they came."""
    events = []
    for offset in range(0, len(stream), chunk):
        events.extend(vad.feed(stream[offset:offset + chunk]))
    return events


def _scaled(x: np.ndarray, db: float) -> np.ndarray:
    return np.clip(x.astype(np.float64) * 10 ** (db / 20), -32768, 32767).astype(np.int16)


def test_speech_start_and_stop_on_the_stream_clock():
    clip = caller_speech("Hi, I need to cancel an order.")
    onset, end = audio.detect_speech(clip, RATE)
    stream = np.concatenate([silence(1000), clip, silence(1500)])
    vad = VoiceActivityDetector(RATE, prefix_padding_ms=300, silence_duration_ms=500)
    events = _feed(vad, stream)
    started, stopped = [e for e in events if not isinstance(e, SpeechPaused)]
    paused = [e for e in events if isinstance(e, SpeechPaused)][-1]
    assert (type(started), type(stopped)) == (SpeechStarted, SpeechStopped)
    onset_ms = 1000 + onset * 1000 / RATE
    end_ms = 1000 + end * 1000 / RATE
    assert abs(started.onset_ms - onset_ms) <= 60
    assert started.audio_start_ms == started.onset_ms - 300
    assert abs(stopped.speech_end_ms - end_ms) <= 80
    assert stopped.audio_end_ms - stopped.speech_end_ms in range(500, 521)
    # The speculative transcript starts while the silence is still running.
    assert paused.speech_end_ms == stopped.speech_end_ms


def test_caller_level_raises_the_frame_gate():
    caller = caller_speech("Hello, my name is Marcelo.")
    vad = VoiceActivityDetector(RATE, silence_duration_ms=500)
    _feed(vad, np.concatenate([silence(500), caller, silence(800)]))
    floor_only = vad.gate_db()
    vad.learn_caller_level()
    assert vad.caller_level_db is not None and vad.caller_level_db > -30
    assert vad.gate_db() == vad.caller_level_db - 6.0 > floor_only
    # Without the caller gate (talk_over_noise) the caller's level does not matter.
    ungated = VoiceActivityDetector(RATE, silence_duration_ms=500, caller_gate=False)
    ungated.caller_level_db = vad.caller_level_db
    assert ungated.gate_db() < vad.gate_db()


def test_the_caller_at_the_same_level_is_heard_again():
    caller = caller_speech("Hello, my name is Marcelo.")
    again = caller_speech("Yes, that is right.")
    stream = np.concatenate([silence(500), caller, silence(800), again, silence(800)])
    events = _feed(VoiceActivityDetector(RATE, silence_duration_ms=500), stream)
    assert sum(isinstance(e, SpeechStopped) for e in events) == 2


def test_threshold_sets_how_loud_speech_must_be():
    quiet = _scaled(caller_speech("Hello there."), -24)
    stream = np.concatenate([silence(300), quiet, silence(800)])
    assert any(isinstance(e, SpeechStarted) for e in _feed(
        VoiceActivityDetector(RATE, threshold=0.3), stream))
    assert not any(isinstance(e, SpeechStarted) for e in _feed(
        VoiceActivityDetector(RATE, threshold=0.9), stream))


def test_steady_background_bed_does_not_hold_the_turn_open():
    rng = np.random.default_rng(1)
    clip = caller_speech("Can you check my order?")
    bed_level = np.sqrt(np.mean(clip.astype(np.float64) ** 2)) * 10 ** (-15 / 20)
    stream = np.concatenate([silence(800), clip, silence(2000)]).astype(np.float64)
    stream += rng.normal(0, bed_level, len(stream))
    events = _feed(VoiceActivityDetector(RATE, silence_duration_ms=500),
                   np.clip(stream, -32768, 32767).astype(np.int16))
    assert [type(e) for e in events if not isinstance(e, SpeechPaused)] == [
        SpeechStarted, SpeechStopped]


def test_g711_rate_input():
    clip = caller_speech("Hello there, how are you?", rate=8000)
    stream = np.concatenate([silence(500, 8000), clip, silence(1000, 8000)])
    events = _feed(VoiceActivityDetector(8000, silence_duration_ms=400), stream, chunk=160)
    assert [type(e) for e in events if not isinstance(e, SpeechPaused)] == [
        SpeechStarted, SpeechStopped]
