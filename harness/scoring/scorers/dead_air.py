"""``dead_air``: the longest stretch with neither party audible while a caller awaits an answer."""

from __future__ import annotations

from typing import TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring.scorers._common import (
    answerable_turns,
    everyone_audible,
    fmt_ms,
    longest_dead_air,
    require_caller_speech,
)
from harness.scoring.verdict import Evidence


class DeadAirParams(ExpectationParams):
    """Longest gap with neither party audible between a caller turn and the agent's answer."""

    max_ms: float = Field(..., gt=0)

    def check(self, checks: ExpectationCheck) -> None:
        require_caller_speech(checks)


class _TurnGap(TypedDict):
    """The longest wait of one caller turn (``measured["turns"]``)."""

    turn: int
    longest_gap_ms: float
    gap_start_ms: float
    final_answer_onset_ms: float | None


@scorer("dead_air", "Per caller turn with speech, the longest gap with neither party audible "
        "between the caller's speech end and the onset of the agent's final answer to it (for an "
        "unanswered turn: the next turn or the call's end) is at most max_ms.",
        params=DeadAirParams)
def score_dead_air(ctx: ScoringContext, p: DeadAirParams) -> Outcome:
    tl = ctx.timeline
    audible = everyone_audible(tl)
    rows: list[_TurnGap] = []
    unanswered = []
    evidence = []
    for turn in answerable_turns(tl):
        start, stop, final = longest_dead_air(tl, turn, audible)
        if final is None:
            # Never answered: the caller waited in silence until the next turn or the call's end.
            unanswered.append(turn.index)
        longest = (start, stop)
        length = stop - start
        rows.append({"turn": turn.index, "longest_gap_ms": round(length, 1),
                     "gap_start_ms": round(longest[0], 1),
                     "final_answer_onset_ms": final})
        note = "" if final is not None else " (never answered)"
        evidence.append(Evidence(t_ms=longest[0], end_ms=longest[1], turn_index=turn.index,
                                 label=f"turn {turn.index}: dead air {fmt_ms(length)}{note}",
                                 event_seq=[turn.seq]))
    measured = {"turns": rows, "unanswered_turns": unanswered,
                "max_gap_ms": max((r["longest_gap_ms"] for r in rows), default=None)}
    if not rows:
        return Outcome("fail", "no caller turn with speech, so there was no wait for an answer "
                       "to measure", measured)
    worst = max(rows, key=lambda r: r["longest_gap_ms"])
    if worst["longest_gap_ms"] > p.max_ms:
        over = [r for r in rows if r["longest_gap_ms"] > p.max_ms]
        return Outcome("fail", "; ".join(
            f"turn {r['turn']}: {fmt_ms(r['longest_gap_ms'])} of dead air > {fmt_ms(p.max_ms)}"
            + ("" if r["final_answer_onset_ms"] is not None else " (the turn was never answered)")
            for r in over), measured, evidence)
    return Outcome("pass", f"longest dead air {fmt_ms(worst['longest_gap_ms'])} (turn "
                   f"{worst['turn']}) over {len(rows)} answered turn(s), max {fmt_ms(p.max_ms)}",
                   measured, evidence)
