"""``latency``: voice-to-voice latency (or first audio / endpointing) per answered caller turn."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring.scorers._common import (
    answerable_turns,
    fmt_ms,
    is_action_call,
    latency_stats,
    limit_percentile,
    require_caller_speech,
    turn_answer,
)
from harness.scoring.verdict import Evidence


class LatencyParams(ExpectationParams):
    """Voice-to-voice latency (or another latency metric) per answered caller turn."""

    max_ms: float | None = Field(None, gt=0, description="every answered turn at most this")
    p50_ms: float | None = Field(None, gt=0)
    p90_ms: float | None = Field(None, gt=0)
    p95_ms: float | None = Field(None, gt=0)
    metric: Literal["voice_to_voice", "first_audio", "endpointing"] = "voice_to_voice"
    turns: Literal["all", "tool", "plain"] = Field(
        "all", description="grade only turns with a tool call, only turns without, or all")

    @model_validator(mode="after")
    def _some_threshold(self) -> LatencyParams:
        if all(v is None for v in (self.max_ms, self.p50_ms, self.p90_ms, self.p95_ms)):
            raise ValueError("give at least one of max_ms, p50_ms, p90_ms, p95_ms")
        return self

    def check(self, checks: ExpectationCheck) -> None:
        require_caller_speech(checks)


_METRIC_LABEL = {"voice_to_voice": "voice-to-voice", "first_audio": "time to first audio delta",
                 "endpointing": "endpointing delay"}
_MISSING = {"voice_to_voice": "no agent audio was heard after the caller's speech end",
            "first_audio": "no agent audio arrived after the caller's speech end",
            "endpointing": "the target never reported the end of the caller's speech"}


@scorer("latency", "Per answered caller turn, voice-to-voice latency (agent audible onset − caller "
        "speech end; or first audio delta / endpointing) against max_ms and percentiles; tool and "
        "plain turns reported apart.",
        params=LatencyParams)
def score_latency(ctx: ScoringContext, p: LatencyParams) -> Outcome:
    tl = ctx.timeline
    label = _METRIC_LABEL[p.metric]
    rows = []
    unanswered: list[int] = []
    talked_over: list[int] = []
    for turn in answerable_turns(tl):
        ans = turn_answer(tl, turn, ctx.wait_tools)
        if ans.talked_over:
            talked_over.append(turn.index)
            continue
        if ans.metric(p.metric) is None:
            unanswered.append(turn.index)
            continue
        rows.append(ans)
    per_turn = [{"turn": a.turn.index, "tool_turn": a.tool_turn,
                 "voice_to_voice_ms": _r(a.voice_to_voice_ms),
                 "first_audio_ms": _r(a.first_audio_latency_ms),
                 "endpointing_ms": _r(a.endpointing_ms)} for a in rows]
    values = {a.turn.index: a.metric(p.metric) or 0.0 for a in rows}
    tool = [values[a.turn.index] for a in rows if a.tool_turn]
    plain = [values[a.turn.index] for a in rows if not a.tool_turn]
    graded = [a for a in rows if p.turns == "all" or (p.turns == "tool") == a.tool_turn]
    graded_values = [values[a.turn.index] for a in graded]
    graded_stats = latency_stats(graded_values)
    measured: dict[str, Any] = {
        "metric": p.metric, "turns_graded": p.turns, "per_turn": per_turn,
        "all": latency_stats(list(values.values())), "tool": latency_stats(tool),
        "plain": latency_stats(plain), "graded": graded_stats,
        "unanswered_turns": unanswered, "talked_over_turns": talked_over}
    evidence = [Evidence(
        t_ms=a.turn.speech_end_ms, turn_index=a.turn.index,
        end_ms=a.turn.speech_end_ms + values[a.turn.index] if a.turn.speech_end_ms else None,
        label=f"turn {a.turn.index}{' (tool)' if a.tool_turn else ''}: {label} "
              f"{fmt_ms(values[a.turn.index])}",
        event_seq=sorted({s for s in (a.turn.seq, a.first_audio_seq, a.speech_stopped_seq,
                                      *(pb.audible_seq for pb in (a.response.playbacks
                                                                  if a.response else [])))
                          if s is not None}))
        for a in graded]
    # A turn that was never answered has no latency at all: it fails a limit, it is not skipped.
    missing = [i for i in unanswered if p.turns == "all"
               or (p.turns == "tool") == any(is_action_call(c, ctx.wait_tools)
                                             for c in tl.calls_of(i))]
    if not graded:
        which = {"all": "", "tool": " with a tool call", "plain": " without a tool call"}[p.turns]
        why = [f"turn(s) {_list(missing)}: {_MISSING[p.metric]}"] if missing else []
        if talked_over:
            why.append(f"turn(s) {_list(talked_over)} ended while earlier agent audio still "
                       "played (no answer from silence to measure)")
        if not answerable_turns(tl):
            why.append("the call has no caller turn with speech")
        return Outcome("fail", f"no caller turn{which} was answered, so {label} could not be "
                       f"measured" + (f": {'; '.join(why)}" if why else ""), measured, evidence)
    failures: list[str] = [f"turn {i}: {_MISSING[p.metric]}" for i in missing]
    if p.max_ms is not None:
        over = [a for a in graded if values[a.turn.index] > p.max_ms]
        for a in over:
            failures.append(f"turn {a.turn.index} {fmt_ms(values[a.turn.index])} > max "
                            f"{fmt_ms(p.max_ms)}")
    for q, limit in ((50, p.p50_ms), (90, p.p90_ms), (95, p.p95_ms)):
        if limit is None:
            continue
        value = limit_percentile(graded_values, q) or 0.0
        measured[f"limit_p{q}"] = round(value, 1)
        if value > limit:
            failures.append(f"p{q} {fmt_ms(value)} > {fmt_ms(limit)} (n={len(graded_values)})")
    scope = {"all": "answered turns", "tool": "tool turns", "plain": "plain turns"}[p.turns]
    p50 = graded_stats.get("p50")
    median = f"p50 {fmt_ms(p50)}, " if p50 is not None else ""
    overview = (f"{label} {median}max {fmt_ms(graded_stats.get('max'))} over "
                f"{graded_stats['n']} {scope} (tool {len(tool)}, plain {len(plain)})")
    if failures:
        return Outcome("fail", f"{overview}: " + "; ".join(failures), measured, evidence)
    return Outcome("pass", f"{overview}, within limits", measured, evidence)


def _list(turns: list[int]) -> str:
    return ", ".join(str(t) for t in turns)


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)
