"""The support-desk dialogue policy, driven turn by turn through every example scenario.

Each scenario's caller turns become transcripts as the recogniser writes them (number words or
numerals, cut-offs, pauses, non-addressed audio), its tool mocks answer the calls, and its
expectations are checked on what the policy said and called. The same run under each policy-level
fault must fail exactly the expectations that fault is about.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from harness.agent.faults import Faults
from harness.agent.policy import CallTool, Policy, Say, load_profile
from harness.agent.server import tool_flags
from harness.scenario.loader import load_suite
from harness.scenario.models import Expectation, Scenario, Turn, resolve_mock
from harness.spoken import find_readbacks, normalize_value, values_equal

ROOT = Path(__file__).resolve().parents[2]
SUITE = {s.name: s for s in load_suite([ROOT / "scenarios"])}
PROFILE = load_profile("support_desk")

# What the recogniser hears in non-addressed audio (it sometimes writes a tag, sometimes words).
PLAY_TRANSCRIPTS = {
    "hold_music": "[Music]",
    "tv": "And now the weather. Tomorrow will be sunny and warm across the region.",
    "side_conversation": "Did you see the game last night? It was a close one.",
    "brown": "",
    "side_talk_8k_mono.wav": "Can you turn that down? I am on the phone.",
}
_NUMERALS = {w: str(i) for i, w in enumerate(
    "zero one two three four five six seven eight nine".split())}


def numerals(text: str) -> str:
    """How whisper usually writes spelled digits: "eight, three" → "8, 3"."""
    return re.sub(r"\b(" + "|".join(_NUMERALS) + r")\b",
                  lambda m: _NUMERALS[m.group(1).lower()], text, flags=re.IGNORECASE)


def cut_text(turn: Turn, text: str) -> str:
    """The words a cut-off clip still holds."""
    cut = turn.cut_off
    assert cut is not None
    if cut.after_text is not None:
        return cut.after_text
    words = text.split()
    wps = (turn.voice.words_per_minute if turn.voice else 165) / 60
    keep = int(len(words) * cut.fraction) if cut.fraction else int(cut.at_ms / 1000 * wps)
    return " ".join(words[:keep])


@dataclass
class Event:
    turn: int
    kind: str  # say | call
    text: str = ""
    name: str = ""
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass
class Call:
    """What the policy did over a whole scripted call."""

    scenario: Scenario
    events: list[Event]
    silent_turns: set[int]  # turns (or pause parts) during which the agent must not speak
    spoke_in_pause: set[int]

    def says(self, turn: int | None = None) -> list[str]:
        return [e.text for e in self.events if e.kind == "say" and turn in (None, e.turn)]

    def calls(self, name: str | None = None) -> list[Event]:
        return [e for e in self.events if e.kind == "call" and name in (None, e.name)]


def drive(scenario: Scenario, faults: str = "", style: str = "words") -> Call:
    """Run the policy through the scenario's turns; tool calls are answered by its mocks."""
    agent = scenario.agent_config
    assert agent is not None
    policy = Policy(PROFILE, [t.session_tool() for t in agent.tools], Faults.parse(faults),
                    tool_flags(agent))
    events: list[Event] = []
    call_counts: dict[str, int] = {}
    silent: set[int] = set()
    spoke_in_pause: set[int] = set()

    def perform(turn: int, actions: list[Any]) -> None:
        while actions:
            follow: list[Any] = []
            for action in actions:
                if isinstance(action, Say):
                    events.append(Event(turn, "say", text=action.text))
                else:
                    assert isinstance(action, CallTool)
                    assert action.name in {t.name for t in agent.tools}, action.name
                    events.append(Event(turn, "call", name=action.name,
                                        arguments=dict(action.arguments)))
                    mock = scenario.tools.get(action.name)
                    index = call_counts.get(action.name, 0)
                    call_counts[action.name] = index + 1
                    result = resolve_mock(mock, action.arguments, index) if mock else None
                    output = result.output() if result else {"error": "no mock"}
                    follow = policy.on_tool_output(action.name, action.arguments, output)
            actions = follow

    for i, turn in enumerate(scenario.turns):
        if turn.kind in ("silence", "play"):
            silent.add(i)
            if turn.play is not None:
                source = turn.play.noise or (turn.play.file.name if turn.play.file else "")
                heard = PLAY_TRANSCRIPTS[source]
                if heard:
                    perform(i, policy.on_user_turn(heard))
            continue
        text = turn.spoken_text or ""
        if style == "numerals":
            text = numerals(text)
        parts = [s for s in turn.segments if isinstance(s, str)] or [text]
        if style == "numerals":
            parts = [numerals(p) for p in parts]
        if turn.cut_off is not None:
            parts = [cut_text(turn, text)]
        for k, part in enumerate(parts):
            before = len(events)
            perform(i, policy.on_user_turn(part))
            last_part = k == len(parts) - 1
            if not last_part:
                # The caller goes on after the pause: the agent must not have taken over.
                if any(e.kind == "say" for e in events[before:]):
                    spoke_in_pause.add(i)
                continue
            if policy.hold_ms is not None:
                # Nobody goes on: the hold expires and the policy answers what it heard.
                perform(i, policy.on_hold_expired())
    return Call(scenario, events, silent, spoke_in_pause)


# --------------------------------------------------------------------------- expectations


_ACTION_SYNONYMS = {"update": ["change"]}


def _turn_intent(scenario: Scenario, turn: int) -> str | None:
    return scenario.turns[turn].intent


def check(call: Call, exp: Expectation) -> bool | None:
    """Whether the policy's behaviour meets ``exp`` (None: not gradable without audio)."""
    p = exp.params
    sc = call.scenario
    agent = sc.agent_config
    assert agent is not None
    kind = exp.kind
    if kind == "tool_called":
        hits = [c for c in call.calls(p.name) if all(
            k in c.arguments and values_equal(c.arguments[k], v)
            for k, v in (p.arguments or {}).items())]
        return len(hits) == p.times if p.times else bool(hits)
    if kind == "no_tool_call":
        return not call.calls(p.name) if p.name else not [
            c for c in call.calls() if c.name != "wait_for_user"]
    if kind == "transcript":
        said = " ".join(call.says()).lower()
        return all(s.lower() in said for s in p.must_say) and not any(
            s.lower() in said for s in p.must_not_say)
    if kind == "escalation":
        tool = p.tool or agent.escalation_tools[0]
        calls = call.calls(tool)
        if p.mode == "forbidden":
            return not calls
        if not calls or (p.by_turn is not None and calls[0].turn + 1 > p.by_turn):
            return False
        return not p.spoken_handoff or bool(call.says(calls[0].turn))
    if kind == "preamble":
        ok = True
        for idx, e in enumerate(call.events):
            if e.kind != "call" or e.name == "wait_for_user" or p.before_tool not in (None, e.name):
                continue
            before = call.events[idx - 1] if idx else None
            ok &= before is not None and before.kind == "say" and before.turn == e.turn
            if before is not None and p.max_words:
                ok &= len(before.text.split()) <= p.max_words
            if before is not None and p.max_sentences:
                ok &= len(re.findall(r"[.?!]", before.text)) <= p.max_sentences
            if before is not None:
                ok &= not any(a.lower() in before.text.lower() for a in p.avoid)
        if p.none_when_unclear:
            unclear = {i for i, t in enumerate(sc.turns) if t.cut_off is not None}
            ok &= not [c for c in call.calls() if c.turn in unclear]
        return ok
    if kind == "entity_confirmed":
        argument = p.argument or p.entity
        labelled = [(i, t.entity[p.entity]) for i, t in enumerate(sc.turns)
                    if t.entity and p.entity in t.entity]
        ok = True
        for c in call.calls(p.tool):
            if argument not in c.arguments:
                continue
            known = [(i, v) for i, v in labelled if i <= c.turn]
            if not known:
                # The caller had not given the whole value yet: a partial one reached the tool.
                ok = False
                continue
            last_label, value = known[-1]
            read_back = any(
                e.kind == "say" and last_label <= e.turn < c.turn
                and normalize_value(value) in find_readbacks(e.text)
                for e in call.events)
            ok &= read_back and values_equal(c.arguments[argument], value)
        return ok
    if kind == "confirmation_before_write":
        tools = [p.tool] if p.tool else agent.write_tools
        ok = True
        for c in [c for c in call.calls() if c.name in tools]:
            keys = p.key_arguments or agent.tool(c.name).required_arguments
            # A confirmation says the action ("cancel", "change") as well as the values; a
            # plain read-back ("Is that right?") is not one. As for the scorer, a value read back
            # wrong still names the argument: entity_confirmed grades the value itself.
            verb = c.name.split("_")[0]
            actions = [verb, *_ACTION_SYNONYMS.get(verb, [])]
            questions = [e for e in call.events if e.kind == "say" and e.turn < c.turn
                         and e.text.rstrip().endswith("?")
                         and any(a in e.text.lower() for a in actions)
                         and (not keys or bool(find_readbacks(e.text)))]
            ok &= bool(questions) and any(
                _turn_intent(sc, t) == "affirm" for t in range(questions[-1].turn + 1, c.turn + 1))
        return ok
    if kind == "no_response":
        turns = {n - 1 for n in p.turns} if p.turns is not None else call.silent_turns
        spoke = {e.turn for e in call.events if e.kind == "say"} & turns
        return not spoke and not call.spoke_in_pause
    if kind == "turn_answered":
        turns = [n - 1 for n in p.turns] if p.turns is not None else [
            i for i, t in enumerate(sc.turns) if t.addressed]
        return all(call.says(t) for t in turns)
    return None


def failures(call: Call) -> set[str]:
    return {f"{call.scenario.name}: {e.label()}" for e in call.scenario.expect
            if check(call, e) is False}


# --------------------------------------------------------------------------- the example suite


@pytest.mark.parametrize("style", ["words", "numerals"])
@pytest.mark.parametrize("name", sorted(SUITE))
def test_policy_meets_every_gradable_expectation(name: str, style: str) -> None:
    call = drive(SUITE[name], style=style)
    assert failures(call) == set(), [(e.turn, e.kind, e.text or e.name) for e in call.events]


def test_every_scenario_exercises_something_gradable() -> None:
    for scenario in SUITE.values():
        call = drive(scenario)
        assert any(check(call, e) is not None for e in scenario.expect), scenario.name


def test_order_status_flow() -> None:
    call = drive(SUITE["order-status"])
    assert call.says(0) == ["Sure. What is the order number?"]
    assert call.says(1) == ["Just to confirm, I heard 8, 3, 5, 2, 1. Is that right?"]
    assert [(e.kind, e.text or e.name) for e in call.events if e.turn == 2] == [
        ("say", "I'll check that order now."), ("call", "lookup_order"),
        ("say", "It has shipped and should arrive on April 25.")]
    assert call.calls("lookup_order")[0].arguments == {"order_id": "83521"}
    assert call.says(3) == ["You're welcome. Goodbye!"]


def test_cut_off_id_gets_a_clarification_and_never_reaches_a_tool() -> None:
    call = drive(SUITE["cut-off-order-id"])
    assert call.says(1) == [
        "I heard only part of the order number. Could you repeat it digit by digit?"]
    assert [c.arguments for c in call.calls()] == [{"order_id": "83521"}]
    assert call.calls()[0].turn == 3


def test_spelled_id_keeps_its_dash() -> None:
    call = drive(SUITE["spelled-id-with-dash"])
    assert call.says(0) == ["Just to confirm, I heard A, B dash 1, 2, 3, 4. Is that right?"]
    assert call.calls("lookup_order")[0].arguments == {"order_id": "AB-1234"}
    assert "It is packed and ships tomorrow." in call.says(1)


def test_email_is_read_back_inside_the_confirmation() -> None:
    call = drive(SUITE["update-email-spelled"])
    assert call.says(1) == [
        "What is the new email address? Please spell it character by character."]
    (question,) = call.says(2)
    assert find_readbacks(question) == ["john@mail.com", "62719"]
    assert question.endswith("Should I go ahead?")
    assert not [c for c in call.calls() if c.turn < 3]
    assert call.calls("update_email")[0].arguments == {
        "order_id": "62719", "email": "john@mail.com"}


def test_cancel_names_the_order_and_waits_for_yes() -> None:
    call = drive(SUITE["cancel-confirmed"])
    assert call.says(1) == [
        "I'll cancel order 8, 3, 5, 2, 1. It will not be shipped. Should I go ahead?"]
    (cancel,) = call.calls("cancel_order")
    assert cancel.turn == 2 and cancel.arguments == {"order_id": "83521"}
    assert call.says(2)[-1] == "Done. Your order is cancelled."


def test_a_no_cancels_the_write() -> None:
    call = drive(SUITE["cancel-declined"])
    assert call.calls() == []
    assert call.says(2) == ["Okay, I won't cancel it. Nothing was changed."]


def test_correction_is_read_back_in_full_before_the_lookup() -> None:
    call = drive(SUITE["digit-correction"], style="numerals")
    assert call.says(1) == ["Got it. I have 8, 3, 5, 7, 1. Is that correct?"]
    assert [c.arguments for c in call.calls()] == [{"order_id": "83571"}]


def test_frustration_after_two_failures_escalates() -> None:
    call = drive(SUITE["frustrated-escalation"])
    assert call.says(1)[-1] == "Sorry, I couldn't look up that order right now. Should I try again?"
    assert call.says(2)[-1] == (
        "Sorry, that failed again. Would you like me to transfer you to a colleague?")
    (esc,) = call.calls("escalate_to_human")
    assert esc.turn == 3 and esc.arguments == {"reason": "caller is frustrated"}
    assert call.says(3) == ["I'm transferring you to a colleague now. Please stay on the line."]


def test_human_request_after_an_unclear_start() -> None:
    call = drive(SUITE["human-request"])
    assert call.says(0) == ["Sorry, I only heard part of that. Could you say it again?"]
    assert [(c.name, c.turn) for c in call.calls()] == [("escalate_to_human", 1)]


def test_non_addressed_audio_gets_at_most_the_wait_tool() -> None:
    call = drive(SUITE["hold-music"])
    for turn in (1, 2, 3):
        assert call.says(turn) == []
        assert {c.name for c in call.calls() if c.turn == turn} <= {"wait_for_user"}
    assert call.calls("wait_for_user")
    assert call.calls("lookup_order")[0].turn == 4


def test_mid_sentence_pause_is_joined_with_the_rest() -> None:
    call = drive(SUITE["mid-sentence-pause"], style="numerals")
    assert not call.spoke_in_pause
    assert call.says(0) == ["Just to confirm, I heard 8, 3, 5, 2, 1. Is that right?"]


# --------------------------------------------------------------------------- faults

POLICY_FAULTS: dict[str, set[str]] = {
    "no_preamble": {
        "cancel-confirmed: preamble(before_tool='cancel_order')",
        "cut-off-order-id: preamble(before_tool='lookup_order', none_when_unclear=True)",
        "dropped-line: preamble(before_tool='lookup_order', none_when_unclear=True)",
        "human-request: preamble(before_tool='escalate_to_human')",
        "order-status: preamble(before_tool='lookup_order', max_words=12, max_sentences=1, "
        "avoid=['let me think', 'one moment while I process'])",
        "update-email-spelled: preamble(before_tool='update_email')",
    },
    "skip_confirmation": {
        "cancel-confirmed: confirmation_before_write(tool='cancel_order', "
        "key_arguments=['order_id'])",
        "cancel-declined: no_tool_call(name='cancel_order')",
        "cancel-declined: transcript(must_say=['nothing'], "
        "must_not_say=['has been cancelled', 'is cancelled'])",
        # Cancelled (and failed) one turn early, so the caller's "go ahead" meant for the
        # confirmation answers the offer to retry: a second call.
        "cancel-fails: tool_called(name='cancel_order', times=1)",
        # The email's read-back is the confirmation question itself.
        "update-email-spelled: entity_confirmed(entity='email', tool='update_email')",
        "update-email-spelled: confirmation_before_write(tool='update_email', "
        "key_arguments=['email'])",
    },
    "misread_digit": {
        "cancel-confirmed: entity_confirmed(entity='order_id', tool='cancel_order')",
        "cut-off-order-id: entity_confirmed(entity='order_id')",
        "digit-correction: entity_confirmed(entity='order_id', tool='lookup_order')",
        "mid-sentence-pause: entity_confirmed(entity='order_id', tool='lookup_order')",
        "noisy-caller: entity_confirmed(entity='order_id', tool='lookup_order')",
        "order-status: entity_confirmed(entity='order_id', tool='lookup_order')",
        "spelled-id-with-dash: entity_confirmed(entity='order_id', tool='lookup_order', "
        "argument='order_id')",
    },
    "never_escalate": {
        "frustrated-escalation: escalation(mode='required', by_turn=4)",
        "human-request: escalation(mode='required', by_turn=2, tool='escalate_to_human')",
    },
    "tool_on_partial_id": {
        "cut-off-order-id: preamble(before_tool='lookup_order', none_when_unclear=True)",
        "cut-off-order-id: entity_confirmed(entity='order_id')",
        "cut-off-order-id: transcript(must_say=['digit by digit'])",
    },
}


@pytest.mark.parametrize("fault", sorted(POLICY_FAULTS))
def test_each_fault_fails_exactly_its_expectations(fault: str) -> None:
    failed: set[str] = set()
    for scenario in SUITE.values():
        failed |= failures(drive(scenario, faults=fault))
    assert failed == POLICY_FAULTS[fault]


def test_misread_digit_changes_the_read_back_not_the_tool_argument() -> None:
    call = drive(SUITE["order-status"], faults="misread_digit")
    assert call.says(1) == ["Just to confirm, I heard 8, 3, 6, 2, 1. Is that right?"]
    assert call.calls("lookup_order")[0].arguments == {"order_id": "83521"}


def test_no_preamble_moves_the_handoff_after_the_escalation_call() -> None:
    call = drive(SUITE["human-request"], faults="no_preamble")
    turn1 = [(e.kind, e.text or e.name) for e in call.events if e.turn == 1]
    assert turn1 == [("call", "escalate_to_human"),
                     ("say", "I'm transferring you to a colleague now. Please stay on the line.")]


def test_tool_on_partial_id_sends_the_cut_off_value() -> None:
    call = drive(SUITE["cut-off-order-id"], faults="tool_on_partial_id")
    assert [c.arguments["order_id"] for c in call.calls("lookup_order")] == ["835", "83521"]


def test_talk_over_noise_answers_non_addressed_audio() -> None:
    call = drive(SUITE["hold-music"], faults="talk_over_noise")
    assert call.says(1) and call.says(2)
    assert not call.calls("wait_for_user")
