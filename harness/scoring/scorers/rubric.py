"""``rubric``: an LLM judge grades what no rule measures (speakability, brevity, front-loading,
faithfulness, tool acknowledgement), one verdict per criterion with quoted evidence."""

from __future__ import annotations

import json
from typing import Literal, NotRequired, TypedDict

from pydantic import Field, model_validator

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring import _judge
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import excerpt, normalize_text
from harness.scoring.timeline import Timeline
from harness.scoring.verdict import Evidence

CRITERIA = {
    "speakability": "The agent's lines sound natural read aloud: no markdown, lists, symbols, "
                    "URLs or written-only phrasing.",
    "brevity": "Each agent turn is short enough for the ear: a direct answer in one or two "
               "short sentences, no monologue.",
    "front_loading": "Each agent turn says the most important information first, so a caller "
                     "who interrupts has already heard it.",
    "faithfulness": "The agent follows its instructions (given below when known) and says "
                    "nothing its tools' results do not support.",
    "tool_acknowledgement": "Before or while a tool works, the agent tells the caller briefly "
                            "what it is doing; after it, it reports the result.",
}
"""The built-in criteria for spoken answers, by name."""

SYSTEM_PROMPT = (
    "You grade one phone call between a caller and a voice agent against a rubric. For each "
    "criterion give a verdict (pass or fail), one sentence of reason, and the exact quotes from "
    "the transcript that support it (copied character for character from an AGENT or CALLER "
    "line). Judge only what the transcript shows. Answer in the JSON format you are given, one "
    "verdict per criterion.")


class RubricParams(ExpectationParams):
    """An LLM judge grades the agent's spoken answers against named criteria (needs a judge
    endpoint configured in the environment)."""

    criteria: list[str] = Field(
        default_factory=lambda: list(CRITERIA),
        description="built-in criteria: " + ", ".join(CRITERIA))
    custom: dict[str, str] = Field(
        default_factory=dict, description="more criteria: name → what passing means")
    with_instructions: bool = Field(
        True, description="show the judge the agent's instructions (for faithfulness)")

    @model_validator(mode="after")
    def _known(self) -> RubricParams:
        unknown = [c for c in self.criteria if c not in CRITERIA]
        if unknown:
            raise ValueError(f"unknown criteria {', '.join(unknown)}; built-in ones are "
                             f"{', '.join(CRITERIA)} (give others under `custom`)")
        if not self.criteria and not self.custom:
            raise ValueError("give at least one criterion")
        return self

    def check(self, checks: ExpectationCheck) -> None:
        if _judge.judge_config() is None:
            checks.error(_judge.NOT_CONFIGURED)

    def definitions(self) -> dict[str, str]:
        return {**{c: CRITERIA[c] for c in self.criteria}, **self.custom}


def call_transcript(tl: Timeline) -> str:
    """The call as the judge reads it: caller turns, agent speech and tool calls in time order."""
    lines: list[tuple[float, str]] = []
    for t in tl.turns:
        what = t.spoken_text or t.text
        if what:
            lines.append((t.start_ms, f"[turn {t.index}] CALLER: {what}"))
        else:
            lines.append((t.start_ms, f"[turn {t.index}] ({t.kind}: the caller says nothing "
                                      "to the agent)"))
    for u in tl.utterances():
        if u.transcript:
            lines.append((u.start_ms, f"[turn {u.turn_index}] AGENT: {u.transcript}"))
    for c in tl.function_calls:
        lines.append((c.t_ms, f"[turn {c.turn_index}] TOOL CALL {c.name}({c.arguments_raw})"))
        if c.answer is not None:
            output = json.dumps(c.answer.output, ensure_ascii=False)
            lines.append((c.answer.t_ms, f"[turn {c.turn_index}] TOOL RESULT {c.name}: "
                                         f"{excerpt(output, 300)}"))
    return "\n".join(text for _, text in sorted(lines, key=lambda x: x[0]))


class _Judge(TypedDict):
    """Which judge gave a rubric verdict (``measured["judge"]``)."""

    model: str
    endpoint_host: str
    prompt_sha256: str
    cached: NotRequired[bool]


class _Criterion(TypedDict):
    """The judge's verdict on one criterion (``measured["criteria"]``)."""

    criterion: str
    verdict: Literal["pass", "fail"]
    reason: str
    evidence: list[str]
    quotes_not_in_transcript: list[str]


def _messages(ctx: ScoringContext, p: RubricParams) -> list[dict[str, str]]:
    rubric = "\n".join(f"- {name}: {text}" for name, text in p.definitions().items())
    parts = [f"Criteria:\n{rubric}"]
    instructions = ctx.agent_config.instructions if ctx.agent_config is not None else None
    if p.with_instructions and instructions:
        parts.append(f"The agent's instructions:\n{instructions.strip()}")
    parts.append(f"Transcript:\n{call_transcript(ctx.timeline)}")
    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "\n\n".join(parts)}]


@scorer("rubric", "An LLM judge (any OpenAI-compatible chat endpoint from HARNESS_JUDGE_URL / "
        "HARNESS_JUDGE_MODEL / HARNESS_JUDGE_API_KEY; temperature 0, structured output) gives "
        "one verdict per criterion with quotes from the transcript; passes when every criterion "
        "passes; replies are cached by content hash; a timeout, refusal or reply out of schema "
        "is an error verdict.",
        params=RubricParams)
def score_rubric(ctx: ScoringContext, p: RubricParams) -> Outcome:
    config = _judge.judge_config()
    if config is None:
        return Outcome("error", _judge.NOT_CONFIGURED)
    definitions = p.definitions()
    criteria = list(definitions)
    messages = _messages(ctx, p)
    judge: _Judge = {"model": config.model, "endpoint_host": config.host,
                     "prompt_sha256": _judge.prompt_hash(config, messages, criteria)}
    try:
        result = _judge.ask_judge(config, messages, criteria)
    except _judge.JudgeError as exc:
        return Outcome("error", f"rubric judge error: {exc}", {"judge": judge})
    judge["cached"] = result.cached
    transcript = normalize_text(messages[-1]["content"])
    rows: list[_Criterion] = []
    failing = []
    unquoted = []
    for v in sorted(result.reply.verdicts, key=lambda v: criteria.index(v.criterion)):
        missing = [q for q in v.evidence if normalize_text(q) not in transcript]
        rows.append({"criterion": v.criterion, "verdict": v.verdict, "reason": v.reason,
                     "evidence": v.evidence, "quotes_not_in_transcript": missing})
        if missing or not v.evidence:
            unquoted.append(v.criterion)
        elif v.verdict == "fail":
            failing.append(f"{v.criterion}: {v.reason}")
    measured = {"judge": judge, "criteria": rows}
    evidence = [Evidence(label=f"{r['criterion']}: {r['verdict']}", excerpt=excerpt(q, 200))
                for r in rows for q in r["evidence"]]
    if unquoted:
        return Outcome("error", "rubric judge error: no quote from the transcript backs the "
                       f"verdict on {', '.join(unquoted)}", measured, evidence)
    if failing:
        return Outcome("fail", "; ".join(failing), measured, evidence)
    return Outcome("pass", f"the judge ({config.model}) passed all {len(rows)} criteria: "
                   f"{', '.join(criteria)}", measured, evidence)
