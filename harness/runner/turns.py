"""When the caller's next turn starts, and when the call is over: decided once per chunk from
what the agent is doing (no I/O here; the session feeds the state and acts on the answer).

**When a turn starts** (its ``trigger`` in ``harness.turn.started``):

- ``first``: the first turn starts once the session's lead-in of bed has been streamed (500 ms,
  :data:`harness.runner.session.LEAD_IN_MS`) and the agent is idle (a greeting plays out first,
  plus the reaction gap).
- ``after_agent`` (default): after an addressed turn, once the agent has answered it (a response
  created after the caller's speech ended has completed; a cancelled one does not count),
  everything it said has played out, no tool call or follow-up response is pending, and the
  scenario's ``reaction_gap_ms`` has passed. After a silence or play turn the agent owes no
  answer: the turn starts when the agent is idle, a reaction gap after the previous turn (or the
  agent's audio) ended.
- ``barge_in``: ``barge_in.at_agent_ms`` of agent playback after the first audible onset since
  the previous turn ended, while the agent is still audible. If the agent finishes before that
  point the turn starts as ``after_agent``.
- ``after_ms``: that long after the previous turn's last chunk (from the stream start for the
  first turn), whatever the agent does.
- ``when_agent_says``: once the agent's transcript since the previous turn ended matches the
  pattern, and the agent is then idle a reaction gap later (the caller answers what was said).
- ``timeout``: none of the above within the scenario's ``turn_timeout_ms`` of the previous
  turn's end.

After the last turn the session closes once the agent is idle: a reaction gap after it answered an
addressed last turn, otherwise after ``idle_timeout_ms`` of quiet (no audio, no tool call, no
event that starts or ends a response). An addressed last turn that has no answer yet keeps the
call open for its answer as long as a next turn would wait for it (``turn_timeout_ms`` after the
turn ended): an agent that answers late is graded on its late answer, not hung up on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from harness.realtime.protocol import RealtimeProtocol
    from harness.runner.playback import PlaybackClock
    from harness.scenario.models import Scenario


@dataclass
class TurnState:
    """A caller turn that has started: its stream times (ms) and whether it asks for an answer."""

    index: int
    start_ms: float
    end_ms: float
    speech_end_ms: float | None
    addressed: bool

    def waits_for_answer(self, at: float, turn_timeout_ms: float) -> bool:
        """As the last turn, not answered yet: whether the caller still waits at ``at`` for the
        answer it asked for, as long as a next turn would wait for it (``turn_timeout_ms`` after
        the turn ended), so that an agent that answers late is graded on its answer, not hung
        up on."""
        return self.addressed and at < self.end_ms + turn_timeout_ms


class SpeechEdges:
    """The chunks that hold a started turn's first and last sample of speech, in send order,
    so the stream can say when each went out (``harness.turn.speech_sent``)."""

    NONE = 1 << 62
    """:attr:`next_chunk` when no edge is pending (a chunk index never reached)."""

    def __init__(self) -> None:
        self._pending: list[tuple[int, int, str, float]] = []  # (chunk, turn, edge, due ms)
        self.next_chunk = self.NONE

    def add(self, chunk: int, turn_index: int, edge: str, due_ms: float) -> None:
        self._pending.append((chunk, turn_index, edge, due_ms))
        self._pending.sort()
        self.next_chunk = self._pending[0][0]

    def sent(self, chunk: int) -> list[tuple[int, Literal["onset", "end"], float]]:
        """Chunk ``chunk`` went out: the (turn, edge, due ms) it carried (or an earlier one).
        Called for every chunk the stream sends: nothing is done before :attr:`next_chunk`."""
        if chunk < self.next_chunk:
            return []
        out = []
        while self._pending and self._pending[0][0] <= chunk:
            _, turn_index, edge, due = self._pending.pop(0)
            out.append((turn_index, cast(Literal["onset", "end"], edge), due))
        self.next_chunk = self._pending[0][0] if self._pending else self.NONE
        return out


class TurnTriggers:
    """The trigger rules of :class:`harness.runner.session.TrialSession` (a mixin over its
    state)."""

    scenario: Scenario
    protocol: RealtimeProtocol
    playback: PlaybackClock
    opt: Any
    pending: Any
    awaiting_response: bool
    follow_ups: set[str]
    last_agent_activity_ms: float
    stream_start_ms: float | None
    next_turn: int
    transcript: list[tuple[float, str]]
    _says_matched_ms: float | None

    def _idle(self, prev: TurnState | None) -> bool:
        """Nothing the caller would wait for: no agent audio, no tool call or follow-up pending.

        A response in progress counts after an addressed turn (the agent is working on the
        answer) and when it follows up tool outputs; after a silence or play turn the caller does
        not wait on a response the agent opened and holds without speaking.
        """
        if self.playback.active() or self.awaiting_response or any(self.pending.calls.values()):
            return False
        waiting_on = self.protocol.in_progress()
        if prev is not None and not prev.addressed:
            waiting_on = [r for r in waiting_on if r.id in self.follow_ups]
        return not waiting_on

    def _quiet_since(self, ref: float) -> float:
        return max(ref, self.last_agent_activity_ms, self.playback.last_end_ms())

    def _answered(self, turn: TurnState) -> bool:
        """A response created after the turn's speech ended has finished (not cancelled)."""
        since = turn.speech_end_ms if turn.speech_end_ms is not None else turn.start_ms
        return any(r.first_seen_ms >= since and not r.in_progress
                   and r.status in ("completed", "incomplete")
                   for r in self.protocol.responses.values())

    def _trigger(self, now: float, at: float, prev: TurnState | None, gap: float) -> str | None:
        turn = self.scenario.turns[self.next_turn]
        assert self.stream_start_ms is not None
        ref = prev.end_ms if prev is not None else self.stream_start_ms
        if turn.after_ms is not None:
            return "after_ms" if at >= ref + turn.after_ms else None
        if at >= ref + self.scenario.turn_timeout_ms:
            return "timeout"
        idle = self._idle(prev)
        if prev is None:
            ready = idle and at >= max(self.stream_start_ms + self.opt.lead_in_ms,
                                        self._quiet_since(ref) + (gap if self.playback.items
                                                                  else 0.0))
            return "first" if ready else None
        answered = not prev.addressed or self._answered(prev)
        after_agent = idle and answered and at >= self._quiet_since(ref) + gap
        if turn.barge_in is not None:
            played = self.playback.played_since_onset(ref, at)
            if (played is not None and played >= turn.barge_in.at_agent_ms
                    and self.playback.audible_at(at)):
                return "barge_in"
            return "after_agent" if after_agent else None
        if turn.when_agent_says is not None:
            if self._says_matched_ms is None:
                said = "".join(text for t, text in self.transcript if t >= ref)
                if re.search(turn.when_agent_says, said):
                    self._says_matched_ms = now
            if self._says_matched_ms is not None and idle and \
                    at >= self._quiet_since(self._says_matched_ms) + gap:
                return "when_agent_says"
            return None
        return "after_agent" if after_agent else None
