"""Verdicts: what a scorer says about one expectation on one recording, with its evidence."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

Status = Literal["pass", "fail", "not_applicable", "error"]


class Evidence(BaseModel):
    """One piece of evidence: a moment on the session clock and what happened there."""

    t_ms: float | None = Field(None, description="session-clock time of the moment")
    end_ms: float | None = Field(None, description="end of the interval, when it is one")
    label: str = Field(..., description="what this is, e.g. 'tool call cancel_order'")
    turn_index: int | None = Field(None, description="caller turn it concerns")
    event_seq: list[int] = Field(default_factory=list, description="events.jsonl seq numbers")
    excerpt: str | None = Field(None, description="transcript excerpt or arguments")


class Verdict(BaseModel):
    """The outcome of one expectation."""

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    status: Status
    summary: str = Field(..., description="one sentence a person reads first")
    measured: dict[str, Any] = Field(default_factory=dict, description="numbers behind the verdict")
    evidence: list[Evidence] = Field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.status in ("pass", "not_applicable")
