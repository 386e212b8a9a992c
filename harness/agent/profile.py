"""Agent profiles: the YAML that gives the local agent its dialogue for one domain (tools, slots,
intents, signals, messages), its model and its loader."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from harness.errors import InputError
from harness.scenario import load_yaml_model

PROFILES_DIR = Path(__file__).parent / "profiles"

SlotKind = Literal["digits", "alphanumeric", "email", "phone", "date", "name", "text"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_patterns(patterns: list[str]) -> list[str]:
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"{p!r} is not a valid regex: {exc}") from None
    return patterns


class SlotSpec(_Strict):
    """A value the agent collects (see ``harness.agent.slots`` for how each kind is heard)."""

    kind: SlotKind = Field(..., description="digits, alphanumeric, email, phone, date, name or "
                           "text")
    label: str = Field(..., description="what the agent calls it, e.g. 'patient number'")
    pattern: str | None = Field(
        None, description="regex a complete normalised value matches (a default per kind)")
    min_length: int | None = Field(None, ge=1, description="fewest letters and digits")
    max_length: int | None = Field(None, ge=1, description="most letters and digits")
    year_required: bool = Field(True, description="a date without its year is partial")
    rewrites: list[tuple[str, str]] = Field(
        default_factory=list,
        description="(regex, replacement) pairs tried when a value misses the pattern")
    upper: bool = Field(False, description="pass letters to tools upper-case (AB-1234)")
    numerals: bool = Field(False, description="read digits back as numerals (8, 3, 5)")
    spell_local_part: bool = Field(False, description="spell an email's local part in read-backs")
    prompt: str = Field(..., description="question asking for the value")
    partial_prompt: str = Field(..., description="question after a partial, cut-off value")
    unclear_prompt: str = Field(..., description="question when no value could be heard")
    readback: str | None = Field(
        None, description="read-back question; {value} is the spoken value (none: the value is "
        "taken as heard)")
    corrected_readback: str | None = Field(
        None, description="read-back after a correction (default: `readback`)")
    reask: str | None = Field(
        None, description="question after the caller rejects a read-back (default: `prompt`)")

    @field_validator("pattern")
    @classmethod
    def _valid_pattern(cls, v: str | None) -> str | None:
        return v if v is None else _check_patterns([v])[0]


class ResultRule(_Strict):
    """How to say a successful tool output: the first rule whose conditions hold is used."""

    when: dict[str, Any] = Field(default_factory=dict, description="output fields that must equal")
    requires: list[str] = Field(default_factory=list, description="output fields that must exist")
    say: str = Field(..., description="template; {field} is an output field or a slot")


class IntentSpec(_Strict):
    """Something the caller wants, recognised by patterns on the transcript."""

    name: str
    patterns: list[str] = Field(..., min_length=1)
    say: str | None = Field(None, description="a direct answer (no tool)")
    when_idle: bool = Field(
        False, description="only when no question is open (a lone 'thank you' heard while "
        "waiting for a yes is more likely a recogniser's guess on noise than a goodbye)")
    escalate: str | None = Field(
        None, description="hand the call over with this reason (the agent config's escalation "
        "tool); escalation intents are checked before any other")
    slots: list[str] = Field(default_factory=list, description="values to collect, in order")
    tool: str | None = Field(
        None, description="the session tool to call with the slots, or a name from `tools`")
    arguments: dict[str, str] = Field(default_factory=dict, description="tool argument → slot")
    action: str = Field("do that", description="what the intent does, for 'I can't {action}'")
    readback_in_confirmation: list[str] = Field(
        default_factory=list, description="slots read back inside the confirmation question")
    confirm: str | None = Field(
        None, description="confirmation question before the call (a write tool always gets "
        "one: this, or messages.confirm_write)")
    declined: str | None = Field(None, description="said when the caller declines the write")
    preambles: list[str] = Field(default_factory=list, description="said before the call, in turn")
    results: list[ResultRule] = Field(default_factory=list)
    not_found: str | None = Field(None, description="said when the output is a not-found error")
    failed: str | None = Field(None, description="said when the tool fails (offers a retry)")

    @field_validator("patterns")
    @classmethod
    def _valid_patterns(cls, v: list[str]) -> list[str]:
        return _check_patterns(v)


class Signals(_Strict):
    """Patterns for what the caller signals beyond intents."""

    affirm: list[str]
    deny: list[str]
    frustration: list[str]
    incomplete: list[str] = Field(..., description="an utterance ending like this is unfinished")
    not_speech: list[str] = Field(..., description="recogniser output on non-speech audio")
    domain: list[str] = Field(..., description="words that tie an utterance to the call")

    @field_validator("*")
    @classmethod
    def _valid_patterns(cls, v: list[str]) -> list[str]:
        return _check_patterns(v)


class Messages(_Strict):
    """Fixed sentences of the agent."""

    unclear: list[str] = Field(..., min_length=1, description="used in turn, never twice in a row")
    handoff: str
    handoff_done: str
    cannot: str
    cannot_escalate: str
    failed_again: str
    frustration: str
    anything_else: str
    no_input: str
    nothing_pending: str
    confirm_write: str = Field("I'm about to {action}. Should I go ahead?",
                               description="confirmation of a write tool whose intent has none")


class EscalationSpec(_Strict):
    """When the agent hands the call to a human."""

    after_failures: int = Field(2, ge=1, description="failed tool calls in one task")
    on_failures: Literal["offer", "transfer"] = "offer"
    after_no_input: int = Field(3, ge=1, description="idle timeouts in a row")
    on_frustration: bool = True
    reasons: dict[Literal["frustration", "failures", "no_input"], str]


class Profile(_Strict):
    """An agent profile: tools by role, slots, intents, signals, messages."""

    name: str
    description: str = ""
    tools: dict[str, list[str]] = Field(
        default_factory=dict, description="names of your choosing → session tool names (the "
        "first one the session has is used); an intent's `tool` may name one of these")
    slots: dict[str, SlotSpec]
    intents: list[IntentSpec] = Field(..., min_length=1)
    default_intent: str | None = Field(None, description="intent of a bare value")
    signals: Signals
    messages: Messages
    escalation: EscalationSpec
    transcription_prompt: str | None = Field(
        None, description="recogniser prompt for sessions that give none (the call's setting)")
    not_found_outputs: list[str] = Field(
        default_factory=lambda: [r"not[_ -]?found", r"no such", r"\bunknown"],
        description="patterns of a tool's error output that mean the value was not found")
    recogniser: str | None = Field(
        None, description="offline speech recogniser for this line: tiny.en, base or a model "
        "folder (HARNESS_ASR_MODEL overrides it; default tiny.en)")
    hold_ms: int = Field(1800, ge=0, le=20_000)
    not_addressed: Literal["wait", "silent"] = "wait"

    @model_validator(mode="after")
    def _references(self) -> Profile:
        names = {i.name for i in self.intents}
        if self.default_intent is not None and self.default_intent not in names:
            raise ValueError(f"default_intent {self.default_intent!r} is not an intent")
        for intent in self.intents:
            used = [*intent.slots, *intent.arguments.values(), *intent.readback_in_confirmation]
            for slot in used:
                if slot not in self.slots:
                    raise ValueError(f"intent {intent.name!r} uses unknown slot {slot!r}")
        return self

    @field_validator("not_found_outputs")
    @classmethod
    def _valid_outputs(cls, v: list[str]) -> list[str]:
        return _check_patterns(v)

    def intent(self, name: str) -> IntentSpec:
        return next(i for i in self.intents if i.name == name)


def load_profile(name_or_path: str | Path) -> Profile:
    """A profile by name (``support_desk``, from ``harness/agent/profiles/``) or YAML path.

    Read like scenarios are (same YAML rules). Raises ``InputError`` for an unknown name and
    ``InputErrors`` listing every problem of a bad file (file:line:col, field, what was expected).
    """
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        path = candidate
    else:
        path = PROFILES_DIR / f"{name_or_path}.yaml"
        if not path.exists():
            known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
            raise InputError(f"unknown agent profile {str(name_or_path)!r}; expected a YAML file "
                             f"or one of: {known}")
    return load_yaml_model(path, Profile, what="an agent profile")
