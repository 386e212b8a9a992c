"""``barge_in``: per interruption, how fast the agent went quiet, the truncate, the cancellation."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring.scorers._common import fmt_ms, turn_evidence
from harness.scoring.timeline import CallerTurn, Playback, Response, Timeline
from harness.scoring.verdict import Evidence


class BargeInParams(ExpectationParams):
    """Per interruption: stop time, truncate position, cancelled response."""

    max_stop_ms: float = Field(500.0, gt=0)
    truncate_tolerance_ms: float = Field(
        60.0, ge=0, description="allowed |audio_end_ms - played ms| of the truncate")

    def check(self, checks: ExpectationCheck) -> None:
        persona = checks.scenario.persona
        if persona is not None and persona.character.interrupts_after_ms is not None:
            return  # the persona's caller talks over the agent
        if not any(t.barge_in for t in checks.scenario.turns):
            checks.error("no turn has barge_in (nor a persona with interrupts_after_ms), so "
                         "there is no interruption to grade")


def interruptions(tl: Timeline) -> list[tuple[CallerTurn, Response, Playback]]:
    """Caller turns whose speech began while agent audio was playing, with that playback."""
    out = []
    for turn in tl.turns:
        if turn.speech_onset_ms is None:
            continue
        onset = turn.speech_onset_ms
        for r in tl.responses:
            for pb in r.playbacks:
                start = pb.audible_onset_ms if pb.audible_onset_ms is not None else pb.start_ms
                if start is None:
                    continue
                stop = pb.stop_ms if pb.stop_ms is not None else float("inf")
                if start <= onset < stop:
                    out.append((turn, r, pb))
    return out


def _why_no_overlap(tl: Timeline) -> str:
    """Why no caller turn overlapped agent audio, in the words of the scenario's barge-in turns."""
    planned = [t for t in tl.turns
               if t.barge_in_at_agent_ms is not None or t.trigger == "barge_in"]
    if not planned:
        return "no caller turn started while the agent was audible"
    reasons = []
    for turn in planned:
        start = turn.speech_onset_ms if turn.speech_onset_ms is not None else turn.start_ms
        heard = [(pb.audible_onset_ms, pb.stop_ms) for r in tl.responses for pb in r.playbacks
                 if pb.audible_onset_ms is not None and pb.audible_onset_ms < start]
        if not heard:
            reasons.append(f"the barge-in turn {turn.index} never overlapped agent audio: the "
                           "agent said nothing audible before it")
            continue
        onset, stop = max(heard, key=lambda h: h[0])
        length = f"after {fmt_ms(stop - onset)}" if stop is not None else "before it"
        plan = (f", before the caller's planned interruption {fmt_ms(turn.barge_in_at_agent_ms)} "
                "into it" if turn.barge_in_at_agent_ms is not None else "")
        reasons.append(f"the barge-in turn {turn.index} never overlapped agent audio: the reply "
                       f"ended {length}{plan}")
    return "; ".join(reasons)


class _Interruption(TypedDict):
    """One interruption: how the agent's audio stopped, the truncate, the cancellation
    (``measured["interruptions"]``)."""

    turn: int
    response_id: str
    item_id: str | None
    stop_reason: str | None
    stop_ms: NotRequired[float]
    truncate_audio_end_ms: NotRequired[float | None]
    played_ms: NotRequired[float | None]
    cancel: NotRequired[str]


@scorer("barge_in", "Per interruption (caller speech starting while the agent is audible): stop "
        "time = playback stop − caller speech onset ≤ max_stop_ms; the truncate's audio_end_ms "
        "matches what was played; a response still in progress was cancelled.",
        params=BargeInParams)
def score_barge_in(ctx: ScoringContext, p: BargeInParams) -> Outcome:
    tl = ctx.timeline
    found = interruptions(tl)
    if not found:
        return Outcome("fail", "no interruption to grade: " + _why_no_overlap(tl),
                       {"interruptions": []},
                       [turn_evidence(t, f"barge-in turn {t.index}") for t in tl.turns
                        if t.barge_in_at_agent_ms is not None or t.trigger == "barge_in"])
    problems: list[str] = []
    evidence: list[Evidence] = []
    rows: list[_Interruption] = []
    for turn, r, pb in found:
        onset = turn.speech_onset_ms or 0.0
        row: _Interruption = {"turn": turn.index, "response_id": r.response_id,
                              "item_id": pb.item_id, "stop_reason": pb.stop_reason}
        rows.append(row)
        evidence.append(turn_evidence(turn, f"caller barges in (turn {turn.index})"))
        where = f"turn {turn.index}"
        if pb.stop_ms is None:
            problems.append(f"{where}: the agent's audio never stopped")
            continue
        stop_time = pb.stop_ms - onset
        row["stop_ms"] = round(stop_time, 1)
        evidence.append(Evidence(t_ms=onset, end_ms=pb.stop_ms, turn_index=turn.index,
                                 label=f"agent audio stops {fmt_ms(stop_time)} after the caller "
                                       f"starts ({pb.stop_reason})",
                                 event_seq=[s for s in (pb.start_seq, pb.stop_seq)
                                            if s is not None]))
        if stop_time > p.max_stop_ms:
            how = "played on to its end" if pb.stop_reason == "drained" else "stopped"
            problems.append(f"{where}: agent audio {how} {fmt_ms(stop_time)} after the caller "
                            f"started (max {fmt_ms(p.max_stop_ms)})")
        if pb.stop_reason != "interrupted":
            # The reply ended by itself within the limit: nothing to truncate or cancel.
            continue
        truncates = [t for t in tl.truncates if t.t_ms >= onset
                     and (pb.item_id is None or t.item_id == pb.item_id)]
        if not truncates:
            problems.append(f"{where}: no conversation.item.truncate was sent")
        else:
            tr = truncates[0]
            row["truncate_audio_end_ms"] = tr.audio_end_ms
            row["played_ms"] = pb.played_ms
            evidence.append(Evidence(t_ms=tr.t_ms, turn_index=turn.index, event_seq=[tr.seq],
                                     label=f"truncate audio_end_ms={tr.audio_end_ms}, played "
                                           f"{fmt_ms(pb.played_ms)}"))
            if tr.audio_end_ms is None or pb.played_ms is None:
                problems.append(f"{where}: truncate or playback lacks its position")
            elif abs(tr.audio_end_ms - pb.played_ms) > p.truncate_tolerance_ms:
                problems.append(f"{where}: truncate audio_end_ms {tr.audio_end_ms:.0f} differs "
                                f"from the {pb.played_ms:.0f} ms played by more than "
                                f"{p.truncate_tolerance_ms:.0f} ms")
        if r.done_ms is not None and r.done_ms <= onset:
            row["cancel"] = "finished before the interruption"
        elif r.cancelled:
            row["cancel"] = f"cancelled ({r.status_reason or 'no reason'})"
            evidence.append(Evidence(t_ms=r.done_ms, turn_index=turn.index,
                                     event_seq=[r.done_seq] if r.done_seq is not None else [],
                                     label=f"response cancelled ({r.status_reason})"))
        else:
            row["cancel"] = f"not cancelled (status {r.status or 'unfinished'})"
            problems.append(f"{where}: response {r.response_id} was still in progress and ended "
                            f"{r.status or 'without response.done'}, not cancelled")
    max_stop = max((r["stop_ms"] for r in rows if "stop_ms" in r), default=None)
    measured = {"interruptions": rows, "max_stop_ms": max_stop}
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    return Outcome("pass", f"{len(found)} interruption(s): agent audio stopped within "
                   f"{fmt_ms(max_stop)} (max {fmt_ms(p.max_stop_ms)})",
                   measured, evidence)
