"""ASR of the agent's real (espeak-ng) audio against its own transcript, with faster-whisper."""

from __future__ import annotations

from harness.audio import synthesize
from harness.scoring import score
from tests.scoring.builder import CallBuilder

SAID = ["Sure, I can help with that. What is the order number?",
        "Just to confirm, I heard eight, three, five, two, one. Is that right?",
        "Your order has shipped and arrives on Friday."]


def _call(tmp_path, transcripts: list[str]):
    b = CallBuilder()
    t = 1000.0
    for said, transcript in zip(SAID, transcripts, strict=True):
        turn = b.caller(t, "Hello.")
        s = b.respond(b.speech_end(turn) + 500, transcript,
                      samples=synthesize(said, voice="en-gb"))
        t = (s.play_start_ms or 0.0) + s.audio_ms + 1000.0
    return b.write(tmp_path / "trial")


def test_audio_matching_its_transcript_passes(tmp_path):
    [v] = score(_call(tmp_path, SAID), [{"speech_matches_transcript": {"max_wer": 0.2}}])
    assert v.status == "pass", v.summary
    assert len(v.measured["items"]) == 3
    assert "friday" in v.measured["items"][2]["asr"].lower()


def test_audio_saying_something_else_than_its_transcript_fails(tmp_path):
    lying = [SAID[0], SAID[1], "I have cancelled your subscription and closed the account."]
    [v] = score(_call(tmp_path, lying), [{"speech_matches_transcript": {"max_wer": 0.2}}])
    assert v.status == "fail", v.summary
    items = v.measured["items"]
    assert items[2]["wer"] > 0.6 and max(items[0]["wer"], items[1]["wer"]) < 0.3


def test_fails_without_an_agent_track_saying_why():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Hi.")
    b.respond(b.speech_end(t0) + 500, "Hello.")
    [v] = score(b.recording(), [{"speech_matches_transcript": {}}])
    assert v.status == "fail" and "no agent audio track" in v.summary


def test_the_graders_transcript_of_a_recording_is_the_same_every_time():
    """Speech the recogniser doubts (Spanish, decoded as English) sent Whisper's fallback to
    unseeded sampling: each transcription wrote other words, so one recording was graded two
    ways. The grader decodes at temperature 0 alone."""
    from harness.audio import speak
    from harness.scoring.scorers.speech_matches_transcript import (
        transcribe_each,
        transcribe_items,
    )

    spanish = speak("Claro que sí, con mucho gusto le ayudo con su pedido ahora mismo.",
                    "es")
    pieces = [spanish.samples]
    together = {tuple(transcribe_items(pieces, spanish.sample_rate)) for _ in range(4)}
    alone = {tuple(transcribe_each(pieces, spanish.sample_rate, 5)) for _ in range(4)}
    assert len(together) == 1 and len(alone) == 1, (together, alone)
