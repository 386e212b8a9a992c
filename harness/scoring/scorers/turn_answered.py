"""``turn_answered``: caller turns addressed to the agent get agent audio within a timeout."""

from __future__ import annotations

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring.scorers._common import (
    fmt_ms,
    require_caller_speech,
    turn_evidence,
    turn_label,
)
from harness.scoring.verdict import Evidence


class TurnAnsweredParams(ExpectationParams):
    """Addressed caller turns get agent audio within a timeout."""

    turns: list[int] | None = Field(
        None, description="turn numbers (1 = the first turn); every addressed turn if omitted")
    timeout_ms: float = Field(15_000.0, gt=0)

    def check(self, checks: ExpectationCheck) -> None:
        require_caller_speech(checks)
        checks.turns(self.turns, "turns", addressed=True)


@scorer("turn_answered", "Each addressed caller turn (or the listed ones) gets agent audio within "
        "timeout_ms of the caller's speech end.",
        params=TurnAnsweredParams)
def score_turn_answered(ctx: ScoringContext, p: TurnAnsweredParams) -> Outcome:
    tl = ctx.timeline
    turns = [t for t in tl.turns if (t.index in p.turns if p.turns is not None
                                     else t.addressed and t.has_speech)]
    played = {t.index for t in tl.turns}
    never = [n for n in p.turns or [] if n not in played]
    if not turns and not never:
        return Outcome("fail", "no caller turn with speech was played, so no answer could be "
                       "awaited")
    rows = []
    problems = []
    evidence = []
    for turn in turns:
        done = turn.caller_done_ms
        onsets = sorted(r.audible_onset_ms for r in tl.responses_of(turn.index)
                        if r.audible_onset_ms is not None and r.audible_onset_ms >= done)
        wait = onsets[0] - done if onsets else None
        rows.append({"turn": turn.index,
                     "answered_after_ms": None if wait is None else round(wait, 1)})
        if wait is None or wait > p.timeout_ms:
            problems.append(f"{turn_label(turn)} got no agent audio within {fmt_ms(p.timeout_ms)}"
                            + (f" (first after {fmt_ms(wait)})" if wait is not None else ""))
            evidence.append(turn_evidence(turn, f"unanswered caller turn {turn.index}"))
        else:
            evidence.append(Evidence(t_ms=done, end_ms=onsets[0], turn_index=turn.index,
                                     label=f"turn {turn.index} answered after {fmt_ms(wait)}",
                                     event_seq=[turn.seq]))
    problems += [f"turn {n} was never played (the call ended first)" for n in never]
    measured = {"turns": rows, "timeout_ms": p.timeout_ms, "never_played": never}
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    return Outcome("pass", f"all {len(turns)} caller turn(s) were answered within "
                   f"{fmt_ms(p.timeout_ms)}", measured, evidence)
