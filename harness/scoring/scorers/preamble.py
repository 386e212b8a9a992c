"""``preamble``: before each matching tool call the agent spoke a short update in the same turn."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import contains_phrase, excerpt, sentences, words
from harness.scoring.scorers._common import (
    call_evidence,
    is_action_call,
    turn_evidence,
    utterance_evidence,
)
from harness.scoring.timeline import FunctionCall, Timeline, Utterance


class PreambleParams(ExpectationParams):
    """Before each matching tool call the agent spoke a short preamble in the same caller turn."""

    before_tool: str | None = Field(None, description="tool name; any tool when omitted")
    max_words: int | None = Field(None, ge=1)
    max_sentences: int | None = Field(None, ge=1)
    avoid: list[str] = Field(default_factory=list, description="phrases a preamble must not use")
    none_when_unclear: bool = Field(
        False, description="after unclear/cut-off input, no preamble (ask instead)")

    def check(self, checks: ExpectationCheck) -> None:
        checks.tool(self.before_tool, "before_tool")


def _speech_before(tl: Timeline, utterances: list[Utterance], call: FunctionCall,
                   wait_tools: frozenset[str]) -> list[Utterance]:
    """Agent speech of the call's caller turn that started arriving before the call and after
    the turn's previous action call (each call needs its own preamble)."""
    earlier = [c.t_ms for c in tl.function_calls
               if c.turn_index == call.turn_index and is_action_call(c, wait_tools)
               and c.t_ms < call.t_ms]
    since = max(earlier, default=float("-inf"))
    return [u for u in utterances
            if u.turn_index == call.turn_index and since < u.first_audio_ms < call.t_ms
            and u.transcript]


class _CallPreamble(TypedDict):
    """One graded call and the preamble before it, if any (``measured["calls"]``)."""

    call_id: str
    tool: str
    turn: int | None
    preamble: str | None
    words: NotRequired[int]
    sentences: NotRequired[int]
    lead_ms: NotRequired[float]


class _UnclearPreamble(TypedDict):
    """A preamble after cut-off input (``measured["preambles_after_unclear"]``)."""

    turn: int
    tool: str
    preamble: str


@scorer("preamble", "Before each matching tool call the agent spoke (audio with a transcript) in "
        "the same caller turn; optional limits on words and sentences, phrases to avoid, and no "
        "preamble after cut-off input.",
        params=PreambleParams)
def score_preamble(ctx: ScoringContext, p: PreambleParams) -> Outcome:
    tl = ctx.timeline
    utterances = tl.utterances()
    calls = [c for c in tl.function_calls
             if (c.name == p.before_tool if p.before_tool else is_action_call(c, ctx.wait_tools))]
    problems: list[str] = []
    evidence = []
    graded: list[_CallPreamble] = []
    for call in calls:
        spoken = _speech_before(tl, utterances, call, ctx.wait_tools)
        if not spoken:
            problems.append(f"{call.name} at {call.t_ms:,.0f} ms (turn {call.turn_index}) had no "
                            "spoken preamble before it")
            evidence.append(call_evidence(call, f"tool call {call.name} without a preamble"))
            graded.append({"call_id": call.call_id, "tool": call.name, "turn": call.turn_index,
                           "preamble": None})
            continue
        pre = spoken[-1]
        n_words, n_sentences = len(words(pre.transcript)), len(sentences(pre.transcript))
        graded.append({"call_id": call.call_id, "tool": call.name, "turn": call.turn_index,
                       "preamble": pre.transcript, "words": n_words, "sentences": n_sentences,
                       "lead_ms": round(call.t_ms - pre.first_audio_ms, 1)})
        evidence.append(utterance_evidence(pre, f"preamble before {call.name}"))
        evidence.append(call_evidence(call))
        if p.max_words is not None and n_words > p.max_words:
            problems.append(f"preamble before {call.name} has {n_words} words > {p.max_words}: "
                            f"{excerpt(pre.transcript, 80)!r}")
        if p.max_sentences is not None and n_sentences > p.max_sentences:
            problems.append(f"preamble before {call.name} has {n_sentences} sentences > "
                            f"{p.max_sentences}: {excerpt(pre.transcript, 80)!r}")
        for phrase in p.avoid:
            if contains_phrase(pre.transcript, phrase):
                problems.append(f"preamble before {call.name} uses avoided phrase {phrase!r}")
    unclear: list[_UnclearPreamble] = []
    if p.none_when_unclear:
        for turn in tl.turns:
            if not turn.cut_off:
                continue
            for call in tl.calls_of(turn.index):
                if not is_action_call(call, ctx.wait_tools):
                    continue
                spoken = _speech_before(tl, utterances, call, ctx.wait_tools)
                if spoken:
                    unclear.append({"turn": turn.index, "tool": call.name,
                                    "preamble": spoken[-1].transcript})
                    problems.append(f"preamble {excerpt(spoken[-1].transcript, 60)!r} and "
                                    f"{call.name} after cut-off input in turn {turn.index}")
                    evidence += [turn_evidence(turn, f"cut-off caller turn {turn.index}"),
                                 utterance_evidence(spoken[-1], "preamble after unclear input"),
                                 call_evidence(call)]
    measured = {"calls": graded, "preambles_after_unclear": unclear}
    target = p.before_tool or "any tool"
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    if not calls:
        seen = ", ".join(sorted({c.name for c in tl.function_calls
                                  if is_action_call(c, ctx.wait_tools)}))
        return Outcome("fail", f"{target if p.before_tool else 'no tool'} was never called, so "
                       f"there was no preamble to check (the agent called "
                       f"{seen or 'no tool at all'})", measured, evidence)
    # No problem: every call had a preamble.
    preambles = [g["preamble"] for g in graded if g["preamble"] is not None]
    return Outcome("pass", f"all {len(calls)} call(s) to {target} had a spoken preamble in the "
                   f"same turn, e.g. {excerpt(preambles[0], 80)!r}", measured, evidence)
