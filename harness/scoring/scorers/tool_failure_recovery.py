"""``tool_failure_recovery``: after a failed tool call the agent recovers the way callers need."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import contains_phrase, excerpt, questions
from harness.scoring.scorers._claims import (
    ESCALATION_OFFERS,
    GENERIC_CLAIMS,
    OFFERS,
    call_failed,
    claim_sentences,
    error_text,
    not_found,
    participles,
    same_call,
    says_any,
)
from harness.scoring.scorers._common import (
    call_evidence,
    is_action_call,
    readbacks,
    utterance_evidence,
)
from harness.scoring.timeline import FunctionCall, Timeline, Utterance
from harness.spoken import normalize_value


class ToolFailureRecoveryParams(ExpectationParams):
    """After a tool call whose output is an error, the agent recovers: no success claim, no
    retry loop, a read-back on a not-found identifier, a next step, no raw error text."""

    tool: str | None = Field(None, description="grade failures of this tool; any tool if omitted")
    max_identical_retries: int = Field(
        1, ge=0, description="calls with the same tool and arguments allowed after a failure")
    escalate_after: int = Field(
        2, ge=1, description="after this many failures the next step offered is an alternative "
                             "or a hand-off")
    raw_error_phrases: list[str] = Field(
        default_factory=lambda: ["exception", "error code", "status code", "stack trace",
                                 "null", "internal server"],
        description="phrases of raw errors never said aloud (the error value itself neither)")

    def check(self, checks: ExpectationCheck) -> None:
        checks.tool(self.tool, "tool")


def _after(tl: Timeline, utterances: list[Utterance], call: FunctionCall,
           wait_tools: frozenset[str]) -> list[Utterance]:
    """What the agent said after the failed output came back, before the caller's next turn
    (or the agent's next call)."""
    start = call.answer.t_ms if call.answer is not None else call.t_ms
    nxt = tl.next_turn(call.turn_index) if call.turn_index is not None else None
    later_calls = [c.t_ms for c in tl.function_calls
                   if c.t_ms > call.t_ms and is_action_call(c, wait_tools)]
    end = min([nxt.start_ms if nxt is not None else float("inf"), *later_calls])
    return [u for u in utterances if start <= u.first_audio_ms < end and u.transcript]


class _Failure(TypedDict):
    """One failed call and what the agent did after it (``measured["failures"]``)."""

    call_id: str
    tool: str
    turn: int | None
    error: str
    said: str
    failure_number: int
    identical_retries: NotRequired[int]
    read_back: NotRequired[list[str]]
    offer: NotRequired[str | None]


@scorer("tool_failure_recovery", "After each failed tool call (an error output): no completion "
        "claim, at most max_identical_retries repeats of the same call, after a not-found "
        "failure a read-back of the value used with a question before anything else, a next "
        "step offered (from escalate_after failures on: an alternative or a hand-off), and no "
        "raw error text spoken; fails when no tool call failed.",
        params=ToolFailureRecoveryParams)
def score_tool_failure_recovery(ctx: ScoringContext, p: ToolFailureRecoveryParams) -> Outcome:
    tl = ctx.timeline
    calls = [c for c in tl.function_calls
             if is_action_call(c, ctx.wait_tools) and (p.tool is None or c.name == p.tool)]
    failed = [c for c in calls if call_failed(c)]
    target = p.tool or "any tool"
    if not failed:
        return Outcome("fail", f"no call to {target} failed, so recovery could not be graded",
                       {"calls": len(calls)}, [call_evidence(c) for c in calls])
    utterances = tl.utterances()
    escalation_tools = ctx.agent_config.escalation_tools if ctx.agent_config else []
    problems: list[str] = []
    evidence = []
    rows: list[_Failure] = []
    for n, call in enumerate(failed, start=1):
        error = error_text(call) or ""
        said = _after(tl, utterances, call, ctx.wait_tools)
        text = " ".join(u.transcript for u in said)
        row: _Failure = {"call_id": call.call_id, "tool": call.name, "turn": call.turn_index,
                         "error": error, "said": text, "failure_number": n}
        rows.append(row)
        evidence.append(call_evidence(call, f"{call.name} failed: {excerpt(error, 60)}"))
        evidence += [utterance_evidence(u, "agent after the failure") for u in said]
        where = f"after {call.name} failed in turn {call.turn_index}"
        claims = claim_sentences(text, [*participles(call.name), *GENERIC_CLAIMS])
        if claims:
            problems.append(f"{where} the agent claimed success: {excerpt(claims[0][0], 60)!r}")
        retries = [c for c in calls if c.t_ms > call.t_ms and same_call(c, call)]
        row["identical_retries"] = len(retries)
        first_of_its_kind = not any(same_call(f, call) for f in failed[:n - 1])
        if first_of_its_kind and len(retries) > p.max_identical_retries:
            problems.append(f"{where} the same call ({excerpt(call.arguments_raw, 40)}) was "
                            f"repeated {len(retries)} time(s) > {p.max_identical_retries}")
            evidence += [call_evidence(c, "identical retry") for c in retries]
        handed_off = any(c.name in escalation_tools and c.t_ms > call.t_ms
                         for c in tl.function_calls)
        if not said:
            if not retries and not handed_off:
                problems.append(f"{where} the agent said nothing and did nothing")
            continue
        asked_about_value = False
        if not_found(call):
            used = [normalize_value(v) for v in (call.arguments or {}).values()
                    if isinstance(v, str) and normalize_value(v)]
            first = said[0].transcript
            read_back = [v for v in used if v in readbacks(first)]
            row["read_back"] = read_back
            asked_about_value = bool(read_back and questions(first))
            if used and not asked_about_value:
                problems.append(f"{where} (not found) the agent did not read back the value it "
                                f"used ({', '.join(used)}) and ask about it first: "
                                f"{excerpt(first, 70)!r}")
        offers = ESCALATION_OFFERS if n >= p.escalate_after else OFFERS
        offered = says_any(text, offers)
        row["offer"] = offered
        if not offered and not handed_off and not (asked_about_value and n < p.escalate_after):
            kind = ("neither an alternative nor a hand-off" if n >= p.escalate_after
                    else "no next step")
            problems.append(f"{where} (failure {n}) the agent offered {kind}: "
                            f"{excerpt(text, 70)!r}")
        raw = [ph for ph in p.raw_error_phrases if contains_phrase(text, ph)]
        if error and contains_phrase(text, error) and len(error) > 3:
            raw.insert(0, error)
        if raw:
            problems.append(f"{where} the agent read out the raw error ({raw[0]!r})")
    measured = {"failures": rows}
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    return Outcome("pass", f"the agent recovered from {len(failed)} failed call(s) to {target}, "
                   f"e.g. {excerpt(rows[0]['said'], 70)!r}", measured, evidence)
