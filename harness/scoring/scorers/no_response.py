"""``no_response``: silence (or a wait-tool call) during pauses, silences and other audio."""

from __future__ import annotations

from typing import TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt, words
from harness.scoring.scorers._common import (
    call_evidence,
    is_action_call,
    turn_evidence,
    utterance_evidence,
)
from harness.scoring.timeline import CallerTurn, Timeline


class NoResponseParams(ExpectationParams):
    """The agent stays silent (or calls a `wait: true` tool) during pauses, silences and
    non-addressed audio."""

    turns: list[int] | None = Field(
        None, description="turn numbers (1 = the first turn); all pause/silence/play turns if "
                          "omitted")
    max_speech_ms: float = Field(1000.0, gt=0, description="speech this long is a take-over")
    max_words: int = Field(3, ge=0, description="more words than this is a take-over")

    def check(self, checks: ExpectationCheck) -> None:
        checks.turns(self.turns, "turns", addressed=False)
        if self.turns is None and not any(
                not t.addressed or any(not isinstance(s, str) for s in t.segments)
                for t in checks.scenario.turns):
            checks.error("no turn to grade: the scenario has no silence, play or mid-turn "
                         "pause; give `turns` or add such a turn")


def _windows(tl: Timeline, wanted: list[int] | None) -> list[tuple[CallerTurn, str, float, float]]:
    """(turn, what, start, end): whole silence/play turns, and say turns that pause mid-turn
    (from speech onset to speech end: the caller is mid-turn throughout)."""
    out = []
    for turn in tl.turns:
        if wanted is not None and turn.index not in wanted:
            continue
        if not turn.addressed or turn.kind in ("silence", "play"):
            out.append((turn, "silence" if turn.kind == "silence" else "audio not addressed to "
                        "the agent", turn.start_ms, turn.end_ms))
        elif turn.pauses_ms and turn.has_speech:
            assert turn.speech_onset_ms is not None and turn.speech_end_ms is not None
            out.append((turn, "a mid-turn pause", turn.speech_onset_ms, turn.speech_end_ms))
    return out


class _Speech(TypedDict):
    """Agent speech in a window meant for silence."""

    transcript: str
    ms: float
    words: int


class _Window(TypedDict):
    """A pause, silence or other audio and what the agent did in it (``measured["windows"]``)."""

    turn: int
    what: str
    start_ms: float
    end_ms: float
    agent_speech: list[_Speech]
    wait_calls: int


@scorer("no_response", "The agent stays silent (or only calls a `wait: true` tool) during mid-turn "
        "pauses, silences and audio not addressed to it; a take-over is agent speech of at least "
        "max_speech_ms or more than max_words words starting there (the words of its reply, "
        "once any of it played).",
        params=NoResponseParams)
def score_no_response(ctx: ScoringContext, p: NoResponseParams) -> Outcome:
    tl = ctx.timeline
    windows = _windows(tl, p.turns)
    played = {t.index for t in tl.turns}
    never = [n for n in p.turns or [] if n not in played]
    if not windows and not never:
        return Outcome("fail", "no pause, silence or non-addressed audio was played, so there "
                       "was no moment to stay quiet in")
    utterances = tl.utterances()
    problems: list[str] = []
    evidence = []
    rows: list[_Window] = []
    for turn, what, start, end in windows:
        mid_turn = what == "a mid-turn pause"
        # Speech the agent decided on during the window; a reply to an earlier turn that merely
        # spills into it is that turn's answer, not a take-over.
        responses = {r.response_id for r in tl.responses_of(turn.index)
                     if not mid_turn or start <= r.created_ms < end}
        spoken = [u for u in utterances if u.response_id in responses
                  and (not mid_turn or u.start_ms < end)]
        calls = [c for c in tl.function_calls if c.response_id in responses]
        row: _Window = {"turn": turn.index, "what": what, "start_ms": start, "end_ms": end,
                        "agent_speech": [],
                        "wait_calls": sum(not is_action_call(c, ctx.wait_tools) for c in calls)}
        rows.append(row)
        for u in spoken:
            duration = u.played_ms if u.played_ms is not None else 0.0
            n_words = len(words(u.transcript))
            row["agent_speech"].append({"transcript": u.transcript, "ms": round(duration, 1),
                                        "words": n_words})
            if u.played_ms == 0.0:
                continue  # stopped before any of it played: nothing was heard
            if duration >= p.max_speech_ms or n_words > p.max_words:
                problems.append(f"turn {turn.index}: the agent spoke during {what} "
                                f"({duration:,.0f} ms, {n_words} words: "
                                f"{excerpt(u.transcript, 60)!r})")
                evidence += [turn_evidence(turn, f"caller turn {turn.index}: {what}"),
                             utterance_evidence(u, "agent take-over")]
        for c in calls:
            if is_action_call(c, ctx.wait_tools):
                problems.append(f"turn {turn.index}: the agent called {c.name} during {what}")
                evidence.append(call_evidence(c))
    problems += [f"turn {n} was never played (the call ended first)" for n in never]
    measured = {"windows": rows, "never_played": never}
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    waits = sum(r["wait_calls"] for r in rows)
    note = f" ({waits} call(s) of the wait tool)" if waits else ""
    return Outcome("pass", f"the agent stayed silent in {len(rows)} window(s) of pause, silence "
                   f"or non-addressed audio{note}", measured,
                   [turn_evidence(t, f"caller turn {t.index}: {w}") for t, w, _, _ in windows])
