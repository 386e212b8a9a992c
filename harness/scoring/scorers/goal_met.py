"""``goal_met``: a persona's caller got what it came for, judged from the call itself."""

from __future__ import annotations

import re

from harness.scenario._persona import Persona
from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt
from harness.scoring.scorers._common import call_evidence
from harness.spoken import values_equal


class GoalMetParams(ExpectationParams):
    """The persona's goal was reached (its `goal_reached`: the tool called with the arguments,
    and/or the agent's words matching), whatever the caller model said about it."""

    def check(self, checks: ExpectationCheck) -> None:
        persona = checks.scenario.persona
        if persona is None:
            checks.error("goal_met grades a persona's goal, and this scenario has no persona")
        elif persona.goal_reached is None:
            checks.error("goal_met needs the persona's goal_reached (a tool with its arguments, "
                         "or agent_says) to judge the goal by")
        else:
            tool = checks.tool(persona.goal_reached.tool, "persona", "goal_reached", "tool")
            checks.arguments(tool, persona.goal_reached.arguments)


@scorer("goal_met", "A persona call reached the persona's goal: the goal tool was called with "
        "its arguments and/or the agent said what the goal names.", params=GoalMetParams)
def score_goal_met(ctx: ScoringContext, p: GoalMetParams) -> Outcome:
    raw = (ctx.recording.meta.scenario_model if ctx.recording is not None else {}).get("persona")
    if not raw:
        return Outcome("fail", "cannot be graded: the recorded scenario has no persona")
    goal = Persona.model_validate(raw).goal_reached
    if goal is None:
        return Outcome("fail", "cannot be graded: the persona has no goal_reached")
    tl = ctx.timeline
    measured: dict[str, object] = {"tool": goal.tool, "arguments": goal.arguments,
                                   "agent_says": goal.agent_says}
    problems: list[str] = []
    evidence = []
    if goal.tool is not None:
        calls = [c for c in tl.function_calls if c.name == goal.tool]
        hits = [c for c in calls if all(values_equal(c.argument(k), v)
                                        for k, v in (goal.arguments or {}).items())]
        measured["calls"] = [{"arguments": c.arguments, "turn": c.turn_index} for c in calls]
        evidence += [call_evidence(c, f"goal tool {c.name}") for c in hits[:1]]
        if not hits:
            wanted = f" with {goal.arguments}" if goal.arguments else ""
            got = "; called with " + ", ".join(str(c.arguments) for c in calls) if calls else ""
            problems.append(f"{goal.tool} was never called{wanted}{got}")
    if goal.agent_says is not None:
        said = " ".join(u.transcript for u in tl.utterances() if u.transcript)
        found = re.search(goal.agent_says, said, re.I)
        measured["agent_said"] = excerpt(said, 300)
        if found is None:
            problems.append(f"the agent never said anything matching {goal.agent_says!r}")
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    what = " and ".join(x for x in (f"{goal.tool} was called" if goal.tool else "",
                                    f"the agent said {goal.agent_says!r}"
                                    if goal.agent_says else "") if x)
    return Outcome("pass", f"the persona's goal was reached: {what}", measured, evidence)
