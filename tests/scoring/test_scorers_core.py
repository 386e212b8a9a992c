"""Latency, preamble, entity read-back, confirmation and escalation on hand-built calls."""

from __future__ import annotations

from harness.scoring import score
from tests.scoring.builder import CallBuilder


def one(b: CallBuilder, expectation):
    [v] = score(b.recording(), [expectation])
    return v


# --------------------------------------------------------------------------- latency

def _plain_and_tool_call(latencies=(700.0, 900.0), tool_latency=1500.0) -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "Hi there.")
    b.respond(b.speech_end(t0) + latencies[0] - 145, "Hello, how can I help?")
    t1 = b.caller(6000.0, "Where is order one two three?")
    b.respond(b.speech_end(t1) + tool_latency - 145, "I'll check.",
              call=("lookup_order", {"order_id": "123"}))
    t2 = b.caller(12000.0, "Thanks.")
    b.respond(b.speech_end(t2) + latencies[1] - 145, "You're welcome.")
    return b


def test_latency_voice_to_voice_pass_and_tool_turns_reported_apart():
    v = one(_plain_and_tool_call(), {"latency": {"max_ms": 2000}})
    assert v.status == "pass", v.summary
    assert v.measured["tool"]["n"] == 1 and v.measured["plain"]["n"] == 2
    assert v.measured["tool"]["max"] == 1500.0
    assert v.measured["plain"]["max"] == 900.0
    # voice-to-voice: audible onset − caller speech end (onset: first audio + 25 ms playback delay)
    assert [t["voice_to_voice_ms"] for t in v.measured["per_turn"]] == [700.0, 1500.0, 900.0]
    # Turns are numbered from 1, as people count them.
    assert v.evidence and v.evidence[0].turn_index == 1


def test_latency_max_fails_naming_the_turn_and_plain_filter_ignores_tool_turns():
    b = _plain_and_tool_call()
    v = one(b, {"latency": {"max_ms": 1000}})
    assert v.status == "fail" and "turn 2" in v.summary
    v = one(_plain_and_tool_call(), {"latency": {"max_ms": 1000, "turns": "plain"}})
    assert v.status == "pass", v.summary


def test_latency_percentile_threshold():
    v = one(_plain_and_tool_call(latencies=(700.0, 900.0)), {"latency": {"p50_ms": 800}})
    assert v.status == "fail" and v.measured["limit_p50"] == 900.0
    v = one(_plain_and_tool_call(latencies=(700.0, 900.0)), {"latency": {"p50_ms": 950}})
    assert v.status == "pass"


def test_latency_other_metrics():
    b = _plain_and_tool_call()
    v = one(b, {"latency": {"max_ms": 600, "metric": "first_audio"}})
    # First audio delta arrives 120 ms after response.created, i.e. latency − 25 ms.
    assert [t["first_audio_ms"] for t in v.measured["per_turn"]] == [675.0, 1475.0, 875.0]
    assert v.status == "fail"
    v = one(b, {"latency": {"max_ms": 600, "metric": "endpointing"}})
    assert {t["endpointing_ms"] for t in v.measured["per_turn"]} == {550.0}
    assert v.status == "pass"


def test_latency_fails_without_any_answer_and_take_over_is_not_an_answer():
    b = CallBuilder()
    b.caller(1000.0, "Hello?")
    v = one(b, {"latency": {"max_ms": 1000}})
    assert v.status == "fail"
    assert v.summary.startswith("no caller turn was answered, so voice-to-voice could not be "
                                "measured: turn(s) 1: no agent audio was heard")
    assert v.measured["unanswered_turns"] == [1]
    b = CallBuilder()
    t0 = b.caller(1000.0, "My number is eight three five two one.", duration=3000.0,
                  pauses=[(2000.0, 3500.0)])
    b.respond(2200.0, "Okay.")  # a take-over in the pause, heard before the speech end
    b.respond(b.speech_end(t0) + 555, "Got it, eight three five two one.")
    v = one(b, {"latency": {"max_ms": 1000}})
    # created +555, first audio +120, audible +25: the answer, not the take-over, is measured.
    assert v.measured["per_turn"][0]["voice_to_voice_ms"] == 700.0


def test_latency_of_tool_or_plain_turns_counts_an_unanswered_turn_by_its_calls():
    # A turn never answered fails a limit on the kind of turn it is: one with a call to a real
    # tool is a tool turn; one with only a call to the wait tool is a plain turn.
    def unanswered(tool: str) -> CallBuilder:
        b = CallBuilder()
        t0 = b.caller(1000.0, "Where is order one two three?")
        b.respond(b.speech_end(t0) + 500, None, call=(tool, {}))
        return b

    missing = "turn(s) 1: no agent audio was heard after the caller's speech end"
    v = one(unanswered("lookup_order"), {"latency": {"max_ms": 2000, "turns": "tool"}})
    assert v.status == "fail" and missing in v.summary, v.summary
    v = one(unanswered("lookup_order"), {"latency": {"max_ms": 2000, "turns": "plain"}})
    assert v.status == "fail" and missing not in v.summary, v.summary
    v = one(unanswered("wait_for_user"), {"latency": {"max_ms": 2000, "turns": "plain"}})
    assert v.status == "fail" and missing in v.summary, v.summary
    v = one(unanswered("wait_for_user"), {"latency": {"max_ms": 2000, "turns": "tool"}})
    assert v.status == "fail" and missing not in v.summary, v.summary


# --------------------------------------------------------------------------- preamble

def _lookup(preamble: str | None, *, same_response=True) -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "Check order eight three five two one.")
    end = b.speech_end(t0)
    if same_response:
        s = b.respond(end + 500, preamble, call=("lookup_order", {"order_id": "83521"}))
    else:
        b.respond(end + 500, preamble)
        s = b.respond(end + 2500, None, call=("lookup_order", {"order_id": "83521"}))
    b.answer(s, b.call_time(s) + 800)
    b.respond(b.call_time(s) + 810, "It has shipped.")
    return b


def test_preamble_pass_in_same_or_separate_response():
    for same in (True, False):
        v = one(_lookup("I'll check that order now.", same_response=same),
                {"preamble": {"before_tool": "lookup_order", "max_words": 8}})
        assert v.status == "pass", v.summary
        assert v.measured["calls"][0]["preamble"] == "I'll check that order now."


def test_no_preamble_fails_and_limits_apply():
    v = one(_lookup(None), {"preamble": {"before_tool": "lookup_order"}})
    assert v.status == "fail" and "no spoken preamble" in v.summary
    v = one(_lookup("Let me think about that for a second. I will now access the tool. Hmm."),
            {"preamble": {"max_words": 8, "max_sentences": 1, "avoid": ["let me think"]}})
    assert v.status == "fail"
    assert "words" in v.summary and "sentences" in v.summary and "let me think" in v.summary


def test_preamble_from_an_earlier_turn_does_not_count():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Hi.")
    b.respond(b.speech_end(t0) + 500, "I'll check that order now.")
    t1 = b.caller(6000.0, "Eight three five two one.")
    b.respond(b.speech_end(t1) + 500, None, call=("lookup_order", {"order_id": "83521"}))
    v = one(b, {"preamble": {"before_tool": "lookup_order"}})
    assert v.status == "fail" and "turn 2" in v.summary


def test_preamble_fails_without_a_call_and_none_when_unclear():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Hi.")
    b.respond(b.speech_end(t0) + 500, "Hello.")
    v = one(b, {"preamble": {"before_tool": "lookup_order"}})
    assert v.status == "fail"
    assert v.summary == ("lookup_order was never called, so there was no preamble to check (the "
                         "agent called no tool at all)")
    b = CallBuilder()
    t0 = b.caller(1000.0, "It's eight, three, five, two, one.", spoken_text="It's eight, three,",
                  cut_off=True)
    b.respond(b.speech_end(t0) + 500, "I'll check order eight three.",
              call=("lookup_order", {"order_id": "83"}))
    v = one(b, {"preamble": {"none_when_unclear": True, "before_tool": "cancel_order"}})
    assert v.status == "fail" and "cut-off" in v.summary
    assert v.measured["preambles_after_unclear"][0]["turn"] == 1


# --------------------------------------------------------------------------- entity_confirmed

def _entity_call(readback: str, argument: str = "83521", *, correction: str | None = None,
                 readback_after_correction: str | None = None) -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "Eight, three, five, two, one.", entity={"order_id": "83521"})
    b.respond(b.speech_end(t0) + 500, f"Just to confirm, I heard {readback}. Is that right?")
    t = 7000.0
    if correction is not None:
        t1 = b.caller(t, correction, intent="correct", entity={"order_id": argument})
        b.respond(b.speech_end(t1) + 500, f"Got it. I have {readback_after_correction}. "
                                          "Is that correct?")
        t = 14000.0
    t2 = b.caller(t, "Yes.", intent="affirm")
    s = b.respond(b.speech_end(t2) + 500, "I'll check that order now.",
                  call=("lookup_order", {"order_id": argument}))
    b.answer(s, b.call_time(s) + 500)
    return b


def test_entity_read_back_and_argument_pass():
    v = one(_entity_call("eight, three, five, two, one"),
            {"entity_confirmed": {"entity": "order_id"}})
    assert v.status == "pass", v.summary
    assert v.measured["calls"][0]["readback"] == "83521"
    assert any(e.label.startswith("read-back") for e in v.evidence)


def test_entity_read_back_is_graded_with_the_standard_spoken_forms_only():
    # a recogniser's "made" for "is eight" is the local agent's repair, not a read-back
    v = one(_entity_call("made 3, 5, 2, 1"), {"entity_confirmed": {"entity": "order_id"}})
    assert v.status == "fail", v.summary
    assert one(_entity_call("8, 3, 5, 2, 1"),
               {"entity_confirmed": {"entity": "order_id"}}).status == "pass"


def _email_call(readback: str) -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "It's j, o, h, n, at mail dot com.", entity={"email": "john@mail.com"})
    b.respond(b.speech_end(t0) + 500, f"Just to confirm, that is {readback}. Is that right?")
    t1 = b.caller(9000.0, "Yes.", intent="affirm")
    s = b.respond(b.speech_end(t1) + 500, "I'll update it now.",
                  call=("update_email", {"email": "john@mail.com"}))
    b.answer(s, b.call_time(s) + 500)
    return b


def test_a_read_back_the_harness_heard_counts_when_it_sounds_the_same() -> None:
    """Heard by the harness's recogniser, "male" is its spelling of what a caller hears as
    "mail"; written by the agent, "male.com" is another address. A word that sounds different,
    or a digit, never counts."""
    expect = {"entity_confirmed": {"entity": "email"}}

    def graded(readback: str, *, heard: bool) -> str:
        [v] = score(_email_call(readback).recording(heard=heard), [expect])
        return v.status

    assert graded("J O H N at male dot com", heard=True) == "pass"
    assert graded("J O H N at male dot com", heard=False) == "fail"
    assert graded("J O H N at meal dot com", heard=True) == "fail"
    assert graded("J O H N at mail dot com", heard=False) == "pass"
    # "made" does not sound like "eight": still refused when heard
    [v] = score(_entity_call("made 3, 5, 2, 1").recording(heard=True),
                [{"entity_confirmed": {"entity": "order_id"}}])
    assert v.status == "fail", v.summary


def test_entity_misread_digit_fails_with_what_was_heard():
    v = one(_entity_call("eight, three, five, two, seven"),
            {"entity_confirmed": {"entity": "order_id", "tool": "lookup_order"}})
    assert v.status == "fail" and "83527" in v.summary and "83521" in v.summary


def test_entity_wrong_argument_fails():
    b = _entity_call("eight, three, five, two, one", argument="83527")
    v = one(b, {"entity_confirmed": {"entity": "order_id"}})
    # The last label before the call is the caller's 83521; the call used 83527.
    assert v.status == "fail" and "wrong value" in v.summary


def test_entity_correction_must_be_read_back_in_full():
    ok = _entity_call("eight, three, five, two, one", argument="83571",
                      correction="No, it's eight three five seven one.",
                      readback_after_correction="eight, three, five, seven, one")
    assert one(ok, {"entity_confirmed": {"entity": "order_id"}}).status == "pass"
    partial = _entity_call("eight, three, five, two, one", argument="83571",
                           correction="No, it's eight three five seven one.",
                           readback_after_correction="seven, one")
    v = one(partial, {"entity_confirmed": {"entity": "order_id"}})
    assert v.status == "fail" and "83571" in v.summary


def test_partial_value_after_cut_off_never_reaches_a_tool():
    b = CallBuilder()
    t0 = b.caller(1000.0, "It's eight, three, five, two, one.", spoken_text="It's eight, three,",
                  cut_off=True)
    b.respond(b.speech_end(t0) + 500, "I'll check order eight three.",
              call=("lookup_order", {"order_id": "83"}))
    t1 = b.caller(9000.0, "Eight, three, five, two, one.", entity={"order_id": "83521"})
    b.respond(b.speech_end(t1) + 500, "I heard eight, three, five, two, one. Right?")
    v = one(b, {"entity_confirmed": {"entity": "order_id"}})
    assert v.status == "fail"
    assert "cut-off" in v.summary and "before the caller gave order_id" in v.summary


def test_entity_without_a_tool_call_grades_the_read_back_or_fails_saying_why():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Eight, three, five, two, one.", entity={"order_id": "83521"})
    b.respond(b.speech_end(t0) + 500, "I heard eight, three, five, two, seven. Right?")
    assert one(b, {"entity_confirmed": {"entity": "order_id"}}).status == "fail"
    b = CallBuilder()
    t0 = b.caller(1000.0, "Eight, three, five, two, one.", entity={"order_id": "83521"})
    b.respond(b.speech_end(t0) + 500, "Thanks.")
    v = one(b, {"entity_confirmed": {"entity": "order_id"}})
    assert v.status == "fail" and v.summary == (
        "the agent never read order_id '83521' back and no tool call used order_id: nothing "
        "confirmed it")
    v = one(CallBuilder(), {"entity_confirmed": {"entity": "order_id"}})
    assert v.status == "fail" and "no caller turn is labelled with entity 'order_id'" in v.summary


# --------------------------------------------------------------------------- confirmation

def _cancel(question: str | None, answer_intent: str = "affirm", *, call: bool = True,
            argument: str = "83521") -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "Cancel order eight three five two one.")
    if question:
        b.respond(b.speech_end(t0) + 500, question)
    t1 = b.caller(8000.0, "Yes, go ahead." if answer_intent == "affirm" else "No, don't.",
                  intent=answer_intent)
    if call:
        s = b.respond(b.speech_end(t1) + 500, "Cancelling it now.",
                      call=("cancel_order", {"order_id": argument}))
        b.answer(s, b.call_time(s) + 300)
    else:
        b.respond(b.speech_end(t1) + 500, "Okay, I won't cancel it.")
    return b


def test_confirmation_pass_shows_the_ordering():
    v = one(_cancel("To confirm, you want me to cancel order eight, three, five, two, one. "
                    "Should I proceed?"), {"confirmation_before_write": {}})
    assert v.status == "pass", v.summary
    labels = [e.label for e in v.evidence]
    assert labels[0] == "confirmation question" and labels[-1] == "write call cancel_order"
    times = [e.t_ms for e in v.evidence]
    assert times == sorted(times)


def test_confirmation_missing_or_vague_or_without_action_fails():
    assert one(_cancel(None), {"confirmation_before_write": {}}).status == "fail"
    v = one(_cancel("Should I go ahead?"), {"confirmation_before_write": {}})
    assert v.status == "fail" and "order_id" in v.summary
    v = one(_cancel("Just to confirm, I heard eight, three, five, two, one. Is that right?"),
            {"confirmation_before_write": {}})
    assert v.status == "fail" and "action" in v.summary


def test_confirmation_after_deny_or_without_yes():
    v = one(_cancel("Should I cancel order eight three five two one?", "deny"),
            {"confirmation_before_write": {"tool": "cancel_order"}})
    assert v.status == "fail" and "declined" in v.summary
    v = one(_cancel("Should I cancel order eight three five two one?", "deny", call=False),
            {"confirmation_before_write": {}})
    assert v.status == "pass" and "declined" in v.summary
    b = CallBuilder()
    t0 = b.caller(1000.0, "Hi.")
    b.respond(b.speech_end(t0) + 500, "Hello.")
    v = one(b, {"confirmation_before_write": {}})
    assert v.status == "fail" and v.summary == ("cancel_order / update_email was never called, "
                                                "so there was no write to confirm")
    # A "no" the agent never asked for is no evidence of a confirmation.
    v = one(_cancel(None, "deny", call=False), {"confirmation_before_write": {}})
    assert v.status == "fail" and "never asked to confirm" in v.summary


def test_confirmation_naming_a_misheard_value_is_left_to_entity_confirmed():
    v = one(_cancel("Should I cancel order eight, three, five, two, seven?"),
            {"confirmation_before_write": {}})
    assert v.status == "pass"
    assert v.measured["calls"][0]["naming"] == {"order_id": "other"}


# --------------------------------------------------------------------------- escalation

def _escalate(say: str | None, call: bool = True, turn_start: float = 1000.0) -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "I want a person.")
    if turn_start > 1000.0:
        b.respond(b.speech_end(t0) + 500, "I can help you myself.")
        t0 = b.caller(turn_start, "No, a person please.")
    b.respond(b.speech_end(t0) + 500, say, call=("escalate_to_human", {}) if call else None)
    return b


def test_escalation_required():
    bad = one(_escalate("I'll connect you with a colleague now."), "escalation")
    assert bad.status == "error" and "invalid expectation" in bad.summary  # needs a mode
    v = one(_escalate("I'll connect you with a colleague now."), {"escalation": "required"})
    assert v.status == "pass", v.summary
    v = one(_escalate("I'll connect you with a colleague now.", call=False),
            {"escalation": "required"})
    assert v.status == "fail" and "never called" in v.summary
    v = one(_escalate(None), {"escalation": "required"})
    assert v.status == "fail" and "said nothing" in v.summary
    assert one(_escalate(None), {"escalation": {"mode": "required", "spoken_handoff": False}}
               ).status == "pass"
    v = one(_escalate("Connecting you now.", turn_start=8000.0),
            {"escalation": {"mode": "required", "by_turn": 1}})
    assert v.status == "fail" and "came in turn 2, after turn 1" in v.summary


def test_escalation_forbidden():
    assert one(_escalate("Connecting you."), {"escalation": "forbidden"}).status == "fail"
    assert one(_escalate("I can help.", call=False), {"escalation": "forbidden"}).status == "pass"
    b = _escalate("Connecting.")
    b.tools = [t for t in b.tools if not t.get("escalation")]
    v = one(b, {"escalation": "forbidden"})
    assert v.status == "fail" and "declares no escalation tool" in v.summary
    assert one(b, {"escalation": "required"}).status == "fail"
