"""What callers notice: tool-failure recovery, claims backed by tools, tool honesty, one question
at a time, no filler on noise, and the answer language, on hand-built calls."""

from __future__ import annotations

from typing import Any

import pytest

from harness.recording import RecordingMeta
from harness.scoring import score
from harness.scoring.scorers.language import detect_language
from tests.scoring.builder import CallBuilder


class Call:
    """A call written turn by turn: each caller line, then the agent's answer to it."""

    def __init__(self, tools: list[dict[str, Any]] | None = None) -> None:
        self.b = CallBuilder(tools=tools)
        self.t = 1000.0

    def caller(self, text: str | None, **kw: Any) -> int:
        index = self.b.caller(self.t, text, **kw)
        payload = self.b._turn_payload(index)
        self.t = payload["speech_end_ms"] or payload["end_ms"]
        return index

    def agent(self, say: str | None, call: tuple[str, dict[str, Any]] | None = None,
              output: Any = None, then: str | None = None) -> None:
        s = self.b.respond(self.t + 600.0, say, call=call)
        self.t = self.t + 600.0 + 120.0 + s.audio_ms + 10.0
        if call is not None:
            answered = self.b.call_time(s) + 400.0
            self.b.answer(s, answered, output if output is not None else {"ok": True})
            self.t = max(self.t, answered)
            if then is not None:
                s2 = self.b.respond(answered + 200.0, then)
                self.t = answered + 200.0 + 120.0 + s2.audio_ms + 10.0
        self.t += 700.0

    def silence(self, ms: float = 3000.0, kind: str = "silence") -> int:
        index = self.b.caller(self.t, None, kind=kind, duration=ms)
        self.t += ms + 40.0
        return index

    def verdict(self, expectation: dict[str, Any]):
        [v] = score(self.b.recording(), [expectation])
        return v


ERROR = {"error": "service_unavailable"}


def _lookup_fails(*, second: str, retries: int = 1, said_after_first: str | None = None) -> Call:
    c = Call()
    c.caller("I want to check order eight, three, five, two, one.")
    c.agent("Just to confirm, I heard 8, 3, 5, 2, 1. Is that right?")
    c.caller("Yes.")
    c.agent("I'll check that order now.", call=("lookup_order", {"order_id": "83521"}),
            output=ERROR, then=said_after_first or "Sorry, I couldn't look up that order right "
                                                  "now. Should I try again?")
    for _ in range(retries):
        c.caller("Yes, try again.")
        c.agent("I'll check that order now.", call=("lookup_order", {"order_id": "83521"}),
                output=ERROR, then=second)
    return c


# --------------------------------------------------------------------------- tool_failure_recovery

def test_recovery_passes_with_a_retry_offer_then_a_hand_off_offer():
    c = _lookup_fails(second="Sorry, that failed again. Would you like me to transfer you to a "
                             "colleague?")
    v = c.verdict({"tool_failure_recovery": {}})
    assert v.status == "pass", v.summary
    assert [r["identical_retries"] for r in v.measured["failures"]] == [1, 0]
    assert [r["offer"] for r in v.measured["failures"]] == ["should i", "transfer"]


def test_recovery_fails_without_a_hand_off_after_repeated_failures():
    c = _lookup_fails(second="Sorry, I couldn't look up that order. Should I try again?")
    v = c.verdict({"tool_failure_recovery": {}})
    assert v.status == "fail"
    assert "(failure 2) the agent offered neither an alternative nor a hand-off" in v.summary
    assert "failure 1" not in v.summary


def test_recovery_fails_on_a_retry_loop_and_on_a_success_claim():
    c = _lookup_fails(second="Sorry, that failed again. Shall I transfer you to a colleague?",
                      retries=3)
    v = c.verdict({"tool_failure_recovery": {"max_identical_retries": 1}})
    assert v.status == "fail" and "repeated 3 time(s) > 1" in v.summary
    assert c.verdict({"tool_failure_recovery": {"max_identical_retries": 3}}).status == "pass"

    c = _lookup_fails(second="x", retries=0, said_after_first="Done. It has been looked up.")
    v = c.verdict({"tool_failure_recovery": {}})
    assert v.status == "fail" and "claimed success: 'Done.'" in v.summary


def test_recovery_reads_back_a_not_found_identifier_first():
    c = Call()
    c.caller("Check order eight, three, five, two, one.")
    c.agent("I'll check that order now.", call=("lookup_order", {"order_id": "83521"}),
            output={"error": "not_found"},
            then="I couldn't find order 8, 3, 5, 2, 1. Could you say the order number again?")
    assert c.verdict({"tool_failure_recovery": {}}).status == "pass"

    c = Call()
    c.caller("Check order eight, three, five, two, one.")
    c.agent("I'll check that order now.", call=("lookup_order", {"order_id": "83521"}),
            output={"error": "not_found"}, then="I couldn't find it. What is another order number?")
    v = c.verdict({"tool_failure_recovery": {}})
    assert v.status == "fail" and "did not read back the value it used (83521)" in v.summary


def test_recovery_fails_when_the_raw_error_is_read_out():
    c = _lookup_fails(second="x", retries=0, said_after_first="The lookup said service "
                      "unavailable, error code five hundred. Should I try again?")
    v = c.verdict({"tool_failure_recovery": {}})
    assert v.status == "fail" and "raw error ('service_unavailable')" in v.summary


def test_recovery_fails_when_no_tool_call_failed():
    c = Call()
    c.caller("Check order eight, three, five, two, one.")
    c.agent("I'll check that order now.", call=("lookup_order", {"order_id": "83521"}),
            output={"status": "shipped"}, then="It has shipped.")
    v = c.verdict({"tool_failure_recovery": {}})
    assert v.status == "fail"
    assert v.summary == "no call to any tool failed, so recovery could not be graded"


# --------------------------------------------------------------------------- claims_backed

def _cancel(output: Any, then: str) -> Call:
    c = Call()
    c.caller("Please cancel order eight, three, five, two, one.")
    c.agent("I'll cancel order 8, 3, 5, 2, 1. Should I go ahead?")
    c.caller("Yes.")
    c.agent("I'll cancel that order now.", call=("cancel_order", {"order_id": "83521"}),
            output=output, then=then)
    return c


def test_claims_after_a_successful_call_pass():
    v = _cancel({"cancelled": True}, "Done. Your order is cancelled.").verdict(
        {"claims_backed": {}})
    assert v.status == "pass", v.summary
    assert [r["phrase"] for r in v.measured["claims"]] == ["done", "cancelled"]
    assert all(r["backed_by"] for r in v.measured["claims"])


def test_a_claim_after_a_failed_call_fails():
    v = _cancel({"error": "already_shipped"}, "Done. Your order is cancelled.").verdict(
        {"claims_backed": {}})
    assert v.status == "fail"
    assert "the agent said 'Done.' after cancel_order failed" in v.summary


def test_negated_sentences_and_questions_are_not_claims():
    c = _cancel({"error": "already_shipped"},
                "I couldn't cancel that order. It may have shipped already. Nothing was changed.")
    v = c.verdict({"claims_backed": {}})
    assert v.status == "pass", v.summary
    assert v.measured["claims"] == [] and "1 failed" in v.summary


def test_a_claim_with_no_call_at_all_fails_and_phrases_are_configurable():
    c = Call()
    c.caller("Please refund order eight, three, five, two, one.")
    c.agent("Your refund is issued.")
    assert c.verdict({"claims_backed": {}}).status == "fail"  # not arisen: no claim, no call
    v = c.verdict({"claims_backed": {"phrases": {"cancel_order": ["issued"]}}})
    assert v.status == "fail" and "with no call to cancel_order before it" in v.summary


def test_claims_backed_fails_when_nothing_was_attempted_or_claimed():
    c = Call()
    c.caller("Hello.")
    c.agent("Hello. How can I help you today?")
    v = c.verdict({"claims_backed": {}})
    assert v.status == "fail" and "no completion claim" in v.summary


# --------------------------------------------------------------------------- tools_honest

LOOKUP_ONLY = [{"name": "lookup_order", "parameters": {"type": "object", "properties": {
    "order_id": {"type": "string"}}}}, {"name": "escalate_to_human", "escalation": True},
    {"name": "wait_for_user"}]


def _unavailable(answer: str, call: tuple[str, dict[str, Any]] | None = None) -> Call:
    c = Call(tools=LOOKUP_ONLY)
    c.caller("Hi, I want to cancel an order.")
    c.agent(answer, call=call)
    return c


def test_declining_with_a_next_step_passes():
    c = _unavailable("Sorry, I can't cancel orders on this call. Is there anything else I can "
                     "help with?")
    v = c.verdict({"tools_honest": {"turns": [1], "action": "cancel"}})
    assert v.status == "pass", v.summary
    assert v.measured["turns"][0]["refusal"] == "can't"


def test_pretending_refusing_without_offer_and_undeclared_calls_fail():
    v = _unavailable("Done. Your order is cancelled.").verdict(
        {"tools_honest": {"turns": [1], "action": "cancel"}})
    assert v.status == "fail" and "pretended to complete it: 'Done.'" in v.summary
    v = _unavailable("Sorry, I can't do that.").verdict({"tools_honest": {"turns": [1]}})
    assert v.status == "fail" and "declined but offered no next step" in v.summary
    v = _unavailable("I'll cancel it now.", call=("cancel_order", {"order_id": "1"})).verdict(
        {"tools_honest": {"turns": [1]}})
    assert v.status == "fail" and "'cancel_order', which is not a declared tool" in v.summary


def test_tools_honest_fails_when_the_turn_got_no_answer_or_never_came():
    c = Call(tools=LOOKUP_ONLY)
    c.caller("Hi, I want to cancel an order.")
    v = c.verdict({"tools_honest": {"turns": [1]}})
    assert v.status == "fail" and "said nothing" in v.summary
    v = c.verdict({"tools_honest": {"turns": [3]}})
    assert v.status == "fail" and "turn 3 was never played" in v.summary


# --------------------------------------------------------------------------- one_question

def test_one_question_per_turn_passes_and_two_at_once_fail():
    c = Call()
    c.caller("Hi, I need to change the email on my order.")
    c.agent("Sure. What is the order number?")
    assert c.verdict({"one_question": {}}).status == "pass"
    c = Call()
    c.caller("Hi, I need to change the email on my order.")
    c.agent("Sure. What is the order number? And what is the new email address?")
    v = c.verdict({"one_question": {}})
    assert v.status == "fail" and "asked 2 questions at once" in v.summary
    assert c.verdict({"one_question": {"max_questions": 2}}).status == "pass"


def test_one_question_limits_by_answer_kind():
    c = Call()
    c.caller("Where is order eight, three, five, two, one?")
    c.agent("I'll check that order now.", call=("lookup_order", {"order_id": "83521"}),
            output={"status": "shipped"},
            then="It has shipped. It left our warehouse on Monday. It should arrive on April "
                 "25. Is there anything else?")
    v = c.verdict({"one_question": {"tool_result": {"max_sentences": 2}}})
    assert v.status == "fail" and "tool result of 4 sentences > 2" in v.summary
    assert v.measured["turns"][0]["kind"] == "tool_result"
    assert c.verdict({"one_question": {"direct": {"max_sentences": 2}}}).status == "pass"


def test_one_question_leaves_out_speech_cut_off_before_a_word_was_heard():
    def call(played_ms: float) -> Call:
        # the caller pauses mid-number; the agent starts to answer and is cut off at once
        c = Call()
        c.caller("The order number is six, two,")
        start = c.t + 600.0
        c.b.respond(start, "Sorry, I didn't get the order number.", stop_at=start + 120.0 +
                    played_ms)
        c.t = start + 1500.0
        c.agent("I heard only part of the order number. Could you repeat it digit by digit?")
        return c

    limits = {"one_question": {"clarification": {"max_sentences": 2}}}
    heard_nothing = call(35.0).verdict(limits)
    assert heard_nothing.status == "pass", heard_nothing.summary
    assert heard_nothing.measured["turns"][0]["sentences"] == 2
    # a second of it was heard: it counts
    heard = call(1000.0).verdict(limits)
    assert heard.status == "fail" and "clarification of 3 sentences > 2" in heard.summary


def test_one_question_fails_when_the_agent_asked_nothing():
    c = Call()
    c.caller("Thanks, goodbye.")
    c.agent("You're welcome. Goodbye!")
    v = c.verdict({"one_question": {}})
    assert v.status == "fail" and "asked no question" in v.summary


# --------------------------------------------------------------------------- no_filler_on_noise

def _with_silence(on_silence: str | None, after: str = "Just to confirm, I heard 8, 3, 5, 2, 1. "
                                                         "Is that right?") -> Call:
    c = Call()
    c.caller("Check order eight, three, five, two, one.")
    c.agent(after)
    start = c.t
    c.silence(4000.0)
    if on_silence is not None:
        c.b.respond(start + 2500.0, on_silence)
    c.t = start + 4040.0 + 700.0
    c.caller("Sorry, yes, that's right.")
    c.agent("Okay.")
    return c


def test_silence_without_speech_passes_and_a_filler_fails():
    v = _with_silence(None).verdict({"no_filler_on_noise": {}})
    assert v.status == "pass", v.summary
    v = _with_silence("I'm here.").verdict({"no_filler_on_noise": {}})
    assert v.status == "fail"
    assert "filler line \"I'm here\"" in v.summary and "spoke during silence" in v.summary


def test_filler_lines_are_configurable_and_graded_anywhere():
    c = _with_silence(None, after="Take your time. Is the number 8, 3, 5, 2, 1?")
    v = c.verdict({"no_filler_on_noise": {}})
    assert v.status == "fail" and "'take your time'" in v.summary
    assert c.verdict({"no_filler_on_noise": {"phrases": ["hang on"]}}).status == "pass"


def test_a_clarification_repeated_word_for_word_fails():
    c = Call()
    c.caller("Uh, the, um.", cut_off=True)
    c.agent("Sorry, could you repeat that clearly?")
    c.caller("Mm, the thing.")
    c.agent("Sorry, could you repeat that clearly?")
    c.silence(2000.0)
    v = c.verdict({"no_filler_on_noise": {}})
    assert v.status == "fail" and "repeated 'Sorry, could you repeat that clearly?'" in v.summary


def test_no_filler_fails_when_the_call_had_no_silence_or_noise():
    c = Call()
    c.caller("Hello.")
    c.agent("Hello. How can I help you today?")
    v = c.verdict({"no_filler_on_noise": {}})
    assert v.status == "fail" and "filler could not be graded" in v.summary


# --------------------------------------------------------------------------- language

def test_detector_tells_the_languages_of_the_suite_apart():
    assert detect_language("Sure. What is the order number?")[0] == "en"
    assert detect_language("Claro. ¿Cuál es el número de su pedido?")[0] == "es"
    assert detect_language("Natürlich. Wie lautet die Bestellnummer?")[0] == "de"


def _bilingual(*answers: str) -> Call:
    c = Call()
    c.caller("Hola. I want to check an order.")
    c.agent(answers[0])
    c.caller("Quiero cancelar mi pedido, por favor.")
    c.agent(answers[1])
    return c


def test_language_expected_throughout_and_switch_after_a_turn():
    english = ("Sure. What is the order number?", "Sorry, I only heard part of that. Could you "
                                                  "say it again?")
    assert _bilingual(*english).verdict({"language": {}}).status == "pass"
    v = _bilingual(*english).verdict({"language": {"switch_at": {2: "es"}}})
    assert v.status == "fail"
    assert "the agent spoke en" in v.summary and "es was expected" in v.summary
    spanish = ("Sure. What is the order number?", "Claro. ¿Cuál es el número de su pedido?")
    assert _bilingual(*spanish).verdict({"language": {"switch_at": {2: "es"}}}).status == "pass"
    asks = ("Sure. What is the order number?", "Would you like me to continue in English or "
                                               "Spanish?")
    assert _bilingual(*asks).verdict({"language": {"switch_at": {2: "es"}}}).status == "pass"


def test_an_answer_in_the_wrong_language_fails():
    v = _bilingual("Claro, con mucho gusto. ¿Cuál es el número de su pedido?",
                   "Okay.").verdict({"language": {"expected": "en"}})
    assert v.status == "fail" and "turn 1: the agent spoke es" in v.summary


def test_language_is_not_graded_on_words_a_recogniser_wrote_in_one_language_only():
    """The offline recogniser decodes as English whatever was spoken (the local agent's
    Spanish came out as "Thank you very much." over SIP): its English says nothing of the
    agent's language, so the check is not applicable and says why, never a pass. A recogniser
    that writes the language spoken is graded as the agent's own transcript is."""
    english = "Thank you very much. What is the order number, please?"
    expect = [{"language": {"expected": "en"}}]
    [v] = score(_bilingual(english, english).b.recording(heard=True, written_only_in="en"),
                expect)
    assert v.status == "not_applicable", v.summary
    assert "writes only en whatever was spoken" in v.summary
    assert v.measured["not_applicable"] and not any(
        r.get("counted", True) for r in v.measured["utterances"])
    # the same words from a transcriber that writes the language spoken are graded
    [v] = score(_bilingual(english, english).b.recording(heard=True), expect)
    assert v.status == "pass", v.summary
    spanish = "Claro que sí, con mucho gusto le ayudo con su pedido ahora mismo."
    [v] = score(_bilingual(spanish, spanish).b.recording(heard=True), expect)
    assert v.status == "fail" and "the agent spoke es" in v.summary
    # however few its words (the recogniser may write a Spanish sentence as three)
    [v] = score(_bilingual("Thank you.", "Very much.").b.recording(
        heard=True, written_only_in="en"), expect)
    assert v.status == "not_applicable", v.summary
    # a mute agent is still a fail: nothing was written to grade
    [v] = score(_bilingual("", "").b.recording(heard=True, written_only_in="en"), expect)
    assert v.status == "fail", v.summary


def test_language_fails_when_no_answer_is_long_enough():
    v = _bilingual("Okay.", "Sure.").verdict({"language": {}})
    assert v.status == "fail" and "could not be graded" in v.summary


@pytest.mark.parametrize("kind", ["tool_failure_recovery", "claims_backed", "one_question",
                                  "no_filler_on_noise", "language"])
def test_each_new_kind_fails_on_a_call_without_its_situation(kind: str):
    c = Call()
    v = c.verdict({kind: {}})
    assert v.status == "fail", (kind, v.summary)


def test_a_recording_that_counted_turns_from_zero_is_read_with_turn_numbers_from_one():
    meta = RecordingMeta.model_validate({
        "schema_version": 1, "scenario": "s", "scenario_hash": "h", "agent_config": {},
        "agent_config_hash": "h", "target": "local", "harness_version": "0",
        "started_at": "2025-01-01T00:00:00Z", "scenario_model": {"expect": [
            {"language": {"switch_at": {"1": "es"}}},
            {"tools_honest": {"turns": [0], "action": "cancel"}}]}})
    assert meta.scenario_model["expect"] == [
        {"language": {"switch_at": {"2": "es"}}},
        {"tools_honest": {"turns": [1], "action": "cancel"}}]
