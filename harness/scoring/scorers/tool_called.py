"""``tool_called`` and ``no_tool_call``: which tools the agent called, with which arguments."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring.scorers._common import call_evidence
from harness.scoring.timeline import FunctionCall


class ToolCalledParams(ExpectationParams):
    """The agent called a tool (optionally with an argument subset, a number of times)."""

    name: str
    arguments: dict[str, Any] | None = Field(None, description="subset, compared normalised")
    times: int | None = Field(None, ge=1, description="exact number of matching calls")

    def check(self, checks: ExpectationCheck) -> None:
        tool = checks.tool(self.name, "name")
        checks.arguments(tool, self.arguments, "arguments")


class NoToolCallParams(ExpectationParams):
    """The agent did not call this tool (or no tool at all when `name` is omitted)."""

    name: str | None = None

    def check(self, checks: ExpectationCheck) -> None:
        checks.tool(self.name, "name")


def argument_matches(actual: Any, expected: Any) -> bool:
    """Subset match: mappings by key (recursively), lists element by element, scalars normalised."""
    from harness.spoken import values_equal  # noqa: PLC0415

    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and argument_matches(actual[k], v) for k, v in expected.items())
    if isinstance(expected, list):
        return (isinstance(actual, list) and len(actual) == len(expected)
                and all(argument_matches(a, e) for a, e in zip(actual, expected, strict=True)))
    if isinstance(actual, (dict, list)):
        return False
    return values_equal(actual, expected)


def _describe(call: FunctionCall) -> str:
    return f"{call.name}({call.arguments_raw.strip() or '{}'}) in turn {call.turn_index}"


@scorer("tool_called", "The agent called a tool by name, optionally with an argument subset "
        "(compared normalised) and an exact number of matching calls.",
        params=ToolCalledParams)
def score_tool_called(ctx: ScoringContext, p: ToolCalledParams) -> Outcome:
    calls = ctx.timeline.function_calls
    named = [c for c in calls if c.name == p.name]
    matching = [c for c in named if p.arguments is None
                or (c.arguments is not None and argument_matches(c.arguments, p.arguments))]
    measured = {"matching": len(matching), "calls_of_tool": [c.arguments for c in named],
                "all_calls": [c.name for c in calls]}
    evidence = [call_evidence(c, f"tool call {c.name}"
                              + ("" if c in matching else " (arguments differ)")) for c in named]
    wanted = f"{p.name}" + (f" with {p.arguments}" if p.arguments else "")
    if not named:
        seen = ", ".join(sorted({c.name for c in calls})) or "no tool at all"
        return Outcome("fail", f"{p.name} was never called (the agent called {seen})",
                       measured, evidence)
    if not matching:
        return Outcome("fail", f"no call matched {wanted}; calls: "
                       + "; ".join(_describe(c) for c in named), measured, evidence)
    if p.times is not None and len(matching) != p.times:
        return Outcome("fail", f"{wanted} was called {len(matching)} time(s), expected {p.times}: "
                       + "; ".join(_describe(c) for c in matching), measured, evidence)
    return Outcome("pass", f"{wanted} was called {len(matching)} time(s): "
                   + _describe(matching[0]), measured, evidence)


@scorer("no_tool_call", "The agent did not call the named tool (or no tool at all when no name "
        "is given).",
        params=NoToolCallParams)
def score_no_tool_call(ctx: ScoringContext, p: NoToolCallParams) -> Outcome:
    calls = [c for c in ctx.timeline.function_calls if p.name is None or c.name == p.name]
    what = p.name or "any tool"
    measured = {"calls": [{"tool": c.name, "arguments": c.arguments, "turn": c.turn_index}
                          for c in calls]}
    if calls:
        return Outcome("fail", f"{what} was called {len(calls)} time(s): "
                       + "; ".join(_describe(c) for c in calls), measured,
                       [call_evidence(c) for c in calls])
    return Outcome("pass", f"{what} was never called", measured)
