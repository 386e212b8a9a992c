"""Switchable faults of the local reference agent, parsed from a CLI option or a URL query.

A fault spec is a comma-separated list of names, numeric ones as ``name=value``:
``"no_preamble,added_latency_ms=400"``. A list of such strings is merged. Each fault changes
exactly the behaviour its name says and nothing else:

policy level (``harness.agent.policy``):

- ``no_preamble``: no spoken preamble before tool calls.
- ``skip_confirmation``: write tools are called without the confirmation question.
- ``misread_digit``: one digit of every read-back is said wrong (tools still get the right value).
- ``never_escalate``: the escalation tool is never called (requests are answered otherwise).
- ``tool_on_partial_id``: a cut-off, partial ID goes to the lookup instead of a clarification.
- ``false_success``: a failed tool call is answered with the intent's success line ("Done.").
- ``retry_loop``: a failed tool call is repeated with the same arguments, silently, three times.
- ``pretend_action``: a request no session tool serves gets the success line instead of "I can't".
- ``two_questions``: a question for a missing value also asks for the next missing one.
- ``filler_on_noise``: audio not addressed to the agent gets a filler line ("I'm here.") instead
  of silence (the server opens its level gate, as for ``talk_over_noise``).

server level (the rest of ``harness.agent``):

- ``added_latency_ms=N``: every response's first output (text, audio or tool call) leaves N ms after
  it was ready.
- ``ignore_barge_in``: the agent keeps talking when the caller starts speaking.
- ``talk_over_noise``: non-addressed audio (noise, music, side talk) gets a spoken reply, and the
  agent talks over it: the server's level gates are open while the agent is quiet (the policy
  answers what it would otherwise ignore) and closed while it responds, so only the caller's
  own voice interrupts it (an agent that raises its interruption threshold while it speaks).
- ``drop_connection_after_ms=N``: the server closes the socket N ms into the session.
- ``malformed_event``: the server sends one malformed event during the session.
- ``wrong_language``: every spoken line is said in Spanish instead of the session's language
  (what an agent does that switches on a caller's accent or greeting).

degenerate agents (output level, :class:`FaultInjector`), which a trustworthy harness must never
pass:

- ``mute``: the agent hears the caller (VAD, transcription) but never answers: no response, no
  speech, no tool call.
- ``silent_audio``: every response's audio is digital silence of the same length; transcripts,
  tool calls and timing are unchanged.
- ``lead_silence_ms=N``: every response's audio starts with N ms of digital silence, so the
  caller hears it N ms later while its first audio delta arrives on time.
- ``error_event``: the server sends one ``error`` event after its first response is done.
- ``invent_tool``: the agent's first response that does anything also calls a tool the session
  did not declare (:data:`INVENTED_TOOL`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.agent.actions import CallTool
from harness.errors import InputError

RETRY_LOOP_REPEATS = 3
"""How often ``retry_loop`` repeats a failed call before giving up."""

FILLER_LINE = "I'm here."
"""The filler line of ``filler_on_noise`` (short: it is the words, not the length, that are
wrong)."""

WRONG_LANGUAGE_LINE = "Claro que sí, con mucho gusto le ayudo con su pedido ahora mismo."
"""What ``wrong_language`` says instead of each line."""

INVENTED_TOOL = "read_internal_records"
"""The tool the ``invent_tool`` fault calls: no session declares it."""


@dataclass
class Faults:
    """The faults switched on for one session (all off by default)."""

    added_latency_ms: int = 0
    no_preamble: bool = False
    skip_confirmation: bool = False
    misread_digit: bool = False
    ignore_barge_in: bool = False
    never_escalate: bool = False
    tool_on_partial_id: bool = False
    talk_over_noise: bool = False
    drop_connection_after_ms: int | None = None
    malformed_event: bool = False
    false_success: bool = False
    retry_loop: bool = False
    pretend_action: bool = False
    two_questions: bool = False
    filler_on_noise: bool = False
    wrong_language: bool = False
    mute: bool = False
    silent_audio: bool = False
    lead_silence_ms: int = 0
    error_event: bool = False
    invent_tool: bool = False

    @property
    def opens_caller_gate(self) -> bool:
        """Whether the server lets audio below the caller's level through to the policy."""
        return self.talk_over_noise or self.filler_on_noise

    def retries_failed_call(self, failures: int) -> bool:
        """Whether a failed call is repeated as it was (``retry_loop``), after ``failures``."""
        return self.retry_loop and failures <= RETRY_LOOP_REPEATS

    def unaddressed_line(self) -> str | None:
        """What is said to audio not addressed to the agent (None: the usual silence)."""
        return FILLER_LINE if self.filler_on_noise else None

    def spoken(self, text: str) -> str:
        """The words the caller hears for a line the policy chose."""
        return WRONG_LANGUAGE_LINE if self.wrong_language else text

    @classmethod
    def names(cls) -> list[str]:
        """Every fault name, in declaration order."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def parse(cls, spec: str | list[str] | None) -> Faults:
        """Faults from ``"no_preamble,added_latency_ms=400"`` (or a list of such strings).

        Raises ``InputError`` naming the bad entry and the valid names.
        """
        entries: list[str] = []
        for part in [spec] if isinstance(spec, str) else list(spec or []):
            entries.extend(e.strip() for e in part.split(",") if e.strip())
        fields = {f.name: f for f in dataclasses.fields(cls)}
        values: dict[str, int | bool | None] = {}
        for entry in entries:
            name, sep, raw = entry.partition("=")
            name = name.strip()
            field = fields.get(name)
            if field is None:
                raise InputError(
                    f"unknown fault {name!r}; expected one of {', '.join(fields)}", field="faults")
            numeric = field.type in ("int", "int | None")
            if numeric:
                if not sep:
                    raise InputError(f"fault {name!r} needs a value in ms, e.g. {name}=400",
                                     field="faults")
                try:
                    number = int(raw.strip())
                except ValueError:
                    raise InputError(f"fault {name!r}: {raw.strip()!r} is not a whole number of ms",
                                     field="faults") from None
                if number < 0:
                    raise InputError(f"fault {name!r}: must be ≥ 0 ms, got {number}",
                                     field="faults")
                values[name] = number
            else:
                if sep and raw.strip().lower() not in ("1", "true", "yes", "on"):
                    if raw.strip().lower() in ("0", "false", "no", "off"):
                        values[name] = False
                        continue
                    raise InputError(f"fault {name!r} is a switch; give it without a value",
                                     field="faults")
                values[name] = True
        return cls(**values)

    def spec(self) -> str:
        """The canonical spec string of the faults that are on ("" when none)."""
        out: list[str] = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is True:
                out.append(f.name)
            elif isinstance(value, int) and not isinstance(value, bool) and (
                    value != f.default or f.default is None):
                out.append(f"{f.name}={value}")
        return ",".join(out)


class FaultInjector:
    """The degenerate-agent faults of one session, applied where the agent's output leaves it.

    The session asks at four points: whether to answer at all (:meth:`answers`), what a response
    does (:meth:`actions`), what a sentence sounds like (:meth:`speech`) and which events follow
    an event it sends (:meth:`after_event`).
    """

    def __init__(self, faults: Faults):
        self.faults = faults
        self._invented = False
        self._error_sent = False

    def answers(self) -> bool:
        """Whether the agent creates responses at all (a mute agent never does)."""
        return not self.faults.mute

    def actions(self, actions: list[Any]) -> list[Any]:
        """What a response does (the policy's ``Say`` / ``CallTool`` actions)."""
        if self.faults.invent_tool and actions and not self._invented:
            return [*actions, CallTool(INVENTED_TOOL, {})]
        return actions

    def called(self, name: str) -> None:
        """A response made its call of ``name``: the invented tool is called once, by the first
        response that gets as far as its call (one the caller cuts off first does not count)."""
        if name == INVENTED_TOOL:
            self._invented = True

    def speech(self, speech: Any, output_format: dict[str, Any], *, head: bool) -> Any:
        """A synthesised sentence as the caller will get it; ``head`` is the response's first
        sentence."""
        from harness.agent.tts import TTS_RATE, SpokenSentence, encode  # noqa: PLC0415

        lead = self.faults.lead_silence_ms if head else 0
        if not lead and not self.faults.silent_audio:
            return speech
        pcm = np.zeros_like(speech.pcm) if self.faults.silent_audio else speech.pcm
        if lead:
            pcm = np.concatenate([np.zeros(lead * TTS_RATE // 1000, dtype=pcm.dtype), pcm])
        return SpokenSentence(text=speech.text, pcm=pcm, encoded=encode(pcm, output_format))

    def after_event(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        """Events the server sends right after ``event``."""
        if (self.faults.error_event and not self._error_sent
                and event["type"] == "response.done"):
            self._error_sent = True
            from harness.agent.events import error_event  # noqa: PLC0415

            return [error_event("The server had an error while processing your request.",
                                code="server_error", error_type="server_error")]
        return []
