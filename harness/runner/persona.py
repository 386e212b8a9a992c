"""A persona's caller inside a trial: when it speaks next, what it says, and when it is done.

After the scripted turns, each time the caller's moment comes (the agent has answered and gone
quiet; or, for a caller that talks over the agent, that far into the agent's reply; or the
caller has waited a turn timeout in vain) the caller model is asked for the next line from the
persona and the call so far (:mod:`harness.persona`), off the event loop, and the line is
rendered with the scenario's voices and appended to the script as a ``say`` turn. The session's
own trigger rules then start it like any scripted turn (the reaction gap runs while the model
thinks). The persona stops when its goal is reached, the caller hangs up, the agent escalates,
the agent has left two lines in a row unanswered, or at ``max_turns`` / ``max_duration_s``; the
call then ends as a scripted call ends.

Every line is recorded (``harness.persona.line``) with the request's hash and the tokens it cost,
and the end with its reason (``harness.persona.ended``); ``replay`` speaks a recorded
conversation's lines in order instead of asking the model.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import InputError
from harness.persona import CallerLine, CallerModel, CallerModelError, ask_caller, conversation
from harness.recording import META_FILE, PersonaEnded, PersonaLine, Recording, read_run_file
from harness.scenario.models import BargeIn, Scenario, Turn
from harness.spoken import spoken_to_compact, values_equal

if TYPE_CHECKING:
    from harness.runner.turns import TurnState

Moment = Literal["first", "after_agent", "barge_in", "timeout"]
SILENT_WAITS = 2
"""Lines in a row the agent left unanswered (the caller waited a turn timeout) before the
caller gives up."""


@dataclass
class _Pending:
    """A line being fetched and rendered: the task, and the moment it was asked at."""

    task: asyncio.Task[tuple[CallerLine, float, Any, PersonaLine]]
    moment: Moment


def line_facts(text: str, facts: dict[str, str]) -> list[str]:
    """The facts whose whole value a line says (the grader's strict spoken forms)."""
    compact = spoken_to_compact(text)
    return [name for name, value in facts.items()
            if (v := spoken_to_compact(str(value))) and v in compact]


class PersonaCaller:
    """The persona's side of one trial (see the module docstring). The session calls
    :meth:`hear` for the agent's words, :meth:`tool_called` for its tool calls and
    :meth:`step` between turns."""

    def __init__(self, scenario: Scenario, *, model: CallerModel | None,
                 replay: list[PersonaLine] | None,
                 render: Callable[[Scenario, int, Turn], Any],
                 annotate: Callable[[float, str, Any], Any],
                 escalation_tools: list[str]):
        assert scenario.persona is not None
        self.scenario = scenario
        self.persona = scenario.persona
        self.model = model
        self.replay = list(replay) if replay is not None else None
        self.render = render
        self.annotate = annotate
        self.escalation_tools = set(escalation_tools)
        self.heard: list[tuple[float, str, str]] = []  # (t, response id, text)
        self.lines: list[tuple[int | None, float, CallerLine]] = []  # (turn, asked at, line)
        self.spoken = 0
        self.pending: _Pending | None = None
        self.ended: PersonaEnded | None = None
        self.goal_met = False
        self.goal_tool_called = False
        self.escalated = False
        self.silent_waits = 0
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    # ------------------------------------------------------------------ what the caller notices

    def hear(self, t: float, response_id: str, text: str) -> None:
        self.heard.append((t, response_id, text))

    def tool_called(self, name: str, arguments: dict[str, Any]) -> None:
        if name in self.escalation_tools:
            self.escalated = True
        goal = self.persona.goal_reached
        if goal is not None and goal.tool == name and all(
                k in arguments and values_equal(arguments[k], v)
                for k, v in (goal.arguments or {}).items()):
            self.goal_tool_called = True

    def _check_goal(self) -> None:
        """The goal as ``goal_reached`` defines it (the ``goal_met`` scorer judges it again from
        the recording); checked when the caller's moment comes and when the persona ends, not
        for each piece of transcript the receive loop gets."""
        goal = self.persona.goal_reached
        if goal is None or self.goal_met:
            return
        said = goal.agent_says is None or re.search(goal.agent_says, self.words_since(0.0),
                                                      re.I) is not None
        self.goal_met = said and (goal.tool is None or self.goal_tool_called)

    def words_since(self, t0: float, t1: float = float("inf")) -> str:
        """The agent's words heard in [t0, t1), a space between responses."""
        out: list[str] = []
        last: str | None = None
        for t, rid, text in self.heard:
            if t0 <= t < t1:
                if last is not None and rid != last and out and not out[-1].endswith(" "):
                    out.append(" ")
                out.append(text)
                last = rid
        return " ".join("".join(out).split())

    # ------------------------------------------------------------------ between turns

    @property
    def done(self) -> bool:
        return self.ended is not None

    def _stop_reason(self, now_ms: float) -> str | None:
        self._check_goal()
        if self.goal_met:
            return "goal_reached"
        if self.lines and self.lines[-1][2].hang_up:
            return "hung_up"
        if self.escalated:
            return "escalated"
        if self.silent_waits >= SILENT_WAITS:
            return "agent_silent"
        if self.spoken >= self.persona.max_turns:
            return "max_turns"
        if now_ms / 1000.0 >= self.persona.max_duration_s:
            return "max_duration"
        if self.replay is not None and not self.replay:
            return "replay_ended"
        return None

    def end(self, t: float, reason: str) -> None:
        if self.ended is not None:
            return
        self._check_goal()
        self.ended = PersonaEnded(
            reason=reason,  # type: ignore[arg-type]
            goal_met=self.goal_met, lines=self.spoken, requests=self.requests,
            prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens)
        self.annotate(t, "harness.persona.ended", self.ended)

    def step(self, session: Any, now: float, at: float, prev: TurnState | None) -> bool:
        """Between turns, with the script spoken: True when a new line was just added to the
        script (the session's triggers start it); False while the caller waits or thinks.
        Raises :class:`CallerModelError` when the caller model failed."""
        if self.pending is not None:
            if not self.pending.task.done():
                return False
            pending, self.pending = self.pending, None
            line, asked_at, rendered, record = pending.task.result()
            self._append(session, now, line, asked_at, rendered, record, pending.moment)
            return True
        moment = self._moment(session, at, prev)
        if moment is None:
            return False
        if moment == "timeout":
            self.silent_waits += 1
        reason = self._stop_reason(now - (session.stream_start_ms or 0.0))
        if reason is not None:
            self.end(now, reason)
            return False
        exchanges, since = self._exchanges(session)
        heard = self.words_since(since, now)
        task = asyncio.create_task(self._next(exchanges, heard, moment, now))
        self.pending = _Pending(task, moment)
        return False

    def _moment(self, session: Any, at: float, prev: TurnState | None) -> Moment | None:
        if prev is None:
            ready = session.stream_start_ms is not None and \
                at >= session.stream_start_ms + session.opt.lead_in_ms
            return "first" if ready and session._idle(None) else None
        if at >= prev.end_ms + session.scenario.turn_timeout_ms:
            return "timeout"
        answered = not prev.addressed or session._answered(prev)
        if answered and session._idle(prev):
            self.silent_waits = 0
            return "after_agent"
        after = self.persona.character.interrupts_after_ms
        if after is not None and session.playback.audible_at(at):
            played = session.playback.played_since_onset(prev.end_ms, at)
            if played is not None and played >= after:
                return "barge_in"
        return None

    async def _next(self, exchanges: list[tuple[str, CallerLine]], heard: str, moment: Moment,
                    asked_at: float) -> tuple[CallerLine, float, Any, PersonaLine]:
        index = len(self.scenario.turns)
        facts = self.persona.facts
        request: str | None = None
        prompt = completion = 0
        if self.replay is not None:
            recorded = self.replay.pop(0)
            line = CallerLine(say=recorded.say, intent=recorded.intent,  # type: ignore[arg-type]
                              gives=recorded.gives, hang_up=recorded.hang_up)
            source = "replay"
        elif self.spoken == 0 and not self.lines and self.persona.opening:
            line = CallerLine(say=self.persona.opening, intent="other",
                              gives=line_facts(self.persona.opening, facts), hang_up=False)
            source = "opening"
        else:
            if self.model is None:
                raise CallerModelError("no caller model is configured for the persona: give "
                                       "--caller-model (or HARNESS_CALLER_MODEL)")
            messages = conversation(self.persona, self.scenario.name, exchanges, heard)
            reply = await asyncio.to_thread(ask_caller, self.model, messages, facts)
            line, request = reply.line, reply.request_sha256
            source = "cache" if reply.cached else "model"
            prompt, completion = reply.usage.prompt_tokens, reply.usage.completion_tokens
            if not reply.cached:
                self.requests += 1
                self.prompt_tokens += prompt
                self.completion_tokens += completion
        rendered, audio = None, None
        if line.say.strip():
            turn = self._turn(line, moment)
            rendered = await asyncio.to_thread(self.render, self.scenario, index, turn)
            audio = hashlib.sha256(rendered.samples.tobytes()).hexdigest()
        record = PersonaLine(turn_index=index, say=line.say, intent=line.intent,
                             gives=line.gives, hang_up=line.hang_up,
                             source=source,  # type: ignore[arg-type]
                             trigger=moment, heard=heard, request_sha256=request,
                             prompt_tokens=prompt, completion_tokens=completion,
                             audio_sha256=audio)
        return line, asked_at, rendered, record

    def _turn(self, line: CallerLine, moment: Moment) -> Turn:
        facts = self.persona.facts
        gives = sorted(set(line.gives) | set(line_facts(line.say, facts)))
        after = self.persona.character.interrupts_after_ms
        return Turn(say=line.say.strip(), entity={g: facts[g] for g in gives} or None,
                    intent=line.intent, voice=self.persona.voice,
                    barge_in=BargeIn(at_agent_ms=after) if moment == "barge_in"
                    and after is not None else None)

    def _exchanges(self, session: Any) -> tuple[list[tuple[str, CallerLine]], float]:
        """The call so far as (agent words, caller line) pairs, scripted turns and the persona's
        own lines in the order they were spoken, and the time the last line was decided (the
        agent's words after it are what the next line answers). A persona line answers the words
        heard until it was asked for, a scripted one those heard until it started: the same
        windows every later request shows the caller model."""
        spoken = {i: (t, line) for i, t, line in self.lines if i is not None}
        out: list[tuple[str, CallerLine]] = []
        since = 0.0
        for state in session.turns:
            turn = self.scenario.turns[state.index]
            if not turn.addressed:
                continue
            cut = state.start_ms
            if state.index in spoken:
                cut, line = spoken[state.index]
            else:
                gives = [k for k, v in self.persona.facts.items()
                         if turn.entity and values_equal(turn.entity.get(k, ""), v)]
                line = CallerLine(say=turn.spoken_text or "", intent=turn.intent or "other",
                                  gives=gives, hang_up=False)
            out.append((self.words_since(since, cut), line))
            since = cut
        return out, since

    def _append(self, session: Any, now: float, line: CallerLine, asked_at: float,
                rendered: Any, record: PersonaLine, moment: Moment) -> None:
        self.annotate(now, "harness.persona.line", record)
        if rendered is None:  # hung up without a word
            self.lines.append((None, asked_at, line))
            self.end(now, "hung_up")
            return
        self.lines.append((len(self.scenario.turns), asked_at, line))
        self.scenario.turns.append(self._turn(line, moment))
        session.add_turn_audio(rendered)
        self.spoken += 1

    def cancel(self) -> None:
        if self.pending is not None:
            self.pending.task.cancel()


def recorded_callers(run_dir: Path) -> dict[tuple[str, str | None, int], list[PersonaLine]]:
    """The persona lines each trial of a recorded run spoke, in order, by (scenario, variant,
    trial): what ``harness run --replay-callers RUN_DIR`` speaks again. A located
    ``InputError`` when the folder is not a run or holds no persona call."""
    out: dict[tuple[str, str | None, int], list[PersonaLine]] = {}
    for entry in read_run_file(run_dir)["trials"]:
        folder = Path(run_dir) / entry["path"]
        if not (folder / META_FILE).is_file():
            continue
        recording = Recording.load(folder)
        lines = [line for _f, line in recording.annotations("harness.persona.line")]
        if lines:
            meta = recording.meta
            out[(meta.scenario, meta.variant, meta.trial)] = lines  # type: ignore[misc]
    if not out:
        raise InputError("the run holds no persona call to replay", location=str(run_dir),
                         field="--replay-callers")
    return out
