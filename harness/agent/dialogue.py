"""What the agent's session and its dialogue policy say to each other: actions and the policy
protocol.

The session turns caller audio into transcripts and calls the policy; the policy answers with
actions, which the session performs in order:

- ``Say(text)``: speak ``text`` (one TTS response part).
- ``CallTool(name, arguments)``: emit a function call. The session sends the call, waits for the
  client's ``function_call_output`` and hands it to ``on_tool_output``. A ``CallTool`` is always
  the last action of a list.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from harness.agent.actions import Action, CallTool, Say
from harness.agent.faults import Faults

__all__ = ["Action", "CallTool", "DialoguePolicy", "PolicyFactory", "Say", "ToolFlags"]


@dataclass(frozen=True)
class ToolFlags:
    """Which session tools have a side effect, hand the call to a human, or are the no-op wait
    tool: the flags (``write``, ``escalation``, ``wait``) of the agent config's tools."""

    write: frozenset[str] = frozenset()
    escalation: frozenset[str] = frozenset()
    wait: frozenset[str] = frozenset()


class DialoguePolicy(Protocol):
    """The dialogue of one session.

    - ``on_user_turn``: a committed caller utterance (``[]``: stay silent). ``addressed`` is
      False when the session's own gating (level) thinks the audio was not meant for the agent.
    - ``on_tool_output``: the output of a call the policy made (JSON string or decoded value).
    - ``on_no_input``: the idle timeout fired (no caller speech).
    - ``on_interrupted``: the caller barged in; ``spoken_text`` is what they heard.
    - ``hold_ms`` and ``on_hold_expired``: after ``on_user_turn`` returned ``[]`` for an
      unfinished utterance, how long to wait for the caller to go on (``None``: no hold). If
      speech starts within that time the next ``on_user_turn`` joins the held words; if not, the
      session performs ``on_hold_expired()``. When several turns make an utterance (held words
      and the turn that goes on from them, or turns one response answers together), their audio
      is also transcribed as one and given as ``heard_as_one`` (a number said in two breaths is
      heard better whole than in halves).
    - ``transcription_prompt``: a recogniser prompt for sessions whose input transcription gives
      none (the setting of the call), or ``None``.

    Optional: ``part_of_a_value(transcript) -> bool``, ``holds_a_value(transcript) -> bool`` and
    ``choose_transcript(transcripts) -> str``. When a policy has them and the recogniser's best
    transcript holds part of a value the dialogue listens for but no whole one, or no whole one
    and too few words for its audio, the session asks the recogniser for its runners-up and the
    policy picks one of the transcripts (best first); where none holds a whole value and the
    optional ``wants_a_value(transcript) -> bool`` says the dialogue waits for one, the turn is
    heard again slowed down. A policy without them gets the best one.
    """

    def on_user_turn(self, transcript: str, addressed: bool = True, *,
                     heard_as_one: str | None = None) -> list[Action]: ...

    def on_tool_output(self, name: str, arguments: dict[str, Any],
                       output: Any) -> list[Action]: ...

    def on_no_input(self) -> list[Action]: ...

    def on_interrupted(self, spoken_text: str) -> None: ...

    @property
    def hold_ms(self) -> int | None: ...

    def on_hold_expired(self) -> list[Action]: ...

    @property
    def transcription_prompt(self) -> str | None: ...


PolicyFactory = Callable[[list[dict[str, Any]], Faults], DialoguePolicy]
"""Builds a session's policy from the session's tools (as ``session.update`` carries them) and
its faults."""
