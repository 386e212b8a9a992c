"""The faults that prove the caller-facing scorers, at the policy: each changes one behaviour."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.agent.faults import FILLER_LINE, WRONG_LANGUAGE_LINE, Faults
from harness.agent.policy import CallTool, Policy, Say, load_profile
from harness.agent.server import tool_flags
from harness.scenario.loader import load_agent_config

ROOT = Path(__file__).resolve().parents[2]
PROFILE = load_profile("support_desk")


def policy(faults: str = "", agent: str = "support.yaml") -> Policy:
    config = load_agent_config(ROOT / "agents" / agent)
    return Policy(PROFILE, [t.session_tool() for t in config.tools], Faults.parse(faults),
                  tool_flags(config))


def said(actions: list[Any]) -> list[str]:
    return [a.text for a in actions if isinstance(a, Say)]


def _cancel_until_call(p: Policy) -> None:
    p.on_user_turn("I want to cancel an order. The order number is eight, three, five, two, one.")
    p.on_user_turn("Yes, that's right.")
    actions = p.on_user_turn("Yes, please go ahead.")
    assert [a.name for a in actions if isinstance(a, CallTool)] == ["cancel_order"]


def test_false_success_claims_the_failed_cancellation() -> None:
    honest, lying = policy(), policy("false_success")
    for p in (honest, lying):
        _cancel_until_call(p)
    error = {"error": "already_shipped"}
    assert said(honest.on_tool_output("cancel_order", {"order_id": "83521"}, error)) == [
        "Sorry, I couldn't cancel that order right now. Should I try again?"]
    assert said(lying.on_tool_output("cancel_order", {"order_id": "83521"}, error)) == [
        "Done. Your order is cancelled."]


def test_retry_loop_repeats_the_failed_call_three_times_then_goes_on() -> None:
    p = policy("retry_loop")
    p.on_user_turn("I want to check an order. The order number is eight, three, five, two, one.")
    p.on_user_turn("Yes.")
    error = {"error": "service_unavailable"}
    for _ in range(3):
        actions = p.on_tool_output("lookup_order", {"order_id": "83521"}, error)
        assert actions == [CallTool("lookup_order", {"order_id": "83521"})]
    assert said(p.on_tool_output("lookup_order", {"order_id": "83521"}, error)) == [
        "Sorry, that failed again. Would you like me to transfer you to a colleague?"]


def test_pretend_action_claims_what_no_tool_can_do() -> None:
    assert said(policy(agent="support-lookup-only.yaml").on_user_turn(
        "Hi, I want to cancel an order.")) == [
        "Sorry, I can't cancel orders on this call. Is there anything else I can help with?"]
    assert said(policy("pretend_action", agent="support-lookup-only.yaml").on_user_turn(
        "Hi, I want to cancel an order.")) == ["Done. Your order is cancelled."]


def test_two_questions_asks_for_the_next_missing_value_too() -> None:
    assert said(policy().on_user_turn("Hi, I need to change the email on my order.")) == [
        "Sure. What is the order number?"]
    assert said(policy("two_questions").on_user_turn(
        "Hi, I need to change the email on my order.")) == [
        "Sure. What is the order number? What is the new email address? Please spell it "
        "character by character."]


def test_filler_on_noise_fills_what_would_be_silence() -> None:
    assert said(policy().on_user_turn("[Music]")) == []
    assert said(policy("filler_on_noise").on_user_turn("[Music]")) == [FILLER_LINE]
    faults = Faults.parse("filler_on_noise")
    assert faults.opens_caller_gate and not Faults().opens_caller_gate


def test_wrong_language_changes_only_the_words() -> None:
    assert Faults.parse("wrong_language").spoken("Sure.") == WRONG_LANGUAGE_LINE
    assert Faults().spoken("Sure.") == "Sure."
