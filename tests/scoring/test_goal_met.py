"""``goal_met`` on hand-built recordings: it passes only when the goal's tool was called with
its arguments and the agent said the words, and a mute agent never passes it."""

from __future__ import annotations

from typing import Any

from harness.recording import Recording
from harness.scoring import score
from tests.scoring.builder import CallBuilder

PERSONA = {"goal": "Find out where order 83521 is.", "facts": {"order_id": "83521"},
           "goal_reached": {"tool": "lookup_order", "arguments": {"order_id": "83521"},
                            "agent_says": "April 25"}}


def _with_persona(call: CallBuilder) -> Recording:
    recording = call.recording()
    recording.meta.scenario_model["persona"] = PERSONA
    return recording


def _goal(recording: Recording) -> Any:
    (verdict,) = score(recording, [{"goal_met": {}}])
    return verdict


def test_the_goal_is_met_by_the_tool_with_its_arguments_and_the_words() -> None:
    call = CallBuilder()
    call.caller(500, "It's eight, three, five, two, one.")
    spoken = call.respond(3000, "I'll check that now.",
                          call=("lookup_order", {"order_id": "83521"}))
    call.answer(spoken, 3600, {"status": "shipped"})
    call.respond(3700, "It has shipped and arrives on April 25.")
    verdict = _goal(_with_persona(call))
    assert verdict.status == "pass", verdict.summary


def test_a_lookup_of_another_value_or_without_the_words_does_not_meet_it() -> None:
    call = CallBuilder()
    call.caller(500, "It's eight, three, five.")
    spoken = call.respond(3000, "I'll check that now.", call=("lookup_order", {"order_id": "835"}))
    call.answer(spoken, 3600, {"error": "order_not_found"})
    call.respond(3700, "I couldn't find that order.")
    verdict = _goal(_with_persona(call))
    assert verdict.status == "fail"
    assert "never called with {'order_id': '83521'}" in verdict.summary
    assert "never said anything matching 'April 25'" in verdict.summary


def test_a_mute_agent_never_meets_the_goal() -> None:
    call = CallBuilder()
    call.caller(500, "It's eight, three, five, two, one.")
    call.caller(9000, "Hello? Are you there?")
    verdict = _goal(_with_persona(call))
    assert verdict.status == "fail", verdict.summary


def test_without_a_persona_it_cannot_pass() -> None:
    call = CallBuilder()
    call.caller(500, "Hi.")
    call.respond(2000, "April 25.")
    verdict = _goal(call.recording())
    assert verdict.status == "fail" and "no persona" in verdict.summary
