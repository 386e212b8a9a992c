"""``escalation``: the hand-off tool is called (by a turn, with a spoken hand-off) or never."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt
from harness.scoring.scorers._common import call_evidence, utterance_evidence


class EscalationParams(ExpectationParams):
    """Hand-off to a human: `required` or `forbidden` (shorthand: `escalation: forbidden`)."""

    mode: Literal["required", "forbidden"]
    by_turn: int | None = Field(
        None, ge=1, description="required: called by the end of this turn (1 = the first turn)")
    tool: str | None = Field(
        None, description="escalation tool; the `escalation: true` tool if omitted")
    spoken_handoff: bool = Field(True, description="required: the agent says it hands over")

    shorthand: ClassVar[str | None] = "mode"

    def check(self, checks: ExpectationCheck) -> None:
        if self.by_turn is not None:
            checks.turns(self.by_turn, "by_turn", addressed=False)
        tool = checks.tool(self.tool, "tool")
        if tool is not None and not tool.escalation:
            checks.error(f"{tool.name!r} is not an escalation tool (`escalation: true`)", "tool")
        agent = checks.agent
        if agent is not None and self.tool is None and not agent.escalation_tools:
            checks.error(f"agent {agent.name!r} has no escalation tool (`escalation: true`)")


@scorer("escalation", "required: the escalation tool is called (optionally by a given turn) with "
        "a spoken hand-off in the same caller turn; forbidden: it is never called.",
        params=EscalationParams)
def score_escalation(ctx: ScoringContext, p: EscalationParams) -> Outcome:
    tl = ctx.timeline
    cfg = ctx.agent_config
    tools = [p.tool] if p.tool else (cfg.escalation_tools if cfg is not None else [])
    if not tools:
        return Outcome("fail", f"cannot be graded: escalation is {p.mode} but the agent config "
                       "declares no escalation tool (set `escalation: true` on one or name "
                       "`tool`)")
    calls = [c for c in tl.function_calls if c.name in tools]
    measured = {"tools": tools, "calls": [{"call_id": c.call_id, "tool": c.name,
                                           "turn": c.turn_index, "t_ms": c.t_ms} for c in calls]}
    evidence = [call_evidence(c, f"escalation call {c.name}") for c in calls]
    names = " / ".join(tools)
    if p.mode == "forbidden":
        if calls:
            return Outcome("fail", f"{names} was called in turn {calls[0].turn_index} at "
                           f"{calls[0].t_ms:,.0f} ms though escalation is forbidden",
                           measured, evidence)
        return Outcome("pass", f"{names} was never called", measured)
    if not calls:
        return Outcome("fail", f"{names} was never called; escalation is required", measured)
    first = calls[0]
    problems = []
    if p.by_turn is not None and (first.turn_index is None or first.turn_index > p.by_turn):
        problems.append(f"{first.name} came in turn {first.turn_index}, after turn {p.by_turn}")
    handoff = [u for u in tl.utterances() if u.turn_index == first.turn_index and u.transcript]
    measured["handoff"] = [u.transcript for u in handoff]
    evidence += [utterance_evidence(u, "spoken hand-off") for u in handoff]
    if p.spoken_handoff and not handoff:
        problems.append(f"the agent said nothing around {first.name} in turn {first.turn_index}")
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    said = f", saying {excerpt(handoff[0].transcript, 80)!r}" if handoff else ""
    return Outcome("pass", f"{first.name} was called in turn {first.turn_index} at "
                   f"{first.t_ms:,.0f} ms{said}", measured, evidence)
