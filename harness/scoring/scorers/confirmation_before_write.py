"""``confirmation_before_write``: question naming the key arguments → caller affirm → write call."""

from __future__ import annotations

import re
from typing import Any

from pydantic import Field

from harness.scenario.kinds import ExpectationCheck, ExpectationParams
from harness.scoring._registry import Outcome, ScoringContext, scorer
from harness.scoring._text import contains_phrase, excerpt, questions, words
from harness.scoring.scorers._common import (
    call_evidence,
    readbacks,
    turn_evidence,
    utterance_evidence,
)
from harness.scoring.timeline import CallerTurn, FunctionCall, Timeline, Utterance
from harness.scoring.verdict import Evidence


class ConfirmationBeforeWriteParams(ExpectationParams):
    """Each write-tool call follows a confirmation question and a caller `affirm` turn."""

    tool: str | None = Field(None, description="write tool; every `write: true` tool if omitted")
    key_arguments: list[str] | None = Field(
        None, description="arguments the question must name; all required ones if omitted")
    action_words: list[str] | None = Field(
        None, description="words naming the action, one of which the question must use; the "
                          "tool name's verb and its common synonyms if omitted")

    def check(self, checks: ExpectationCheck) -> None:
        tool = checks.tool(self.tool, "tool")
        if tool is not None and not tool.write:
            checks.error(f"{tool.name!r} is not a write tool (`write: true`)", "tool")
        agent = checks.agent
        if agent is not None and self.tool is None and not agent.write_tools:
            checks.error(f"agent {agent.name!r} has no write tool (`write: true`)")
        checks.arguments(tool, self.key_arguments, "key_arguments")


def _names(transcript: str, value: Any) -> str:
    """How a confirmation names an argument value: ``exact``, ``other`` (a value of the same
    kind, e.g. a misheard ID — the entity scorer grades its correctness) or ``no``."""
    from harness.spoken import normalize_value, values_equal  # noqa: PLC0415

    if value is None or value == "":
        return "no"
    spoken = readbacks(transcript)
    if any(values_equal(r, value) for r in spoken) or contains_phrase(transcript, str(value)):
        return "exact"
    compact = normalize_value(value)
    entity_like = any(c.isdigit() for c in compact) or "@" in compact
    return "other" if entity_like and spoken else "no"


# A write tool's verb may be said with a common synonym ("update_email" → "change your email").
_SYNONYMS = {
    "update": ["change", "set", "replace"], "change": ["update", "set"],
    "delete": ["remove", "erase"], "remove": ["delete"], "create": ["make", "open", "add"],
    "add": ["create"], "send": ["email", "text", "mail"], "charge": ["pay", "bill"],
    "book": ["reserve", "schedule"], "schedule": ["book"], "refund": ["return"],
    "transfer": ["move", "send"],
}


def action_words(tool: str) -> list[str]:
    """Words that name a tool's action: the verb its name starts with, and common synonyms."""
    verb = re.split(r"[_\-]|(?<=[a-z])(?=[A-Z])", tool)[0].casefold()
    return [verb, *_SYNONYMS.get(verb, [])]


def _says_action(transcript: str, words_: list[str]) -> bool:
    said = [w.casefold() for w in words(transcript)]
    # Stems so that "cancel" matches "cancelling"/"cancellation" and "update" "updating".
    stems = [w.casefold()[: max(4, len(w) - 1)] for w in words_]
    return any(s.startswith(stem) for s in said for stem in stems)


def _last_addressed_before(tl: Timeline, t_ms: float) -> CallerTurn | None:
    before = [t for t in tl.turns if t.addressed and t.start_ms < t_ms]
    return before[-1] if before else None


@scorer("confirmation_before_write", "Every call to a write tool follows an agent confirmation "
        "question naming its key arguments, then a caller turn labelled affirm that ended before "
        "the call; after a deny, no call.",
        params=ConfirmationBeforeWriteParams)
def score_confirmation_before_write(ctx: ScoringContext, p: ConfirmationBeforeWriteParams
                                    ) -> Outcome:
    tl = ctx.timeline
    cfg = ctx.agent_config
    tools = [p.tool] if p.tool else (cfg.write_tools if cfg is not None else [])
    if not tools:
        return Outcome("fail", "cannot be graded: the agent config declares no write tool (set "
                       "`write: true` on one or name `tool`)")
    calls = [c for c in tl.function_calls if c.name in tools]
    denies = [t for t in tl.turns if t.intent == "deny"]
    utterances = tl.utterances()
    if not calls:
        return _no_write(tl, utterances, tools, denies, p)
    problems: list[str] = []
    evidence = []
    graded = []
    for call in calls:
        entry, call_problems, call_evidence_ = _grade_call(ctx, tl, utterances, call, p)
        graded.append(entry)
        problems += call_problems
        evidence += call_evidence_
    measured = {"tools": tools, "calls": graded}
    if problems:
        return Outcome("fail", "; ".join(problems), measured, evidence)
    return Outcome("pass", f"all {len(calls)} write call(s) came after a confirmation question "
                   f"and the caller's yes: {excerpt(graded[0]['question'], 90)!r} → turn "
                   f"{graded[0]['affirm_turn']} → {calls[0].name}", measured, evidence)


def _no_write(tl: Timeline, utterances: list[Utterance], tools: list[str],
              denies: list[CallerTurn], p: ConfirmationBeforeWriteParams) -> Outcome:
    """No write call: right only when the agent asked to confirm and the caller said no."""
    names = " / ".join(tools)
    if not denies:
        return Outcome("fail", f"{names} was never called, so there was no write to confirm",
                       {"calls": []})
    deny = denies[0]
    previous = [t for t in tl.turns if t.addressed and t.start_ms < deny.start_ms]
    since = previous[-1].start_ms if previous else float("-inf")
    until = deny.speech_onset_ms if deny.speech_onset_ms is not None else deny.start_ms
    words_ = p.action_words or sorted({w for t in tools for w in action_words(t)})
    asked = [u for u in utterances if since < u.first_audio_ms < until
             and questions(u.transcript) and _says_action(u.transcript, words_)]
    evidence = [turn_evidence(deny, f"caller declines in turn {deny.index}")]
    if not asked:
        return Outcome("fail", f"the caller declined in turn {deny.index}, but the agent never "
                       f"asked to confirm a write ({names}) before it", {"calls": []}, evidence)
    evidence.insert(0, utterance_evidence(asked[-1], "confirmation question"))
    return Outcome("pass", f"the agent asked {excerpt(asked[-1].transcript, 80)!r}, the caller "
                   f"declined (turn {deny.index}) and no write ({names}) followed",
                   {"calls": [], "question": asked[-1].transcript}, evidence)


def _grade_call(ctx: ScoringContext, tl: Timeline, utterances: list[Utterance],
                call: FunctionCall, p: ConfirmationBeforeWriteParams
                ) -> tuple[dict[str, Any], list[str], list[Evidence]]:
    spec = ctx.tool_spec(call.name)
    keys = p.key_arguments if p.key_arguments is not None else (
        spec.required_arguments if spec is not None else sorted(call.arguments or {}))
    actions = p.action_words or action_words(call.name)
    entry: dict[str, Any] = {"call_id": call.call_id, "tool": call.name, "t_ms": call.t_ms,
                             "arguments": call.arguments, "key_arguments": keys,
                             "action_words": actions,
                             "question": None, "affirm_turn": None}
    problems: list[str] = []
    evidence: list[Evidence] = [call_evidence(call, f"write call {call.name}")]
    answer = _last_addressed_before(tl, call.t_ms)
    if answer is None:
        problems.append(f"{call.name} at {call.t_ms:,.0f} ms came before the caller said anything")
        return entry, problems, evidence
    evidence.insert(0, turn_evidence(answer))
    if answer.intent != "affirm":
        what = "after the caller declined" if answer.intent == "deny" else (
            f"without a caller yes (the last caller turn {answer.index} is "
            f"{answer.intent or 'unlabelled'})")
        problems.append(f"{call.name} at {call.t_ms:,.0f} ms was called {what}")
        return entry, problems, evidence
    entry["affirm_turn"] = answer.index
    if answer.caller_done_ms > call.t_ms:
        problems.append(f"{call.name} at {call.t_ms:,.0f} ms came before the caller finished "
                        f"saying yes (turn {answer.index} ended {answer.caller_done_ms:,.0f} ms)")
    previous = [t for t in tl.turns if t.addressed and t.start_ms < answer.start_ms]
    since = previous[-1].start_ms if previous else float("-inf")
    until = answer.speech_onset_ms if answer.speech_onset_ms is not None else answer.start_ms
    asked = [u for u in utterances if since < u.first_audio_ms < until and questions(u.transcript)]
    if not asked:
        problems.append(f"no confirmation question before the caller's yes in turn "
                        f"{answer.index} ({call.name} at {call.t_ms:,.0f} ms)")
        return entry, problems, evidence
    best, best_naming = None, None
    for u in reversed(asked):
        naming = {k: _names(u.transcript, (call.arguments or {}).get(k)) for k in keys}
        if all(v != "no" for v in naming.values()) and _says_action(u.transcript, actions):
            best, best_naming = u, naming
            break
    if best is None:
        u = asked[-1]
        naming = {k: _names(u.transcript, (call.arguments or {}).get(k)) for k in keys}
        missing = [k for k, v in naming.items() if v == "no"]
        if not _says_action(u.transcript, actions):
            missing.insert(0, f"the action ({' / '.join(actions)})")
        entry["question"], entry["naming"] = u.transcript, naming
        problems.append(f"the last question before the caller's yes, "
                        f"{excerpt(u.transcript, 80)!r}, does not name {', '.join(missing)} "
                        f"of {call.name}")
        evidence.insert(0, utterance_evidence(u, "confirmation question"))
        return entry, problems, evidence
    entry["question"], entry["naming"] = best.transcript, best_naming
    evidence.insert(0, utterance_evidence(best, "confirmation question"))
    return entry, problems, evidence
