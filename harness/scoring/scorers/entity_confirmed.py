"""``entity_confirmed``: the agent read the caller's entity back exactly before a tool used it."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring.scorers._common import (
    call_evidence,
    readbacks,
    turn_evidence,
    utterance_evidence,
)
from harness.scoring.timeline import CallerTurn, Utterance


class EntityConfirmedParams(ExpectationParams):
    """The agent read the caller's entity back correctly before a tool used it."""

    entity: str = Field(..., description="entity label from the turns' `entity` maps")
    tool: str | None = Field(None, description="tool that uses it; any tool taking the argument")
    argument: str | None = Field(None, description="argument name; defaults to the entity name")

    def check(self, checks: ExpectationCheck) -> None:
        entities = checks.scenario.entities()
        if self.entity not in entities:
            checks.error(f"no turn labels an entity {self.entity!r} "
                         f"(entities: {', '.join(entities) or 'none'})", "entity")
        tool = checks.tool(self.tool, "tool")
        checks.arguments(tool, self.argument or self.entity, "argument")


def _readbacks(utterances: list[Utterance], after_ms: float, before_ms: float
               ) -> list[tuple[Utterance, list[str]]]:
    out = []
    for u in utterances:
        if after_ms < u.first_audio_ms < before_ms and u.transcript:
            values = list(readbacks(u.transcript))
            if values:
                out.append((u, values))
    return out


def _reads_as(u: Utterance, readback: str, expected: str) -> bool:
    """Whether a read-back gives the expected value: the same value in its standard spoken
    forms, or, where the harness's own recogniser wrote the words (``u.heard``), a value that
    sounds the same ("john at male dot com" for john@mail.com: ``harness.spoken.sound_alike``)."""
    from harness.spoken import normalize_value, sound_alike, values_equal  # noqa: PLC0415

    return values_equal(readback, expected) or (
        u.heard and sound_alike(normalize_value(readback), normalize_value(expected)))


def _is_partial(value: str, expected: str) -> bool:
    return bool(value) and value != expected and expected.startswith(value)


class _Call(TypedDict):
    """One call that uses the entity, and how it was confirmed (``measured["calls"]``)."""

    call_id: str
    tool: str
    turn: int | None
    argument: Any
    verdict: NotRequired[str]
    expected: NotRequired[str]
    readbacks: NotRequired[list[str]]
    readback: NotRequired[str]


@scorer("entity_confirmed", "The agent's spoken read-back (normalised from spoken forms) "
        "equals the caller's labelled entity before any tool call that uses it, and the call's "
        "argument equals it; after a correction the full corrected value is read back; a "
        "cut-off or partial value never reaches a tool.",
        params=EntityConfirmedParams)
def score_entity_confirmed(ctx: ScoringContext, p: EntityConfirmedParams) -> Outcome:
    from harness.spoken import normalize_value, values_equal  # noqa: PLC0415

    tl = ctx.timeline
    arg = p.argument or p.entity
    # The turns that label the entity, each with the value it gives.
    labelled: list[tuple[CallerTurn, str]] = [(t, t.entity[p.entity]) for t in tl.turns
                                              if t.entity and p.entity in t.entity]
    if not labelled:
        return Outcome("fail", f"cannot be graded: no caller turn is labelled with entity "
                       f"{p.entity!r} (give a turn `entity: {{{p.entity}: ...}}`)")
    utterances = tl.utterances()
    calls = [c for c in tl.function_calls
             if (c.name == p.tool if p.tool else (c.arguments is not None and arg in c.arguments))]
    problems: list[str] = []
    evidence = []
    graded: list[_Call] = []
    for call in calls:
        entry: _Call = {"call_id": call.call_id, "tool": call.name, "turn": call.turn_index,
                        "argument": call.argument(arg)}
        graded.append(entry)
        given = [(t, v) for t, v in labelled if t.start_ms < call.t_ms]
        call_turn = tl.turn(call.turn_index) if call.turn_index is not None else None
        if call_turn is not None and call_turn.cut_off:
            problems.append(f"{call.name} was called in turn {call_turn.index}, right after "
                            f"cut-off input {call_turn.spoken_text!r}")
            evidence.append(turn_evidence(call_turn, f"cut-off caller turn {call_turn.index}"))
        if not given:
            problems.append(f"{call.name} was called with {arg}={call.argument(arg)!r} before the "
                            f"caller gave {p.entity} (partial or guessed value)")
            evidence.append(call_evidence(call, f"tool call {call.name} before the value"))
            entry["verdict"] = "before value given"
            continue
        source, expected = given[-1]
        entry["expected"] = expected
        value = call.argument(arg)
        if call.arguments is None:
            problems.append(f"{call.name} arguments are not a JSON object: "
                            f"{call.arguments_raw[:80]!r}")
        elif value is None:
            problems.append(f"{call.name} was called without argument {arg!r}")
        elif not values_equal(value, expected):
            partial = _is_partial(normalize_value(value), normalize_value(expected))
            kind = "partial value" if partial else "wrong value"
            problems.append(f"{call.name} got {arg}={value!r}, a {kind}; the caller said "
                            f"{expected!r} in turn {source.index}")
        found = _readbacks(utterances, source.speech_onset_ms or source.start_ms, call.t_ms)
        match = next(((u, v) for u, vs in found for v in vs if _reads_as(u, v, expected)), None)
        heard_values = [v for _, vs in found for v in vs]
        entry["readbacks"] = heard_values
        if match is None:
            heard = ", ".join(heard_values) or "none"
            problems.append(f"no read-back of {expected!r} between turn {source.index} and "
                            f"{call.name} at {call.t_ms:,.0f} ms (read-backs heard: {heard})")
            evidence += [utterance_evidence(u, f"read-back {', '.join(vs)} ≠ {expected}")
                         for u, vs in found]
        else:
            entry["readback"] = match[1]
            evidence.append(utterance_evidence(match[0], f"read-back {match[1]}"))
        evidence += [turn_evidence(source, f"caller gives {p.entity}={expected}"),
                     call_evidence(call)]
    last, expected_last = labelled[-1]
    measured: dict[str, Any] = {"entity": p.entity, "argument": arg, "expected": expected_last,
                                "labelled_turns": [t.index for t, _ in labelled], "calls": graded}
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    if calls:
        return Outcome("pass", f"{p.entity} {expected_last!r} was read back and used exactly by "
                       f"{len(calls)} call(s) ({', '.join(sorted({c.name for c in calls}))})",
                       measured, evidence)
    # No tool used the value: still grade what the agent read back after the caller gave it.
    found = _readbacks(utterances, last.speech_onset_ms or last.start_ms, float("inf"))
    read_back = [v for _, vs in found for v in vs]
    measured["readbacks"] = read_back
    if not found:
        return Outcome("fail", f"the agent never read {p.entity} {expected_last!r} back and no "
                       f"tool call used {arg}: nothing confirmed it", measured,
                       [turn_evidence(last)])
    match = next(((u, v) for u, vs in found for v in vs if _reads_as(u, v, expected_last)), None)
    if match is None:
        return Outcome("fail", f"the agent read back {', '.join(read_back)} but the "
                       f"caller said {expected_last!r}", measured,
                       [turn_evidence(last)] + [utterance_evidence(u) for u, _ in found])
    return Outcome("pass", f"{p.entity} {expected_last!r} was read back exactly (no tool used it)",
                   measured, [turn_evidence(last), utterance_evidence(match[0], "read-back")])
