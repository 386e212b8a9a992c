"""``no_filler_on_noise``: no filler lines on silence or noise, no clarification said twice."""

from __future__ import annotations

from typing import TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt, normalize_text, questions
from harness.scoring.scorers._claims import says_any
from harness.scoring.scorers._common import (
    call_evidence,
    is_action_call,
    turn_evidence,
    utterance_evidence,
)
from harness.scoring.timeline import CallerTurn, Timeline

FILLERS = ["I'm here", "I am here", "I'm still here", "take your time", "I didn't catch that",
           "let me know when you're ready", "are you still there", "whenever you're ready"]
"""Lines the prompting guide tells agents never to say on silence or background audio."""


class NoFillerOnNoiseParams(ExpectationParams):
    """On silence, noise, hold music, TV or side talk the agent stays silent or calls the wait
    tool, never says a filler line, and never repeats a clarification word for word."""

    phrases: list[str] = Field(default_factory=lambda: list(FILLERS),
                               description="filler lines never to be said")
    grace_ms: float = Field(
        1500.0, ge=0, description="speech starting this soon after a stretch ends still counts "
                                  "as said on it (the agent's reaction time)")

    def check(self, checks: ExpectationCheck) -> None:
        if not any(not t.addressed or any(not isinstance(s, str) for s in t.segments)
                   for t in checks.scenario.turns):
            checks.error("the scenario has no silence, play or mid-turn pause, so there is no "
                         "silence or noise to grade")


def _stretches(tl: Timeline) -> list[tuple[CallerTurn, str, float, float]]:
    """(turn, what, start, end) of silence, non-addressed audio and mid-turn pauses."""
    out = []
    for turn in tl.turns:
        if not turn.addressed:
            out.append((turn, "silence" if turn.kind == "silence" else "audio not addressed to "
                        "the agent", turn.start_ms, turn.end_ms))
        for start, end in turn.pauses_ms:
            out.append((turn, "a mid-turn pause", start, end))
    return out


class _Stretch(TypedDict):
    """A stretch of silence or noise and what the agent did (``measured["stretches"]``)."""

    turn: int
    what: str
    start_ms: float
    end_ms: float
    said: list[str]
    wait_calls: int


@scorer("no_filler_on_noise", "During silence, mid-turn pauses and audio not addressed to the "
        "agent it says nothing (calling the wait tool is fine); no filler line ('I'm here', "
        "'take your time', ...) anywhere in the call; no clarification question said twice in a "
        "row word for word; fails when the call had no silence or noise.",
        params=NoFillerOnNoiseParams)
def score_no_filler_on_noise(ctx: ScoringContext, p: NoFillerOnNoiseParams) -> Outcome:
    tl = ctx.timeline
    stretches = _stretches(tl)
    if not stretches:
        return Outcome("fail", "the call had no silence, pause or audio not addressed to the "
                       "agent, so filler could not be graded")
    utterances = [u for u in tl.utterances() if u.transcript]
    problems: list[str] = []
    evidence = []
    rows: list[_Stretch] = []
    for turn, what, start, end in stretches:
        answers = {r.response_id for r in tl.responses_of(turn.index)} if not turn.addressed \
            else set()
        spoken = [u for u in utterances if start <= u.start_ms < end + p.grace_ms
                  and (u.response_id in answers or start <= u.start_ms < end)]
        waits = [c for c in tl.function_calls if not is_action_call(c, ctx.wait_tools)
                 and start <= c.t_ms < end + p.grace_ms]
        rows.append({"turn": turn.index, "what": what, "start_ms": start, "end_ms": end,
                     "said": [u.transcript for u in spoken], "wait_calls": len(waits)})
        evidence += [call_evidence(c, "wait tool") for c in waits]
        for u in spoken:
            problems.append(f"turn {turn.index}: the agent spoke during {what}: "
                            f"{excerpt(u.transcript, 60)!r}")
            evidence += [turn_evidence(turn, f"caller turn {turn.index}: {what}"),
                         utterance_evidence(u, "agent speech on silence or noise")]
    for u in utterances:
        filler = says_any(u.transcript, p.phrases)
        if filler:
            problems.append(f"the agent said the filler line {filler!r} in turn "
                            f"{u.turn_index}: {excerpt(u.transcript, 60)!r}")
            evidence.append(utterance_evidence(u, "filler line"))
    repeated = []
    for prev, nxt in zip(utterances, utterances[1:], strict=False):
        if questions(prev.transcript) and normalize_text(prev.transcript) == normalize_text(
                nxt.transcript):
            repeated.append(nxt.transcript)
            problems.append(f"the agent repeated {excerpt(nxt.transcript, 60)!r} word for word "
                            f"(turns {prev.turn_index} and {nxt.turn_index})")
            evidence += [utterance_evidence(prev, "clarification"),
                         utterance_evidence(nxt, "the same clarification again")]
    measured = {"stretches": rows, "repeated": repeated}
    if problems:
        return Outcome("fail", "; ".join(dict.fromkeys(problems)), measured, evidence)
    wait_calls = sum(r["wait_calls"] for r in rows)
    return Outcome("pass", f"no speech and no filler in {len(rows)} stretch(es) of silence or "
                   f"noise ({wait_calls} wait-tool call(s)), no clarification repeated", measured,
                   evidence + [turn_evidence(t, f"caller turn {t.index}: {w}")
                               for t, w, _, _ in stretches])
