"""``one_question``: one question per agent turn, and answers short enough for the ear."""

from __future__ import annotations

from typing import Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field

from harness.scenario.kinds import ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt, questions, sentences, words
from harness.scoring.scorers._common import is_action_call, utterance_evidence
from harness.scoring.timeline import Timeline, Utterance

AnswerKind = Literal["direct", "clarification", "tool_result"]

UNHEARD_MS = 250.0
"""Agent speech cut off (the caller barged in) after less than this much playback: not a word of
it was heard, so it is not part of what the agent said to the caller."""


class AnswerLimits(BaseModel):
    """Limits on one kind of answer (any may be omitted)."""

    model_config = ConfigDict(extra="forbid")

    max_sentences: int | None = Field(None, ge=1)
    max_words: int | None = Field(None, ge=1)
    max_seconds: float | None = Field(None, gt=0, description="spoken (played) seconds")


class OneQuestionParams(ExpectationParams):
    """No agent turn asks more than one question (one missing value at a time); optional length
    limits per kind of answer."""

    max_questions: int = Field(1, ge=1, description="questions allowed in one agent turn")
    direct: AnswerLimits | None = Field(None, description="limits on answers without a question "
                                                          "or tool result")
    clarification: AnswerLimits | None = Field(None, description="limits on turns that ask")
    tool_result: AnswerLimits | None = Field(
        None, description="limits on what is said after a tool's output")


def _agent_turns(tl: Timeline, wait_tools: frozenset[str]
                 ) -> list[tuple[int, list[Utterance], bool]]:
    """(caller turn, the agent's speech after the turn's last action call or all of it, whether
    it follows a tool result): preambles before a call are not the answer."""
    out = []
    utterances = [u for u in tl.utterances() if u.transcript and u.turn_index is not None
                  and not (u.interrupted and (u.played_ms or 0.0) < UNHEARD_MS)]
    for index in sorted({u.turn_index for u in utterances if u.turn_index is not None}):
        said = [u for u in utterances if u.turn_index == index]
        calls = [c for c in tl.calls_of(index)
                 if is_action_call(c, wait_tools) and c.answer is not None]
        if calls:
            answered = max(c.answer.t_ms for c in calls if c.answer is not None)
            after = [u for u in said if u.first_audio_ms >= answered]
            out.append((index, after or said, bool(after)))
        else:
            out.append((index, said, False))
    return out


class _AgentTurn(TypedDict):
    """What the agent said after one caller turn (``measured["turns"]``)."""

    turn: int
    kind: AnswerKind
    questions: list[str]
    words: int
    sentences: int
    seconds: float
    said: str


@scorer("one_question", "Each agent turn (its speech after the caller's turn, preambles before "
        "a tool call and speech cut off before a word was heard left out) asks at most "
        "max_questions questions; optional limits on sentences, words and spoken seconds for "
        "direct answers, clarifications and tool results; fails when the agent asked nothing "
        "at all.",
        params=OneQuestionParams)
def score_one_question(ctx: ScoringContext, p: OneQuestionParams) -> Outcome:
    tl = ctx.timeline
    problems: list[str] = []
    evidence = []
    rows: list[_AgentTurn] = []
    asked_any = False
    for index, said, after_tool in _agent_turns(tl, ctx.wait_tools):
        text = " ".join(u.transcript for u in said)
        asked = questions(text)
        asked_any = asked_any or bool(asked)
        kind: AnswerKind = ("tool_result" if after_tool else
                            "clarification" if asked else "direct")
        seconds = sum((u.played_ms or 0.0) for u in said) / 1000.0
        n_words, n_sentences = len(words(text)), len(sentences(text))
        rows.append({"turn": index, "kind": kind, "questions": asked, "words": n_words,
                     "sentences": n_sentences, "seconds": round(seconds, 2), "said": text})
        if len(asked) > p.max_questions:
            problems.append(f"turn {index}: the agent asked {len(asked)} questions at once: "
                            + " / ".join(repr(excerpt(q, 50)) for q in asked))
            evidence += [utterance_evidence(u, "agent turn with several questions") for u in said]
        limits: AnswerLimits | None = getattr(p, kind)
        if limits is None:
            continue
        for value, limit, unit in ((n_sentences, limits.max_sentences, "sentences"),
                                   (n_words, limits.max_words, "words"),
                                   (seconds, limits.max_seconds, "seconds")):
            if limit is not None and value > limit:
                problems.append(f"turn {index}: {kind.replace('_', ' ')} of {value:g} {unit} > "
                                f"{limit:g}: {excerpt(text, 60)!r}")
                evidence += [utterance_evidence(u, f"long {kind.replace('_', ' ')}")
                             for u in said]
    measured = {"turns": rows}
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    if not asked_any:
        return Outcome("fail", "the agent asked no question in the call, so one question at a "
                       "time could not be graded", measured)
    n = sum(1 for r in rows if r["questions"])
    return Outcome("pass", f"{n} agent turn(s) asked one question each, e.g. "
                   f"{excerpt(next(r['questions'][0] for r in rows if r['questions']), 60)!r}",
                   measured)
