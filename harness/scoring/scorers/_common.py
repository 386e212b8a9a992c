"""Helpers the scorers share: evidence builders, tool classes, turn answers and percentiles."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, Required, TypedDict

from harness import stats
from harness.scenario.kinds import ExpectationCheck
from harness.scoring._text import excerpt
from harness.scoring.timeline import CallerTurn, FunctionCall, Response, Timeline, Utterance
from harness.scoring.verdict import Evidence
from harness.spoken import find_readbacks


@functools.lru_cache(maxsize=4096)
def readbacks(text: str) -> tuple[str, ...]:
    """``harness.spoken.find_readbacks`` of an agent transcript, memoised (scorers ask often)."""
    return tuple(find_readbacks(text))


def require_caller_speech(checks: ExpectationCheck) -> None:
    """For kinds that grade the agent's answers to caller speech: the scenario must have a say or
    audio turn, or there is nothing to answer."""
    if checks.scenario.persona is None and not any(t.addressed for t in checks.scenario.turns):
        checks.error("no say or audio turn, so the agent has nothing to answer and this cannot "
                     "be graded")


def is_action_call(call: FunctionCall, wait_tools: Collection[str]) -> bool:
    """A call that does something: anything but a no-op wait tool (``wait: true`` in the agent
    config), which is how an agent stays silent on purpose."""
    return call.name not in wait_tools


def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def turn_label(turn: CallerTurn) -> str:
    what = turn.spoken_text or turn.text
    if what:
        return f"turn {turn.index} ({excerpt(what, 60)!r})"
    return f"turn {turn.index} ({turn.kind})"


def turn_evidence(turn: CallerTurn, label: str | None = None) -> Evidence:
    start = turn.speech_onset_ms if turn.speech_onset_ms is not None else turn.start_ms
    seqs = [turn.seq] + ([turn.ended_seq] if turn.ended_seq is not None else [])
    return Evidence(t_ms=start, end_ms=turn.caller_done_ms, turn_index=turn.index,
                    label=label or f"caller {turn_label(turn)}", event_seq=seqs,
                    excerpt=excerpt(turn.spoken_text or turn.text or "") or None)


def call_evidence(call: FunctionCall, label: str | None = None) -> Evidence:
    seqs = [call.seq] + ([call.answer.seq] if call.answer is not None else [])
    return Evidence(t_ms=call.t_ms, label=label or f"tool call {call.name}",
                    turn_index=call.turn_index, event_seq=seqs,
                    excerpt=excerpt(call.arguments_raw, 200) or None)


def utterance_evidence(utt: Utterance, label: str | None = None) -> Evidence:
    return Evidence(t_ms=utt.start_ms, end_ms=utt.audible_end_ms, turn_index=utt.turn_index,
                    label=label or "agent speech", event_seq=utt.seqs,
                    excerpt=excerpt(utt.transcript) or None)


@dataclass
class TurnAnswer:
    """How and when one caller turn was answered, with its latencies (voice-to-voice, first audio,
    endpointing; see ``docs/architecture.md``)."""

    turn: CallerTurn
    response: Response | None
    audible_onset_ms: float | None
    first_audio_ms: float | None
    first_audio_seq: int | None
    speech_stopped_ms: float | None
    speech_stopped_seq: int | None
    tool_turn: bool
    talked_over: bool
    """Earlier agent audio was still playing when the caller stopped speaking (a barge-in the
    agent did not yield to): the answer could not start from silence, so no latency is taken."""

    @property
    def voice_to_voice_ms(self) -> float | None:
        return _diff(self.audible_onset_ms, self.turn.speech_end_ms)

    @property
    def first_audio_latency_ms(self) -> float | None:
        return _diff(self.first_audio_ms, self.turn.speech_end_ms)

    @property
    def endpointing_ms(self) -> float | None:
        return _diff(self.speech_stopped_ms, self.turn.speech_end_ms)

    def metric(self, name: str) -> float | None:
        return {"voice_to_voice": self.voice_to_voice_ms,
                "first_audio": self.first_audio_latency_ms,
                "endpointing": self.endpointing_ms}[name]


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def turn_answer(tl: Timeline, turn: CallerTurn, wait_tools: Collection[str] = ()) -> TurnAnswer:
    """The agent's answer to a caller turn with speech: the first of its responses heard after
    the caller's speech end (a take-over during a mid-turn pause is not an answer); a turn with
    a call to anything but the ``wait_tools`` is a tool turn."""
    assert turn.speech_end_ms is not None
    end = turn.speech_end_ms
    responses = tl.responses_of(turn.index)
    heard = sorted((r for r in responses
                    if r.audible_onset_ms is not None and r.audible_onset_ms >= end),
                   key=lambda r: r.audible_onset_ms or 0.0)
    firsts = sorted((r.first_audio_ms, r.first_audio_seq) for r in responses
                    if r.first_audio_ms is not None and r.first_audio_ms >= end)
    nxt = tl.next_turn(turn.index)
    horizon = nxt.start_ms if nxt is not None else float("inf")
    stopped = next((v for v in tl.vad if v.kind == "speech_stopped" and end <= v.t_ms < horizon),
                   None)
    return TurnAnswer(
        turn=turn, response=heard[0] if heard else None,
        audible_onset_ms=heard[0].audible_onset_ms if heard else None,
        first_audio_ms=firsts[0][0] if firsts else None,
        first_audio_seq=firsts[0][1] if firsts else None,
        speech_stopped_ms=stopped.t_ms if stopped else None,
        speech_stopped_seq=stopped.seq if stopped else None,
        tool_turn=any(is_action_call(c, wait_tools) for c in tl.calls_of(turn.index)),
        talked_over=any(a <= end < b for a, b in _earlier_audio(tl, turn.index)))


def _earlier_audio(tl: Timeline, turn_index: int) -> list[tuple[float, float]]:
    out = []
    for r in tl.responses:
        if r.turn_index == turn_index:
            continue
        for pb in r.playbacks:
            if pb.audible_onset_ms is not None:
                out.append((pb.audible_onset_ms,
                            pb.stop_ms if pb.stop_ms is not None else tl.end_ms))
    return out


def answerable_turns(tl: Timeline) -> list[CallerTurn]:
    """Caller turns addressed to the agent with speech in them."""
    return [t for t in tl.turns if t.addressed and t.has_speech]


def limit_percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile of a trial's own turns (linear interpolation), for a limit the
    scenario sets on them: graded however few turns there are, unlike the reported percentiles
    of :func:`latency_stats`, which hide what n cannot support."""
    return stats.percentile(values, q, hide_small_n=False).value


class LatencyStats(TypedDict, total=False):
    """What :func:`latency_stats` reports: ``n`` always, the rest when there are values."""

    n: Required[int]
    p50: float | None
    p90: float | None
    p95: float | None
    max: float
    min: float


def latency_stats(values: Sequence[float]) -> LatencyStats:
    """n, p50/p90/p95 (None where n cannot support them), max and min, in ms."""
    if not values:
        return {"n": 0}

    def shown(q: float) -> float | None:
        value = stats.percentile(values, q).value
        return None if value is None else round(value, 1)

    return {"n": len(values), "p50": shown(50), "p90": shown(90), "p95": shown(95),
            "max": round(max(values), 1), "min": round(min(values), 1)}


def everyone_audible(tl: Timeline) -> list[tuple[float, float]]:
    """Intervals in which someone was audible: agent playback and caller speech."""
    audible = tl.audible_intervals()
    for turn in tl.turns:
        audible += turn.speech_intervals
    return audible


def longest_dead_air(tl: Timeline, turn: CallerTurn, audible: Sequence[tuple[float, float]]
                     ) -> tuple[float, float, float | None]:
    """(gap start, gap end, final answer onset) of the longest stretch with neither party audible
    between the turn's speech end and the onset of the agent's final answer to it. A turn never
    answered is measured up to the next turn or the call's end, and its onset is None.
    ``audible`` is :func:`everyone_audible` of the timeline."""
    end = turn.speech_end_ms or 0.0
    onsets = [r.audible_onset_ms for r in tl.responses_of(turn.index)
              if r.audible_onset_ms is not None and r.audible_onset_ms >= end]
    final = max(onsets) if onsets else None
    if final is None:
        nxt = tl.next_turn(turn.index)
        until = nxt.start_ms if nxt is not None else tl.end_ms
    else:
        until = final
    gaps = uncovered_gaps(end, until, audible)
    longest = max(gaps, key=lambda g: g[1] - g[0]) if gaps else (end, end)
    return longest[0], longest[1], final


@dataclass
class TurnMetrics:
    """The latencies of one answerable caller turn, in ms (None where it was not answered)."""

    turn_index: int
    tool_turn: bool
    voice_to_voice_ms: float | None
    first_audio_ms: float | None
    endpointing_ms: float | None
    dead_air_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {"turn": self.turn_index, "tool_turn": self.tool_turn,
                **{k: None if v is None else round(v, 1) for k, v in (
                    ("voice_to_voice_ms", self.voice_to_voice_ms),
                    ("first_audio_ms", self.first_audio_ms),
                    ("endpointing_ms", self.endpointing_ms),
                    ("dead_air_ms", self.dead_air_ms))}}


def turn_metrics(tl: Timeline) -> list[TurnMetrics]:
    """Voice-to-voice, first audio, endpointing and dead air of every caller turn addressed to
    the agent with speech in it, measured as the ``latency`` and ``dead_air`` scorers do."""
    audible = everyone_audible(tl)
    out = []
    for turn in answerable_turns(tl):
        ans = turn_answer(tl, turn)
        start, stop, final = longest_dead_air(tl, turn, audible)
        out.append(TurnMetrics(turn.index, ans.tool_turn, ans.voice_to_voice_ms,
                               ans.first_audio_latency_ms, ans.endpointing_ms,
                               None if final is None else stop - start))
    return out


def uncovered_gaps(start: float, end: float,
                   covered: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """Parts of [start, end] not covered by any interval."""
    gaps: list[tuple[float, float]] = []
    cursor = start
    for a, b in sorted(covered):
        if b <= cursor:
            continue
        if a >= end:
            break
        if a > cursor:
            gaps.append((cursor, a))
        cursor = max(cursor, b)
    if cursor < end:
        gaps.append((cursor, end))
    return gaps
