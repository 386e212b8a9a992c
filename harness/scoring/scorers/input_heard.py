"""``input_heard``: WER between what the caller said and what the target transcribed."""

from __future__ import annotations

from typing import TypedDict

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt, word_error_rate
from harness.scoring.scorers._common import answerable_turns, require_caller_speech
from harness.scoring.verdict import Evidence, Status


class InputHeardParams(ExpectationParams):
    """WER between the scripted caller text and the target's input transcription."""

    max_wer: float = Field(0.3, ge=0.0)

    def check(self, checks: ExpectationCheck) -> None:
        require_caller_speech(checks)
        agent = checks.agent
        if agent is not None and agent.input_transcription is None:
            checks.error(f"agent {agent.name!r} turns input transcription off "
                         "(`input_transcription: null`), so what it heard cannot be compared")


class _TurnHeard(TypedDict):
    """What the caller said in one turn and what the target heard (``measured["turns"]``)."""

    turn: int
    said: str
    heard: str
    wer: float


@scorer("input_heard", "Word error rate (jiwer) between the scripted caller text and the target's "
        "input transcription, over the addressed turns with speech (a turn it did not transcribe "
        "counts as heard as nothing); fails when the target gives no transcription.",
        params=InputHeardParams)
def score_input_heard(ctx: ScoringContext, p: InputHeardParams) -> Outcome:
    tl = ctx.timeline
    if not tl.input_transcriptions:
        return Outcome("fail", "the target sent no input transcription, so what it heard could "
                       "not be compared (is `input_transcription` on in the agent config?)")
    rows: list[_TurnHeard] = []
    refs, hyps = [], []
    evidence = []
    for turn in answerable_turns(tl):
        heard = [tr for tr in tl.input_transcriptions if tr.turn_index == turn.index]
        reference = turn.spoken_text or turn.text or ""
        hypothesis = " ".join(tr.transcript.strip() for tr in heard)
        if not reference:
            continue
        wer = word_error_rate(reference, hypothesis)
        refs.append(reference)
        hyps.append(hypothesis)
        rows.append({"turn": turn.index, "said": reference, "heard": hypothesis,
                     "wer": round(wer, 3)})
        evidence.append(Evidence(t_ms=heard[0].t_ms if heard else turn.caller_done_ms,
                                 turn_index=turn.index,
                                 event_seq=[tr.seq for tr in heard if tr.seq >= 0],
                                 label=f"turn {turn.index}: WER {wer:.2f}",
                                 excerpt=f"said {excerpt(reference, 70)!r} / heard "
                                         f"{excerpt(hypothesis, 70)!r}"))
    if not rows:
        return Outcome("fail", "no caller turn with speech and a scripted text was played, so "
                       "there was nothing to compare", {"turns": rows})
    overall = word_error_rate(" ".join(refs), " ".join(hyps))
    measured = {"wer": round(overall, 3), "turns": rows}
    worst = max(rows, key=lambda r: r["wer"])
    verdict: Status = "pass" if overall <= p.max_wer else "fail"
    relation = "≤" if verdict == "pass" else ">"
    return Outcome(verdict, f"input WER {overall:.2f} {relation} {p.max_wer:.2f} over "
                   f"{len(rows)} turn(s); worst turn {worst['turn']} ({worst['wer']:.2f}: heard "
                   f"{excerpt(worst['heard'], 50)!r})", measured, evidence)
