"""``claims_backed``: every spoken completion claim follows a successful output of its tool."""

from __future__ import annotations

from typing import TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt
from harness.scoring.scorers._claims import (
    GENERIC_CLAIMS,
    call_failed,
    call_succeeded,
    claim_sentences,
    participles,
)
from harness.scoring.scorers._common import call_evidence, is_action_call, utterance_evidence


class ClaimsBackedParams(ExpectationParams):
    """Completion claims ("Done.", "Your order is cancelled.") only after the action's tool
    succeeded."""

    tools: list[str] | None = Field(
        None, description="tools whose completion is claimed; every write tool (or every tool "
                          "but the wait tool when none is a write tool) if omitted")
    phrases: dict[str, list[str]] = Field(
        default_factory=dict,
        description="tool → phrases that claim its action is done; the tool name's verb in the "
                    "past (cancel_order → cancelled) if a tool is not listed")
    generic: list[str] = Field(
        default_factory=lambda: list(GENERIC_CLAIMS),
        description="phrases that claim any graded tool's action is done")

    def check(self, checks: ExpectationCheck) -> None:
        for i, name in enumerate(self.tools or []):
            checks.tool(name, "tools", i)
        for name in self.phrases:
            checks.tool(name, "phrases", name)


class _Claim(TypedDict):
    """A spoken completion claim and the call backing it, if any (``measured["claims"]``)."""

    claim: str
    phrase: str
    t_ms: float
    turn: int | None
    tools: list[str]
    backed_by: str | None


@scorer("claims_backed", "Every spoken completion claim (the tool's verb in the past, e.g. "
        "'cancelled', or a generic 'done'; negated sentences and questions are not claims) "
        "comes after a successful output of the latest matching call before it; the call "
        "must have a graded tool call or a claim to grade.",
        params=ClaimsBackedParams)
def score_claims_backed(ctx: ScoringContext, p: ClaimsBackedParams) -> Outcome:
    tl = ctx.timeline
    cfg = ctx.agent_config
    tools = p.tools
    if tools is None:
        declared = [t.name for t in cfg.tools] if cfg is not None else []
        tools = (cfg.write_tools if cfg is not None and cfg.write_tools else
                 [n for n in declared if n not in ctx.wait_tools])
    specific = {name: p.phrases.get(name) or participles(name) for name in tools}
    calls = [c for c in tl.function_calls if c.name in tools and is_action_call(c, ctx.wait_tools)]
    phrase_tools = [(ph, [name]) for name, phs in specific.items() for ph in phs] + [
        (ph, tools) for ph in p.generic]
    rows: list[_Claim] = []
    problems = []
    evidence = []
    for utt in tl.utterances():
        for sentence, phrase in claim_sentences(utt.transcript, [ph for ph, _ in phrase_tools]):
            names = next(n for ph, n in phrase_tools if ph == phrase)
            # The latest call of the action before the claim decides: a success backs it, a
            # failure (or no answer yet) means the claim is not backed.
            before = [c for c in calls if c.name in names and c.t_ms <= utt.first_audio_ms]
            latest = before[-1] if before else None
            backed = (latest is not None and call_succeeded(latest) and latest.answer is not None
                      and latest.answer.t_ms <= utt.first_audio_ms)
            rows.append({"claim": sentence, "phrase": phrase, "t_ms": utt.start_ms,
                         "turn": utt.turn_index, "tools": names,
                         "backed_by": latest.call_id if backed and latest else None})
            evidence.append(utterance_evidence(utt, f"completion claim {phrase!r}"))
            if backed and latest is not None:
                evidence.append(call_evidence(latest, f"{latest.name} succeeded"))
                continue
            if latest is not None and call_failed(latest):
                why = f"after {latest.name} failed"
                evidence.append(call_evidence(latest, f"{latest.name} failed"))
            elif latest is not None:
                why = f"before {latest.name} returned"
                evidence.append(call_evidence(latest, f"{latest.name} unanswered"))
            else:
                why = f"with no call to {' / '.join(names)} before it"
            problems.append(f"turn {utt.turn_index}: the agent said "
                            f"{excerpt(sentence, 70)!r} {why}")
    measured = {"tools": tools, "claims": rows,
                "calls": [{"call_id": c.call_id, "tool": c.name, "turn": c.turn_index,
                           "succeeded": call_succeeded(c)} for c in calls]}
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    if not rows and not calls:
        return Outcome("fail", f"no call to {' / '.join(tools) or 'any tool'} and no completion "
                       "claim in the call, so no claim could be checked against a tool result",
                       measured)
    if not rows:
        return Outcome("pass", f"no completion claim; {len(calls)} call(s) to "
                       f"{' / '.join(sorted({c.name for c in calls}))} "
                       f"({sum(map(call_failed, calls))} failed)", measured,
                       [call_evidence(c) for c in calls])
    return Outcome("pass", f"all {len(rows)} completion claim(s) followed a successful call, e.g. "
                   f"{excerpt(rows[0]['claim'], 60)!r}", measured, evidence)
