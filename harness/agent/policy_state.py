"""The dialogue policy's state and lookups: the task in progress, what the agent asked, the
session's tools and their flags, the profile's signals, slot values and wording."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from harness.agent import slots
from harness.agent.dialogue import Action, Say, ToolFlags
from harness.agent.faults import Faults
from harness.agent.outputs import (
    MissingFields,
    misread,
    plain,
    same_value,
)
from harness.agent.profile import IntentSpec, Profile, SlotSpec
from harness.agent.repairs import find_readbacks


@dataclass
class Task:
    """The request being served: its intent, confirmed values and failed calls."""

    intent: IntentSpec
    values: dict[str, str] = field(default_factory=dict)
    candidates: dict[str, str] = field(default_factory=dict)
    failures: int = 0


@dataclass
class Awaiting:
    """What the agent's last question asked for."""

    kind: Literal["slot", "readback", "confirm", "retry", "transfer"]
    slot: str | None = None
    value: str | None = None



class PolicyState:
    """State and lookups the :class:`harness.agent.policy.Policy` builds on."""

    def __init__(self, profile: Profile, session_tools: list[dict[str, Any]],
                 faults: Faults | None = None, flags: ToolFlags | None = None) -> None:
        self.profile = profile
        self.faults = faults or Faults()
        self.flags = flags or ToolFlags()
        self._tool_schemas = {t["name"]: t for t in session_tools if "name" in t}
        self._task: Task | None = None
        self._awaiting: Awaiting | None = None
        self._held: str | None = None
        # The caller's latest words when they were joined to held ones (see ``_extract``).
        self._fresh: str | None = None
        self._pending: tuple[str, dict[str, Any]] | None = None
        self._unclear_next = 0
        self._last_said: str | None = None
        self._preamble_next: dict[str, int] = {}
        self._no_input = 0
        self._escalated = False
        self._handoff_after_call = False
        self.interrupted_text: str | None = None

    # ------------------------------------------------------------------ values

    def _asked_slot(self) -> str | None:
        a = self._awaiting
        return a.slot if a is not None and a.kind == "slot" else None

    def _extract(self, slot: str, text: str, *, asked: bool) -> slots.Extracted:
        return slots.extract(self.profile.slots[slot], text, asked=asked, fresh=self._fresh)

    def _spoken(self, spec: SlotSpec, value: str) -> str:
        """How the agent reads a value back (one digit wrong under ``misread_digit``)."""
        if self.faults.misread_digit:
            value = misread(value)
        return slots.spoken_value(spec, value)

    def _fill_value(self, template: str, spec: SlotSpec, value: str) -> str:
        return template.format(value=self._spoken(spec, value))

    def _fill(self, template: str, task: Task, extra: dict[str, Any] | None = None) -> str:
        fields: dict[str, Any] = dict(extra or {})
        for slot, value in task.values.items():
            fields[slot] = self._spoken(self.profile.slots[slot], value)
        return template.format_map(MissingFields(fields))

    def _result_text(self, intent: IntentSpec, task: Task, output: Any) -> str:
        data = output if isinstance(output, dict) else {"result": output}
        for rule in intent.results:
            if all(k in data and same_value(data[k], v) for k, v in rule.when.items()) and all(
                    data.get(k) not in (None, "") for k in rule.requires):
                return self._fill(rule.say, task, {k: plain(v) for k, v in data.items()})
        return self.profile.messages.anything_else

    # ------------------------------------------------------------------ helpers

    def _say(self, text: str) -> list[Action]:
        self._last_said = text
        return [Say(text)]

    def _unclear(self) -> str:
        """The next unclear-audio question, never the same one twice in a row."""
        options = self.profile.messages.unclear
        text = options[self._unclear_next % len(options)]
        self._unclear_next += 1
        return text

    def _pending_question(self) -> str | None:
        a, task = self._awaiting, self._task
        if a is None:
            return self.profile.messages.nothing_pending
        if a.kind == "slot" and a.slot:
            return self.profile.slots[a.slot].prompt
        if a.kind == "readback" and a.slot and a.value:
            spec = self.profile.slots[a.slot]
            return self._fill_value(spec.readback or "{value}", spec, a.value)
        if a.kind == "confirm" and task is not None:
            return self._confirmation(task)
        if a.kind == "retry" and task is not None:
            return self._fill(task.intent.failed or "", task)
        if a.kind == "transfer":
            return self.profile.messages.failed_again
        return None

    def _tool_name(self, tool: str) -> str | None:
        """The session tool an intent names: itself, or the first of the profile's ``tools``
        entry of that name that the session has (None: the session lacks it)."""
        candidates = self.profile.tools.get(tool, [tool])
        return next((n for n in candidates if n in self._tool_schemas), None)

    def _flagged(self, names: frozenset[str]) -> str | None:
        """The session's tool among ``names`` (a flag of the agent config), if it has one."""
        return next((n for n in self._tool_schemas if n in names), None)

    def _is_not_found(self, output: Any) -> bool:
        text = json.dumps(output) if not isinstance(output, str) else output
        return any(re.search(p, text, re.IGNORECASE) for p in self.profile.not_found_outputs)

    def _matches(self, signal: str, lowered: str) -> bool:
        patterns: list[str] = getattr(self.profile.signals, signal)
        return any(re.search(p, lowered, re.IGNORECASE) for p in patterns)

    def _relevant(self, lowered: str) -> bool:
        """Whether an utterance relates to the call at all."""
        return (self._matches("domain", lowered) or self._matches("affirm", lowered)
                or self._matches("deny", lowered) or self._detect_intent(lowered) is not None
                or bool(find_readbacks(lowered)))

    def _detect_intent(self, lowered: str) -> IntentSpec | None:
        busy = self._awaiting is not None
        for intent in self.profile.intents:
            if intent.when_idle and busy:
                continue
            if any(re.search(p, lowered, re.IGNORECASE) for p in intent.patterns):
                return intent
        return None

    @staticmethod
    def _said(intent: IntentSpec, lowered: str) -> bool:
        return any(re.search(p, lowered, re.IGNORECASE) for p in intent.patterns)

