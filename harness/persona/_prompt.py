"""What the caller model is asked: the persona as a system message, then the call so far.

The conversation is written from the caller's side: each ``user`` message is what the agent
said (as the harness heard it on the line) since the caller's previous line, each
``assistant`` message a line the caller spoke (its JSON, as the model replied it). The last
message is always the agent's words since the caller last spoke, so a scripted caller model can
key its next line on them.
"""

from __future__ import annotations

import json

from harness.persona._client import CallerLine
from harness.scenario._persona import Persona

_PATIENCE = {"low": "You are impatient and get annoyed quickly when things take long or go wrong.",
             "medium": "You are reasonably patient.",
             "high": "You are very patient and polite."}
_VERBOSITY = {"terse": "You speak in short lines, a few words each.",
              "normal": "You speak in one or two short sentences a line.",
              "chatty": "You are chatty and add small remarks to what you say."}


def system_prompt(persona: Persona, scenario_name: str) -> str:
    """The persona as instructions to the caller model."""
    c = persona.character
    lines = [
        f"You play a caller on a phone call to a company's voice agent (scenario "
        f"{scenario_name}). You are the caller, never the agent.",
        f"Your goal: {persona.goal}",
    ]
    if persona.facts:
        facts = ", ".join(f"{name} = {value}" for name, value in persona.facts.items())
        lines.append(f"What you know (use exactly these values): {facts}.")
    lines += [_PATIENCE[c.patience], _VERBOSITY[c.verbosity],
              f"You speak {c.language}" + (f" with a {c.accent} accent." if c.accent else ".")]
    if c.spelling:
        lines.append(f"When you give a value you say it {c.spelling}.")
    if c.two_breaths:
        lines.append("When you give a long number or ID, you give the first part in one line "
                     "and the rest in your next line.")
    if c.corrects_itself:
        lines.append("The first time you give a number you get one digit wrong; when the "
                     "agent reads it back, you correct that digit.")
    if c.says_no_at_confirmation:
        lines.append("When the agent asks you to confirm an action that changes something, "
                     "you change your mind and say no.")
    if c.wants_human:
        lines.append("You want to speak to a person, and you ask for one early.")
    if c.interrupts_after_ms is not None:
        lines.append("You often talk over the agent before it has finished.")
    if c.notes:
        lines.append(c.notes)
    lines += [
        "Each user message is what the agent just said, as heard on the line (it may be empty "
        "when the agent said nothing). Reply with your next line only, as JSON: "
        '{"say": the words you speak, written as spoken (numbers digit by digit as words when '
        'you give an ID), "intent": "affirm" or "deny" when you answer a yes-or-no question, '
        '"correct" when you correct something you said, else "other", "gives": the names of '
        'the facts your line completes, "hang_up": true when you are done and end the call}.',
    ]
    return "\n".join(lines)


def caller_json(line: CallerLine) -> str:
    """A caller line as the conversation carries it (canonical, so requests hash the same)."""
    return json.dumps(line.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)


def conversation(persona: Persona, scenario_name: str,
                 exchanges: list[tuple[str, CallerLine]], agent_words: str
                 ) -> list[dict[str, str]]:
    """The request's messages: the persona, then (agent words, caller line) pairs, then what
    the agent said since."""
    messages = [{"role": "system", "content": system_prompt(persona, scenario_name)}]
    for heard, line in exchanges:
        messages.append({"role": "user", "content": heard})
        messages.append({"role": "assistant", "content": caller_json(line)})
    messages.append({"role": "user", "content": agent_words})
    return messages
