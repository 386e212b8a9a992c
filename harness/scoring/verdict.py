"""Verdicts: what a scorer says about one expectation on one recording, with its evidence."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field, model_validator

Status = Literal["pass", "fail", "error", "not_applicable"]
"""``pass``: the expectation was met; ``fail``: it was not, or the situation it grades never
arose (the summary says which); ``error``: it could not be graded (a broken scorer or an
unreadable expectation), which makes the trial errored; ``not_applicable``: a production call
lacks what it needs (``harness.calls``; the reason is in ``measured["not_applicable"]``): never a
pass, left out of pass rates, and a trial with nothing else graded is errored."""

NOT_APPLICABLE = "not_applicable"


class Evidence(BaseModel):
    """One piece of evidence: a moment on the session clock and what happened there."""

    t_ms: float | None = Field(None, description="session-clock time of the moment")
    end_ms: float | None = Field(None, description="end of the interval, when it is one")
    label: str = Field(..., description="what this is, e.g. 'tool call cancel_order'")
    turn_index: int | None = Field(None, description="caller turn it concerns (1 = the first)")
    event_seq: list[int] = Field(default_factory=list, description="events.jsonl seq numbers")
    excerpt: str | None = Field(None, description="transcript excerpt or arguments")


class Verdict(BaseModel):
    """The outcome of one expectation (or of one always-on call-integrity check)."""

    kind: str
    params: dict[str, Any] = Field(default_factory=dict)
    status: Status
    summary: str = Field(..., description="one sentence a person reads first")
    measured: dict[str, Any] = Field(default_factory=dict, description="numbers behind the verdict")
    evidence: list[Evidence] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _upgrade_not_applicable(cls, data: Any) -> Any:
        # Verdicts written by older harnesses could be "not_applicable", which counted as a pass.
        # Nothing was graded, so read back they fail and say so. Today's carry their reason.
        measured = data.get("measured") if isinstance(data, dict) else None
        if (isinstance(data, dict) and data.get("status") == NOT_APPLICABLE
                and not (isinstance(measured, dict) and measured.get(NOT_APPLICABLE))):
            data = {**data, "status": "fail",
                    "summary": f"not graded: {data.get('summary', '')} (an older harness called "
                               "this not applicable; `harness score` grades it again)"}
        return data

    @property
    def passed(self) -> bool:
        return self.status == "pass"


class KindAndStatus(Protocol):
    """A verdict as scored or as stored: its expectation kind and its status."""

    @property
    def kind(self) -> str: ...

    @property
    def status(self) -> str: ...


def statuses_by_kind(verdicts: Iterable[KindAndStatus]) -> dict[str, list[str]]:
    """Expectation kind → the statuses of its verdicts, in order (anything with ``kind`` and
    ``status``: verdicts as scored or as stored)."""
    out: dict[str, list[str]] = {}
    for v in verdicts:
        out.setdefault(v.kind, []).append(v.status)
    return out
