"""The ``persona`` section of a scenario: a caller driven by a language model towards a goal.

A persona says who the caller is and what it wants; the runner asks a caller model for each next
line from it and the conversation so far (:mod:`harness.persona`). Its ``facts`` are the values
the caller knows, which the scorers use as they use a scripted turn's ``entity`` labels, and
``goal_reached`` says when the caller has what it came for.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from harness.scenario._caller import CallerVoice


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Character(_Strict):
    """How the caller behaves: what the caller model is told to play."""

    patience: Literal["low", "medium", "high"] = Field(
        "medium", description="low: short-tempered, repeats itself, asks for a human sooner")
    verbosity: Literal["terse", "normal", "chatty"] = Field(
        "normal", description="how much the caller says in a line")
    spelling: str | None = Field(
        None, description="how the caller says values, e.g. 'digit by digit', 'in pairs', "
                          "'with the NATO alphabet'")
    two_breaths: bool = Field(
        False, description="gives a long value in two lines: the first part, then the rest")
    corrects_itself: bool = Field(
        False, description="gives a value with one digit wrong, then corrects it")
    says_no_at_confirmation: bool = Field(
        False, description="declines when the agent asks to confirm an action")
    wants_human: bool = Field(False, description="asks for a person early on")
    interrupts_after_ms: int | None = Field(
        None, ge=0, le=60_000,
        description="talks over the agent's reply this far into it (an impatient caller); "
                    "none: waits for the agent to finish")
    language: str = Field("English", description="the language the caller speaks")
    accent: str | None = Field(None, description="an accent hint for the caller model and voice")
    notes: str | None = Field(None, description="anything else the caller model should play")


class GoalReached(_Strict):
    """When the caller has what it came for (give one or both; both must hold)."""

    tool: str | None = Field(None, description="the agent calls this tool ...")
    arguments: dict[str, Any] | None = Field(
        None, description="... with these arguments (spoken forms compared strictly)")
    agent_says: str | None = Field(
        None, description="the agent's words match this regex (case-insensitive)")

    @model_validator(mode="after")
    def _something(self) -> GoalReached:
        if self.tool is None and self.agent_says is None:
            raise ValueError("give tool (with optional arguments) or agent_says")
        if self.arguments is not None and self.tool is None:
            raise ValueError("arguments need a tool")
        if self.agent_says is not None:
            try:
                re.compile(self.agent_says)
            except re.error as exc:
                raise ValueError(f"agent_says is not a valid regex: {exc}") from None
        return self


class Persona(_Strict):
    """A caller played by a language model: its goal, what it knows, how it behaves, and when
    it stops. Scripted ``turns`` (when the scenario has any) are spoken first."""

    goal: str = Field(..., min_length=1, description="what the caller wants from the call")
    facts: dict[str, str] = Field(
        default_factory=dict, description="values the caller knows, e.g. {order_id: '83521'}: "
        "the entity scorers use them as they use a scripted turn's entity labels")
    character: Character = Field(default_factory=Character, description="how the caller behaves")
    opening: str | None = Field(
        None, description="the caller's first line, spoken as written; none: the caller model "
                          "writes it")
    voice: CallerVoice | None = Field(
        None, description="the voice of the persona's lines (default: the scenario's caller)")
    goal_reached: GoalReached | None = Field(
        None, description="when the goal counts as met; none: only the caller model's word")
    max_turns: int = Field(8, ge=1, le=40, description="lines the caller model may speak")
    max_duration_s: float = Field(
        90.0, gt=0, le=1800, description="no new line after this much of the call")

    @field_validator("facts")
    @classmethod
    def _facts_named(cls, facts: dict[str, str]) -> dict[str, str]:
        for name, value in facts.items():
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"fact name {name!r}: letters, digits and _ only")
            if not str(value).strip():
                raise ValueError(f"fact {name!r} has no value")
        return facts
