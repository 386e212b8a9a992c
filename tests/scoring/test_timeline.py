"""The timeline derived from hand-built recordings: ownership, transcripts, playback, edge cases."""

from __future__ import annotations

from harness.scoring import build_timeline
from tests.scoring.builder import CallBuilder


def test_responses_and_calls_belong_to_the_turn_that_started_before_them():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Where is my order?")
    r0 = b.respond(b.speech_end(t0) + 600, "I'll check that now.", call=("lookup_order",
                                                                         {"order_id": "1"}))
    t1 = b.caller(8000.0, "Thanks.")
    b.respond(b.speech_end(t1) + 600, "You're welcome.")
    tl = build_timeline(b.recording())
    assert [r.turn_index for r in tl.responses] == [t0, t1]
    assert tl.function_calls[0].turn_index == t0
    assert tl.function_calls[0].arguments == {"order_id": "1"}
    assert tl.responses[0].transcript == "I'll check that now."
    assert tl.responses[0].response_id == r0.response_id
    assert tl.complete


def test_a_slow_answer_belongs_to_the_turn_it_answers_and_idle_prompts_to_the_silence():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Can you check my order?")
    t1 = b.caller(9000.0, None, kind="silence", duration=7000.0)
    # The answer to turn 0 is created only after the silence turn began (a slow agent) ...
    b.respond(9500.0, "Sure, what is the order number?")
    # ... while a prompt after the server's idle timeout reacts to the silence itself.
    b.add(14000.0, "received", "input_audio_buffer.timeout_triggered",
          {"audio_start_ms": 9000, "audio_end_ms": 14000, "item_id": "item_t"})
    b.respond(14100.0, "Are you still there?")
    t2 = b.caller(17000.0, None, kind="play", duration=3000.0, vad=True)
    b.respond(18500.0, "Sorry, I didn't catch that.")
    tl = build_timeline(b.recording())
    assert [r.turn_index for r in tl.responses] == [t0, t1, t2]


def test_input_the_line_noise_opened_before_the_first_turn_belongs_to_that_turn():
    b = CallBuilder()
    # Babble on the line starts the server's VAD turn 150 ms before the caller speaks.
    t0 = b.caller(1000.0, "Please check order 8 3 5 2 1.", vad_started_at=850.0,
                  transcription="Please check order 8 3 5 2 1.")
    b.respond(b.speech_end(t0) + 600, "Just to confirm, I heard 8, 3, 5, 2, 1. Is that right?")
    tl = build_timeline(b.recording())
    assert [r.turn_index for r in tl.responses] == [t0]
    assert [tr.turn_index for tr in tl.input_transcriptions] == [t0]


def test_follow_up_response_belongs_to_the_calls_turn_even_after_the_next_turn_started():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Where is my order?")
    s = b.respond(b.speech_end(t0) + 600, "Checking.", call=("lookup_order", {"order_id": "1"}))
    # The next caller turn starts while the tool is still busy (an after_ms turn).
    t1 = b.caller(b.call_time(s) + 500, "Hello?")
    b.answer(s, b.call_time(s) + 3000)
    b.respond(b.call_time(s) + 3010, "It has shipped.")
    tl = build_timeline(b.recording())
    follow = tl.responses[1]
    assert follow.follow_up_of == s.call_ids[0]
    assert follow.turn_index == t0 != t1
    assert tl.function_calls[0].answer is not None
    assert tl.function_calls[0].answer.latency_ms == 3000


def test_transcript_falls_back_to_deltas_and_empty_transcripts_are_tolerated():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Hi.")
    b.respond(b.speech_end(t0) + 500, "Hello there.", transcript=False)
    tl = build_timeline(b.recording())
    item = tl.responses[0].message_items[0]
    assert item.transcript == ""
    assert item.has_audio
    utt = tl.utterances()[0]
    assert utt.transcript == ""
    assert utt.audible_onset_ms is not None


def test_cancelled_and_overlapping_responses():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Tell me everything.")
    a = b.respond(b.speech_end(t0) + 500, "Here is a very long answer about many things.",
                  status="cancelled", reason="turn_detected", done=b.speech_end(t0) + 2500,
                  stop_at=b.speech_end(t0) + 1500)
    # A second response starts before the first is done.
    b.respond(b.speech_end(t0) + 1000, "Sorry, go on.", play_start=b.speech_end(t0) + 1600)
    tl = build_timeline(b.recording())
    first, second = tl.responses
    assert first.cancelled and first.status_reason == "turn_detected"
    assert first.interrupted and first.played_ms > 0 and first.dropped_ms > 0
    assert second.created_ms < first.done_ms  # type: ignore[operator]
    assert first.response_id == a.response_id
    assert len(tl.audible_intervals()) == 2


def test_incomplete_recording_without_done_events():
    b = CallBuilder(status="running")
    t0 = b.caller(1000.0, "Hi.")
    b.respond(b.speech_end(t0) + 500, "Hello", status=None, play=False)
    tl = build_timeline(b.recording(ended=False))
    assert not tl.complete
    assert tl.responses[0].status is None and tl.responses[0].done_ms is None
    assert tl.utterances()[0].audible_onset_ms is None


def test_recording_without_any_turn_or_response():
    tl = build_timeline(CallBuilder().recording())
    assert tl.turns == [] and tl.responses == [] and tl.function_calls == []
    assert tl.turn_at(1e9) is None


def test_tool_answer_without_protocol_events_still_yields_a_call():
    b = CallBuilder()
    b.caller(1000.0, "Hi.")
    b.annotate(5000.0, "harness.tool.answered", call_id="call_x", name="lookup_order",
               arguments={"order_id": "7"}, arguments_raw='{"order_id": "7"}', invented=False,
               output={"ok": True}, latency_ms=0, call_index=0)
    tl = build_timeline(b.recording())
    assert [(c.name, c.arguments) for c in tl.function_calls] == [("lookup_order",
                                                                    {"order_id": "7"})]


def test_vad_truncate_and_input_transcription():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Eight three five.", transcription="8 3 5")
    b.truncate(3000.0, "item_x", 420)
    tl = build_timeline(b.recording())
    assert [v.kind for v in tl.vad] == ["speech_started", "speech_stopped"]
    assert tl.truncates[0].audio_end_ms == 420
    assert tl.input_transcriptions[0].transcript == "8 3 5"
    assert tl.input_transcriptions[0].turn_index == t0


def test_the_timeline_reads_function_calls_by_the_runner_s_protocol_rules():
    # one call though three events carry it; a call cut off mid-arguments is none
    b = CallBuilder()
    t0 = b.caller(1000.0, "Cancel order 83521.")
    call = {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup_order",
            "arguments": '{"order_id": "83521"}', "status": "completed"}
    partial = {"type": "function_call", "id": "fc_2", "call_id": "call_2",
               "name": "cancel_order", "arguments": '{"order_id": "83', "status": "incomplete"}
    b.add(3000.0, "received", "response.created", {"response": {"id": "resp_x"}})
    b.add(3100.0, "received", "response.output_item.done", {"response_id": "resp_x",
                                                            "item": call})
    b.add(3200.0, "received", "response.output_item.done", {"response_id": "resp_x",
                                                            "item": partial})
    b.add(3300.0, "received", "response.done", {"response": {
        "id": "resp_x", "status": "cancelled", "output": [call, partial]}})
    tl = build_timeline(b.recording())
    assert [(c.call_id, c.arguments, c.turn_index) for c in tl.function_calls] == [
        ("call_1", {"order_id": "83521"}, t0)]
    assert tl.function_calls[0].seq == tl.responses[0].created_seq + 1
    assert tl.responses[0].cancelled
