"""``transcript``: phrases the agent must say, and phrases it must never say."""

from __future__ import annotations

import re

from pydantic import Field, model_validator

from harness.scenario.kinds import ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import contains_phrase, excerpt
from harness.scoring.scorers._common import utterance_evidence


class TranscriptParams(ExpectationParams):
    """Phrases the agent must or must not say (case-insensitive; regex when `regex: true`)."""

    must_say: list[str] = Field(default_factory=list)
    must_not_say: list[str] = Field(default_factory=list)
    regex: bool = False

    @model_validator(mode="after")
    def _something(self) -> TranscriptParams:
        if not self.must_say and not self.must_not_say:
            raise ValueError("give must_say and/or must_not_say")
        return self


@scorer("transcript", "Phrases the agent must say and must not say in its spoken transcript "
        "(case-insensitive, ignoring punctuation; regular expressions when regex is true).",
        params=TranscriptParams)
def score_transcript(ctx: ScoringContext, p: TranscriptParams) -> Outcome:
    utterances = [u for u in ctx.timeline.utterances() if u.transcript]

    def said(phrase: str, text: str) -> bool:
        if p.regex:
            return re.search(phrase, text, re.IGNORECASE) is not None
        return contains_phrase(text, phrase)

    problems = []
    evidence = []
    found: dict[str, int | None] = {}
    for phrase in p.must_say:
        hit = next((u for u in utterances if said(phrase, u.transcript)), None)
        found[phrase] = hit.turn_index if hit else None
        if hit is None:
            problems.append(f"never said {phrase!r}")
        else:
            evidence.append(utterance_evidence(hit, f"says {phrase!r}"))
    forbidden: dict[str, list[int | None]] = {}
    for phrase in p.must_not_say:
        hits = [u for u in utterances if said(phrase, u.transcript)]
        forbidden[phrase] = [u.turn_index for u in hits]
        for u in hits:
            problems.append(f"said {phrase!r} in turn {u.turn_index}: "
                            f"{excerpt(u.transcript, 60)!r}")
            evidence.append(utterance_evidence(u, f"forbidden phrase {phrase!r}"))
    measured = {"must_say": found, "must_not_say": forbidden, "utterances": len(utterances)}
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    parts = []
    if p.must_say:
        parts.append(f"said all of {', '.join(repr(s) for s in p.must_say)}")
    if p.must_not_say:
        parts.append(f"said none of {', '.join(repr(s) for s in p.must_not_say)}")
    return Outcome("pass", " and ".join(parts), measured, evidence)
