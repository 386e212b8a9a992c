"""Barge-in, no_response, dead air, turn answered, tool calls, transcript and input WER."""

from __future__ import annotations

from harness.scoring import score
from tests.scoring.builder import CallBuilder


def one(b: CallBuilder, expectation):
    [v] = score(b.recording(), [expectation])
    return v


# --------------------------------------------------------------------------- barge_in

def _barge(stop_after_onset: float | None = 100.0, *, truncate_delta: float = 0.0,
           truncate: bool = True, done_before: bool = True, status: str = "completed"
           ) -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "Tell me about the refund.")
    created = b.speech_end(t0) + 500
    answer = ("Your refund will take five to seven business days and you will get an email "
              "when it is done, and then the money shows up on your card.")
    onset = created + 120 + 25 + 900
    stop = onset + stop_after_onset if stop_after_onset is not None else None
    done = created + 400 if done_before else (stop or onset) + 50
    s = b.respond(created, answer, stop_at=stop, done=done, status=status,
                  reason="turn_detected" if status == "cancelled" else None)
    b.caller(onset - 20.0, "Wait, can I also ask something?", trigger="barge_in")
    if stop is not None and truncate:
        assert s.play_start_ms is not None
        b.truncate(stop + 1, s.item_id, int(stop - s.play_start_ms + truncate_delta))
    return b


def test_barge_in_pass_and_measured_stop_time():
    v = one(_barge(120.0), {"barge_in": {"max_stop_ms": 500}})
    assert v.status == "pass", v.summary
    assert v.measured["interruptions"][0]["stop_ms"] == 120.0
    assert v.measured["interruptions"][0]["cancel"] == "finished before the interruption"


def test_barge_in_slow_stop_or_never_stopping_fails():
    v = one(_barge(800.0), {"barge_in": {"max_stop_ms": 500}})
    assert v.status == "fail" and "800 ms" in v.summary
    v = one(_barge(None), {"barge_in": {}})
    assert v.status == "fail" and "played on to its end" in v.summary


def test_barge_in_truncate_checks():
    v = one(_barge(100.0, truncate=False), {"barge_in": {}})
    assert v.status == "fail" and "no conversation.item.truncate" in v.summary
    v = one(_barge(100.0, truncate_delta=300.0), {"barge_in": {"truncate_tolerance_ms": 60}})
    assert v.status == "fail" and "differs" in v.summary


def test_barge_in_response_in_progress_must_be_cancelled():
    v = one(_barge(100.0, done_before=False, status="completed"), {"barge_in": {}})
    assert v.status == "fail" and "not cancelled" in v.summary
    v = one(_barge(100.0, done_before=False, status="cancelled"), {"barge_in": {}})
    assert v.status == "pass", v.summary
    assert v.measured["interruptions"][0]["cancel"] == "cancelled (turn_detected)"


def test_barge_in_fails_without_overlap_saying_why():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Hi.")
    b.respond(b.speech_end(t0) + 500, "Hello.", audio_ms=640.0)  # audible 25 ms in: 615 ms heard
    b.caller(9000.0, "Bye.", barge_in_at_agent_ms=900)
    v = one(b, {"barge_in": {}})
    assert v.status == "fail"
    assert v.summary == ("no interruption to grade: the barge-in turn 2 never overlapped agent "
                         "audio: the reply ended after 615 ms, before the caller's planned "
                         "interruption 900 ms into it")
    b = CallBuilder()
    b.caller(1000.0, "Hi.")
    b.caller(9000.0, "Anyone?", trigger="barge_in")
    v = one(b, {"barge_in": {}})
    assert v.status == "fail" and "the agent said nothing audible before it" in v.summary


# --------------------------------------------------------------------------- no_response

def _hold_music(agent: str | None, wait_call: bool = False,
                wait_tool: str = "wait_for_user", flagged: bool = True) -> CallBuilder:
    tools = [{"name": wait_tool, "wait": flagged, "parameters": {"type": "object"}}]
    b = CallBuilder(tools=tools)
    t0 = b.caller(1000.0, "Hold on a second.")
    b.respond(b.speech_end(t0) + 500, "Sure.")
    b.caller(5000.0, None, kind="play", duration=5000.0, vad=agent is not None or wait_call)
    if agent is not None or wait_call:
        b.respond(6000.0, agent, call=(wait_tool, {}) if wait_call else None)
    return b


def test_no_response_silent_or_wait_for_user_passes():
    assert one(_hold_music(None), {"no_response": {}}).status == "pass"
    v = one(_hold_music(None, wait_call=True), {"no_response": {}})
    assert v.status == "pass" and "1 call(s) of the wait tool" in v.summary
    # A short backchannel is not a take-over (< 1 s and at most 3 words).
    b = _hold_music("Mm-hmm.", wait_call=False)
    assert one(b, {"no_response": {}}).status == "pass"
    v = one(CallBuilder(), {"no_response": {}})
    assert v.status == "fail" and "no moment to stay quiet in" in v.summary
    v = one(_hold_music(None), {"no_response": {"turns": [2, 3]}})
    assert v.status == "fail" and "turn 3 was never played" in v.summary


def test_the_wait_tool_is_the_one_the_agent_config_flags():
    # Any name: the flag makes a tool the no-op wait tool, not the name.
    v = one(_hold_music(None, wait_call=True, wait_tool="keep_listening"), {"no_response": {}})
    assert v.status == "pass"
    v = one(_hold_music(None, wait_call=True, wait_tool="keep_listening", flagged=False),
            {"no_response": {}})
    assert v.status == "fail" and "called keep_listening" in v.summary


def test_talking_over_hold_music_fails():
    v = one(_hold_music("Sorry, I didn't catch that. Could you repeat it?"), {"no_response": {}})
    assert v.status == "fail" and "not addressed" in v.summary
    assert v.evidence[-1].label == "agent take-over"


def test_a_take_over_counts_once_any_of_it_played():
    """A reply to hold music that the caller's next words stopped: once some of it played, the
    words it began count (a sentence, not a backchannel); stopped before any of it played,
    nothing was heard."""
    line = "I heard only part of the order number. Could you repeat it for me, please?"

    def cut(after_ms: float) -> CallBuilder:
        b = CallBuilder()
        t0 = b.caller(1000.0, "Hold on a second.")
        b.respond(b.speech_end(t0) + 500, "Sure.")
        b.caller(5000.0, None, kind="play", duration=3000.0, vad=True)
        s = b.respond(7000.0, line, stop_at=7120.0 + after_ms, status="cancelled",
                      reason="turn_detected")
        b.caller(8000.0, "Sorry, yes.", trigger="barge_in")
        assert s.play_start_ms is not None
        b.truncate(7121.0 + after_ms, s.item_id, int(after_ms))
        return b

    v = one(cut(550.0), {"no_response": {}})
    assert v.status == "fail" and "550 ms, 15 words" in v.summary, v.summary
    v = one(cut(0.0), {"no_response": {}})
    assert v.status == "pass", v.summary
    # still listed in what was measured, as the reply nobody heard
    [window] = [w for w in v.measured["windows"] if w["turn"] == 2]
    assert [(s["ms"], s["words"]) for s in window["agent_speech"]] == [(0.0, 15)]


def _tv_then_yes(reply_at: float | None = None) -> CallBuilder:
    """A TV (not addressed) runs straight into the caller's "Yes": the server's turn detection
    hears one stretch of input from the TV's speech to the end of the caller's."""
    b = CallBuilder()
    t0 = b.caller(1000.0, "Check my appointment, please.")
    b.respond(b.speech_end(t0) + 500, "Sure.")
    b.caller(5000.0, None, kind="play", duration=3000.0, vad=False)
    yes = b.caller(8000.0, "Sorry about that. Yes, that is right.", vad=False)
    item = b.new_id("item_in")
    b.add(5300.0, "received", "input_audio_buffer.speech_started",
          {"audio_start_ms": 5200, "item_id": item})
    stopped = b.speech_end(yes) + 550.0
    b.add(stopped, "received", "input_audio_buffer.speech_stopped",
          {"audio_end_ms": int(b.speech_end(yes)), "item_id": item})
    b.add(stopped + 10.0, "received", "input_audio_buffer.committed",
          {"item_id": item, "previous_item_id": None})
    b.respond(reply_at if reply_at is not None else stopped + 20.0,
              "Thank you. Your appointment is on Tuesday at ten thirty.")
    return b


def test_input_opened_by_a_tv_and_run_into_the_callers_words_is_the_callers_turn():
    # answered after the caller's words: the answer to them, not a take-over of the TV
    b = _tv_then_yes()
    assert one(b, {"no_response": {"turns": [2]}}).status == "pass"
    assert one(b, {"turn_answered": {"turns": [3]}}).status == "pass"
    # decided while only the TV had played: a take-over, though the input ran on
    v = one(_tv_then_yes(reply_at=6500.0), {"no_response": {"turns": [2]}})
    assert v.status == "fail" and "audio not addressed" in v.summary


def test_take_over_during_a_mid_turn_pause():
    b = CallBuilder()
    t0 = b.caller(1000.0, "My order number is, um, eight three five two one.", duration=4000.0,
                  pauses=[(2500.0, 4000.0)])
    b.respond(3100.0, "Sure, what is the order number you would like me to check?")
    b.respond(b.speech_end(t0) + 500, "Thanks.")
    v = one(b, {"no_response": {}})
    assert v.status == "fail" and "mid-turn pause" in v.summary
    # The answer after the turn's end is not a take-over.
    b = CallBuilder()
    t0 = b.caller(1000.0, "My order number is, um, eight three five two one.", duration=4000.0,
                  pauses=[(2500.0, 4000.0)])
    b.respond(b.speech_end(t0) + 500, "Thanks, let me read that back.")
    assert one(b, {"no_response": {}}).status == "pass"


def test_a_reply_spilling_into_a_silence_turn_is_not_a_take_over():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Where is my order?")
    b.respond(b.speech_end(t0) + 500, "It is on its way and should arrive tomorrow morning.")
    b.caller(b.speech_end(t0) + 700, None, kind="silence", duration=6000.0)
    assert one(b, {"no_response": {}}).status == "pass"


def test_action_call_during_silence_fails():
    b = CallBuilder()
    b.caller(1000.0, None, kind="silence", duration=6000.0)
    b.respond(3000.0, None, call=("escalate_to_human", {}))
    v = one(b, {"no_response": {"turns": [1]}})
    assert v.status == "fail" and "escalate_to_human" in v.summary


# --------------------------------------------------------------------------- dead_air

def test_dead_air_measures_the_longest_silent_gap_before_the_final_answer():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Check order one two three.")
    end = b.speech_end(t0)
    s = b.respond(end + 500 - 145, "Checking.", call=("lookup_order", {"order_id": "123"}),
                  audio_ms=800.0)
    b.answer(s, b.call_time(s) + 2500)
    b.respond(b.call_time(s) + 2510, "It has shipped.")
    v = one(b, {"dead_air": {"max_ms": 1500}})
    gap = v.measured["turns"][0]["longest_gap_ms"]
    # preamble plays [end+500, end+1300]; the answer is heard ~2.5 s after the call.
    assert 1500 < gap < 2500 and v.status == "fail"
    assert one(b, {"dead_air": {"max_ms": 2500}}).status == "pass"
    v = one(CallBuilder(), {"dead_air": {"max_ms": 100}})
    assert v.status == "fail" and "no caller turn with speech" in v.summary


def test_an_unanswered_turn_is_dead_air_until_the_caller_goes_on():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Hello?")
    b.caller(b.speech_end(t0) + 4000.0, "Is anyone there?")
    v = one(b, {"dead_air": {"max_ms": 3000}})
    assert v.status == "fail" and "turn 1: 4,000 ms of dead air" in v.summary
    assert "never answered" in v.summary


# --------------------------------------------------------------------------- turn_answered

def test_turn_answered():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Hi.")
    b.respond(b.speech_end(t0) + 500, "Hello.")
    b.caller(6000.0, "Anyone there?")
    v = one(b, {"turn_answered": {}})
    assert v.status == "fail" and "turn 2" in v.summary
    assert v.measured["turns"][0]["answered_after_ms"] == 645.0  # created +500, audible +145
    assert one(b, {"turn_answered": {"turns": [1]}}).status == "pass"
    v = one(b, {"turn_answered": {"turns": [1, 3]}})
    assert v.status == "fail" and v.summary == "turn 3 was never played (the call ended first)"
    slow = CallBuilder()
    t0 = slow.caller(1000.0, "Hi.")
    slow.respond(slow.speech_end(t0) + 3000, "Hello.")
    assert one(slow, {"turn_answered": {"timeout_ms": 2000}}).status == "fail"


# --------------------------------------------------------------------------- tool calls

def _two_lookups() -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "Check A B dash one two.")
    b.respond(b.speech_end(t0) + 500, "Checking.", call=("lookup_order", {"order_id": "AB-12"}))
    t1 = b.caller(8000.0, "And eight three five.")
    b.respond(b.speech_end(t1) + 500, "Checking.",
              call=("lookup_order", {"order_id": "835", "extra": {"a": [1, 2]}}))
    return b


def test_tool_called_with_normalised_argument_subset_and_times():
    b = _two_lookups()
    assert one(b, {"tool_called": {"name": "lookup_order"}}).status == "pass"
    v = one(b, {"tool_called": {"name": "lookup_order",
                                "arguments": {"order_id": "A B dash one two"}}})
    assert v.status == "pass" and v.measured["matching"] == 1
    assert one(b, {"tool_called": {"name": "lookup_order", "arguments": {
        "order_id": "eight three five", "extra": {"a": [1, 2]}}}}).status == "pass"
    v = one(b, {"tool_called": {"name": "lookup_order", "times": 1}})
    assert v.status == "fail" and "2 time(s)" in v.summary
    v = one(b, {"tool_called": {"name": "lookup_order", "arguments": {"order_id": "999"}}})
    assert v.status == "fail" and "no call matched" in v.summary
    v = one(b, {"tool_called": {"name": "cancel_order"}})
    assert v.status == "fail" and "never called" in v.summary


def test_no_tool_call():
    b = _two_lookups()
    assert one(b, {"no_tool_call": {"name": "cancel_order"}}).status == "pass"
    assert one(b, {"no_tool_call": {"name": "lookup_order"}}).status == "fail"
    assert one(b, {"no_tool_call": {}}).status == "fail"
    assert one(CallBuilder(), {"no_tool_call": {}}).status == "pass"


# --------------------------------------------------------------------------- transcript

def test_transcript_phrases():
    b = CallBuilder()
    t0 = b.caller(1000.0, "When does it arrive?")
    b.respond(b.speech_end(t0) + 500, "It arrives on April 25. Anything else?")
    assert one(b, {"transcript": {"must_say": ["april 25"]}}).status == "pass"
    v = one(b, {"transcript": {"must_say": ["April 26"], "must_not_say": ["anything else"]}})
    assert v.status == "fail" and "April 26" in v.summary and "anything else" in v.summary
    assert one(b, {"transcript": {"must_say": [r"april \d+"], "regex": True}}).status == "pass"
    # Word boundaries: "else" is not found inside another word.
    assert one(b, {"transcript": {"must_say": ["lse"]}}).status == "fail"


# --------------------------------------------------------------------------- input_heard

def test_input_heard_wer():
    b = CallBuilder()
    b.caller(1000.0, "Eight, three, five, two, one.", transcription="8 3 5 2 1")
    b.caller(6000.0, "Yes, that's right.", transcription="Yes that's right")
    v = one(b, {"input_heard": {"max_wer": 0.1}})
    assert v.status == "pass" and v.measured["wer"] == 0.0
    b = CallBuilder()
    b.caller(1000.0, "Eight, three, five, two, one.", transcription="eight three nine")
    v = one(b, {"input_heard": {"max_wer": 0.3}})
    assert v.status == "fail" and v.measured["wer"] == 0.6
    b = CallBuilder()
    b.caller(1000.0, "Hi.")
    v = one(b, {"input_heard": {}})
    assert v.status == "fail" and "sent no input transcription" in v.summary
