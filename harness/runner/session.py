"""One scenario trial over one WebSocket: set-up, caller stream, turns, playback, tools, capture.

:class:`TrialSession` drives a session with two tasks: the *stream* task sends the caller's
chunks on the stream's fixed schedule and, once per chunk, advances the playback clock and
decides whether the next turn starts; the *receive* task feeds every received frame to the
protocol state machine, records it, plays agent audio, interrupts playback on barge-in and answers
tool calls from the mocks. Everything is recorded as it happens (:mod:`harness.runner.capture`).

**When a turn starts** and when the session closes: :mod:`harness.runner.turns`.

**Barge-in**: on ``input_audio_buffer.speech_started`` while agent audio plays (or, with turn
detection off, when an addressed turn starts), playback stops at once and
``conversation.item.truncate`` carries the played ``audio_end_ms``; ``response.cancel`` is sent
too when the server will not cancel by itself (turn detection off, or ``interrupt_response``
false). **Tool calls** get ``function_call_output`` after the mock's latency, and one
``response.create`` once the response that made the calls is done and all are answered.
Over WebRTC, :class:`harness.runner.webrtc_session.WebRTCTrialSession` sends and receives the
audio on RTP tracks and leaves barge-in to the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.audio import Transcriber, decode_g711, law_of
from harness.errors import TargetError
from harness.realtime.client import RealtimeConnection
from harness.realtime.errors import NoAnswer, setup_refused
from harness.realtime.events import ClientEvent
from harness.realtime.netem import NetworkConditions
from harness.realtime.protocol import (
    AUDIO_DELTA,
    AudioDelta,
    AudioDone,
    FunctionCallReady,
    RealtimeProtocol,
    Received,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SessionReady,
    SpeechStarted,
    TranscriptDelta,
)
from harness.recording import (
    PlaybackAudible,
    PlaybackStarted,
    PlaybackStopped,
    StreamStarted,
    TrialEnded,
    TurnEnded,
    TurnSpeechSent,
    TurnStarted,
)
from harness.runner.caller import RENDER_LOCK, CallerStream
from harness.runner.capture import RecordingWriter
from harness.runner.pacing import Pacer
from harness.runner.persona import PersonaCaller
from harness.runner.playback import PlaybackClock, PlaybackEvent
from harness.runner.tool_calls import ToolCalls
from harness.runner.turns import SpeechEdges, TurnState, TurnTriggers
from harness.scenario.models import AgentConfig, Scenario

if TYPE_CHECKING:
    from harness.realtime.webrtc import WebRTCConnection

LEAD_IN_MS = 500.0
"""Bed streamed before the first turn, so server VAD hears the line before the caller speaks."""
SETUP_TIMEOUT_S = 10.0
"""How long to wait for ``session.updated`` after ``session.update``."""


@dataclass
class SessionOptions:
    """Knobs of one session (the defaults are the harness's time definitions: 20 ms chunks)."""

    chunk_ms: int = 20
    lead_in_ms: float = LEAD_IN_MS
    setup_timeout_s: float = SETUP_TIMEOUT_S
    network: NetworkConditions | None = None
    """Delay, jitter and loss imposed on a WebRTC call's path (:mod:`harness.realtime.netem`)."""
    transcribe: Transcriber | None = None
    """Over SIP, which carries no transcripts: what puts the agent's speech into words (the run
    passes the local recogniser or the transcription endpoint the user chose)."""
    caller_model: Any = None
    """A persona scenario's caller model (:class:`harness.persona.CallerModel`)."""
    replay_callers: Any = None
    """Recorded persona lines to speak instead of asking the caller model:
    ``(scenario, variant, trial) -> [PersonaLine]`` (``harness run --replay-callers``)."""
    persona_replay: Any = None
    """This trial's recorded persona lines (set per trial from :attr:`replay_callers`)."""


def _render_line(scenario: Scenario, index: int, turn: Any) -> Any:
    from harness.audio import render_line  # noqa: PLC0415 - rendering pulls in TTS

    with RENDER_LOCK:
        return render_line(scenario, index, turn)


@dataclass
class _Pending:
    calls: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    followed_up: set[str] = field(default_factory=set)


class TrialSession(TurnTriggers, ToolCalls):
    """Runs one scenario trial on an open connection and records it (see the module docstring)."""

    server_playback = False
    """The server plays the agent's audio out and says when (WebRTC): an item has finished
    playing on its word, not on ``response.output_audio.done`` or ``response.done``."""

    def __init__(self, *, scenario: Scenario, config: AgentConfig, script: Any,
                 connection: RealtimeConnection | WebRTCConnection, writer: RecordingWriter,
                 t0_ns: int,
                 options: SessionOptions | None = None):
        self.scenario = scenario
        self.config = config
        self.script = script
        self.conn = connection
        self.writer = writer
        self.t0_ns = t0_ns
        self.opt = options or SessionOptions()
        self.protocol = RealtimeProtocol(connection.target.dialect)
        self.stream = CallerStream(script, input_format=config.input_audio_format,
                                   chunk_ms=self.opt.chunk_ms)
        self.out_law = None if config.output_audio_format == "audio/pcm" else \
            law_of(config.output_audio_format)
        self.out_rate = 24_000 if self.out_law is None else 8_000
        self.playback = PlaybackClock(self.out_rate)
        self.agent_stream: list[np.ndarray] = []
        self.agent_stream_samples = 0
        td = config.turn_detection
        self.manual_turns = td is None
        self.client_cancels = td is None or not td.interrupt_response
        self._ready = asyncio.Event()
        self._setup_error: TargetError | None = None
        self._done = asyncio.Event()
        self.stream_start_ms: float | None = None
        self.next_turn = 0
        self.turns: list[TurnState] = []
        self._speech_edges = SpeechEdges()
        self.transcript: list[tuple[float, str]] = []
        self._says_matched_ms: float | None = None
        self.tool_counts: dict[str, int] = defaultdict(int)
        self.pending = _Pending()
        self.tool_tasks: set[asyncio.Task[None]] = set()
        self.awaiting_response = False
        self.follow_ups: set[str] = set()
        self.last_agent_activity_ms = 0.0
        self.persona: PersonaCaller | None = None
        if scenario.persona is not None:
            # the persona's lines join this trial's own copy of the script
            self.scenario = scenario.model_copy(update={"turns": list(scenario.turns)})
            self.persona = PersonaCaller(
                self.scenario, model=self.opt.caller_model, replay=self.opt.persona_replay,
                render=_render_line, annotate=self.writer.annotate,
                escalation_tools=config.escalation_tools)

    def add_turn_audio(self, rendered: Any) -> None:
        """A turn added to the script during the call (a persona's line): its audio."""
        self.script = dataclasses.replace(self.script, turns=(*self.script.turns, rendered))
        self.stream.script = self.script

    # ------------------------------------------------------------------ clock & sending

    def now_ms(self) -> float:
        return (time.perf_counter_ns() - self.t0_ns) / 1e6

    async def send(self, event: ClientEvent) -> None:
        await self.conn.send(event)
        self.writer.frame(self.now_ms(), "sent", event["type"], dict(event))

    def _annotate_playback(self, events: list[PlaybackEvent]) -> None:
        for ev in events:
            it = ev.item
            if ev.kind == "started":
                payload: Any = PlaybackStarted(response_id=it.response_id, item_id=it.item_id)
                self.writer.annotate(ev.t_ms, "harness.playback.started", payload)
            elif ev.kind == "audible":
                payload = PlaybackAudible(response_id=it.response_id, item_id=it.item_id,
                                          onset_ms=round(ev.t_ms, 3))
                self.writer.annotate(ev.t_ms, "harness.playback.audible", payload)
            else:
                self.last_agent_activity_ms = max(self.last_agent_activity_ms, ev.t_ms)
                payload = PlaybackStopped(
                    response_id=it.response_id, item_id=it.item_id,
                    reason=ev.reason,  # type: ignore[arg-type]
                    played_ms=round(ev.played_ms, 3), dropped_ms=round(ev.dropped_ms, 3),
                    received_ms=round(ev.received_ms, 3))
                self.writer.annotate(ev.t_ms, "harness.playback.stopped", payload)

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """Set up the session, stream every turn, wait for the agent to go idle, close."""
        receiver = asyncio.create_task(self._receive_loop())
        streamer: asyncio.Task[None] | None = None
        try:
            await self._setup(receiver)
            # Full passes of the cyclic GC over everything loaded so far stall the event loop for
            # tens of ms, late for every stream; frozen objects are skipped (run_suite unfreezes).
            gc.freeze()
            streamer = asyncio.create_task(self._stream_loop())
            done, _ = await asyncio.wait({receiver, streamer},
                                         return_when=asyncio.FIRST_COMPLETED)
            if streamer not in done:
                streamer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await streamer
                receiver.result()  # raises what broke the receive loop
                raise NoAnswer(f"{self.conn.target.label} stopped the receive loop")
            streamer.result()
        finally:
            if self.persona is not None:
                self.persona.cancel()
            tasks = [receiver, *self.tool_tasks] + ([streamer] if streamer is not None else [])
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._annotate_playback(self.playback.interrupt(self.now_ms(), "session_end")[1])

    async def _setup(self, receiver: asyncio.Task[None]) -> None:
        instructions = self.config.instructions
        if instructions is None and self.config.instructions_file is not None:
            instructions = Path(self.config.instructions_file).read_text(encoding="utf-8")
        await self.send(self.protocol.session_update(self.config, instructions))
        ready = asyncio.create_task(self._ready.wait())
        try:
            done, _ = await asyncio.wait({ready, receiver}, timeout=self.opt.setup_timeout_s,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        if receiver in done:
            receiver.result()
        if self._setup_error is not None:
            raise self._setup_error
        if not self._ready.is_set():
            raise NoAnswer(f"{self.conn.target.label} did not answer session.update with "
                           f"session.updated within {self.opt.setup_timeout_s:g} s")

    # ------------------------------------------------------------------ receiving

    async def _receive_loop(self) -> None:
        while True:
            text, arrived_ns = await self.conn.recv()
            t = (arrived_ns - self.t0_ns) / 1e6
            rec = self.protocol.receive(text, t)
            if rec.type == AUDIO_DELTA:
                self._on_audio_frame(rec, t)
                continue
            extra = {"raw_type": rec.raw_type} if rec.raw_type else {}
            self.writer.frame(t, "received", rec.type, rec.event, **extra)
            for notice in rec.notices:
                await self._on_notice(notice, t)

    def _on_audio_frame(self, rec: Received, t: float) -> None:
        delta = next((n for n in rec.notices if isinstance(n, AudioDelta)), None)
        if delta is None:
            self._annotate_playback(self.playback.advance(t))
            return
        if self.out_law is None:
            pcm = np.frombuffer(delta.data[: len(delta.data) // 2 * 2], dtype="<i2")
        else:
            pcm = decode_g711(delta.data, self.out_law)
        extra: dict[str, Any] = {"raw_type": rec.raw_type} if rec.raw_type else {}
        self._play_agent_audio(rec.event, rec.notices, delta, pcm, t, extra)

    def _play_agent_audio(self, event: dict[str, Any], notices: list[Any], delta: AudioDelta,
                          pcm: np.ndarray, t: float, extra: dict[str, Any]) -> None:
        """Agent audio arrived: into ``agent_stream``, onto the playback clock, into the file."""
        self._annotate_playback(self.playback.advance(t))
        ref = {"track": "agent_stream", "start_sample": self.agent_stream_samples,
               "samples": len(pcm), "sample_rate": self.out_rate}
        self.agent_stream.append(pcm)
        self.agent_stream_samples += len(pcm)
        played, events = self.playback.add(delta.response_id, delta.item_id, pcm, t)
        if not played:
            extra["dropped"] = True
        self.writer.frame(t, "received", AUDIO_DELTA, {**event, "delta": {"audio_ref": ref}},
                          **extra)
        for notice in notices:
            if isinstance(notice, ResponseCreated):
                self._response_created(notice.response_id)
        self.last_agent_activity_ms = max(self.last_agent_activity_ms, t)
        self._annotate_playback(events)

    async def _on_notice(self, notice: Any, t: float) -> None:
        if isinstance(notice, SessionReady):
            self._ready.set()
        elif isinstance(notice, SpeechStarted):
            if self.playback.active():
                await self.interrupt(t)
        elif isinstance(notice, ResponseCreated):
            self._response_created(notice.response_id)
            self.last_agent_activity_ms = max(self.last_agent_activity_ms, t)
        elif isinstance(notice, AudioDone) and not self.server_playback:
            self._annotate_playback(self.playback.complete_item(notice.item_id, t))
        elif isinstance(notice, TranscriptDelta):
            self.transcript.append((t, notice.text))
            if self.persona is not None and notice.spoken:
                self.persona.hear(t, notice.response_id, notice.text)
        elif isinstance(notice, FunctionCallReady):
            self._start_tool_answer(notice.call)
        elif isinstance(notice, ResponseDone):
            self.last_agent_activity_ms = max(self.last_agent_activity_ms, t)
            if not self.server_playback:
                self._annotate_playback(self.playback.complete_response(notice.response_id, t))
            await self._maybe_follow_up(notice.response_id)
        elif isinstance(notice, ServerError) and not self._ready.is_set():
            self._setup_error = setup_refused(notice.code, notice.message,
                                              self.conn.target.label)
            self._ready.set()

    def _response_created(self, response_id: str) -> None:
        if self.awaiting_response:
            self.follow_ups.add(response_id)
        self.awaiting_response = False

    async def interrupt(self, t: float) -> None:
        """Stop playback now; truncate the played item; cancel the response if the server won't."""
        item, events = self.playback.interrupt(t)
        self._annotate_playback(events)
        if item is not None:
            played_ms = item.played * 1000.0 / self.out_rate
            await self.send(self.protocol.truncate(item.item_id, int(played_ms)))
        if self.client_cancels:
            for response in self.protocol.in_progress():
                await self.send(self.protocol.response_cancel(response.id))

    # ------------------------------------------------------------------ the caller stream

    async def _stream_loop(self) -> None:
        """Send chunk k at ``start + (k + 1)·chunk_ms`` on the loop's shared :class:`Pacer`.
        Right after a chunk went out the next chunk's text is built (a new block only after every
        stream due at this tick has sent), so the work at a send time is the send itself."""
        stream = self.stream
        chunk_ns = self.opt.chunk_ms * 1_000_000
        pacer = Pacer.current()
        start_ns = pacer.join(chunk_ns)
        try:
            stream.prepare()
            await pacer.wait(start_ns)
            self.stream_start_ms = (start_ns - self.t0_ns) / 1e6
            self.writer.annotate(self.stream_start_ms, "harness.stream.started", StreamStarted(
                sample_rate=stream.sample_rate, chunk_ms=self.opt.chunk_ms,
                input_audio_format=self.config.input_audio_format))
            k = 0
            while True:
                due_ns = start_ns + (k + 1) * chunk_ns
                await pacer.wait(due_ns)
                due_ms = (due_ns - self.t0_ns) / 1e6
                if stream.turn is None and await self._tick(self.now_ms(), due_ms):
                    return
                k, ended = await self._send_chunk(due_ms)
                for turn_index, edge, due in self._speech_edges.sent(k):
                    self._speech_sent(TurnSpeechSent(turn_index=turn_index, edge=edge,
                                                     scheduled_ms=due))
                if ended:
                    await self._end_turn()
                if stream.block_ends():
                    await asyncio.sleep(0)
                stream.prepare()
                k += 1
        finally:
            pacer.leave(start_ns, chunk_ns)

    def _speech_sent(self, edge: TurnSpeechSent) -> None:
        """The chunk holding a turn's speech onset or end was just sent: say so, now."""
        self.writer.annotate(self.now_ms(), "harness.turn.speech_sent", edge)

    async def _send_chunk(self, due_ms: float) -> tuple[int, bool]:
        """Send the stream's next chunk as ``input_audio_buffer.append`` and record it: (its
        index, whether it ends a turn)."""
        text, k, ended = self.stream.next()
        await self.conn.send_text(text)
        n = self.stream.chunk_samples
        self.writer.caller_chunk(self.now_ms(), due_ms, k * n, n, self.stream.sample_rate)
        return k, ended

    async def _tick(self, now: float, at: float) -> bool:
        """Between turns: start the next turn if it is due. True when the session should close.

        ``now`` is the session time (agent state is read at it), ``at`` the scheduled send time of
        the chunk about to go out: waits are measured to ``at``, so a turn never starts before
        its wait is over even when the chunk goes out late.
        """
        self._annotate_playback(self.playback.advance(now))
        prev = self.turns[-1] if self.turns else None
        gap = self.scenario.reaction_gap_ms
        persona = self.persona
        if self.next_turn >= len(self.scenario.turns) and persona is not None \
                and not persona.done and not persona.step(self, now, at, prev):
            return False  # the caller is waiting for its moment, or thinking
        if self.next_turn >= len(self.scenario.turns):
            if prev is None:  # a persona that hung up before saying a word
                return True
            if self.playback.active() or self.awaiting_response or \
                    any(self.pending.calls.values()):
                return False
            quiet = self._quiet_since(prev.end_ms)
            answered = prev.addressed and self._answered(prev)
            if answered and self._idle(prev):
                return at >= quiet + gap
            if not answered and prev.waits_for_answer(at, self.scenario.turn_timeout_ms):
                return False
            # a response the agent holds open without a sound does not keep the call alive
            return at >= quiet + self.scenario.idle_timeout_ms
        trigger = self._trigger(now, at, prev, gap)
        if trigger is not None:
            await self._start_turn(now, trigger)
        return False

    async def _start_turn(self, now: float, trigger: str) -> None:
        index = self.next_turn
        turn = self.scenario.turns[index]
        audio = self.script.turns[index]
        active = self.stream.start_turn(index, audio.samples)
        assert self.stream_start_ms is not None
        start = self.stream_start_ms
        send_ms = self.stream.send_time_ms

        def at(sample: int | None) -> float | None:
            if sample is None:
                return None
            return round(send_ms(start, self.stream.chunk_of_sample(active, sample)), 3)

        onset = getattr(audio, "speech_onset_sample", None)
        end = getattr(audio, "speech_end_sample", None)
        pauses = [(at(a), at(b)) for a, b in getattr(audio, "pauses", [])]
        for edge, sample in (("onset", onset), ("end", end)):
            if sample is not None:
                chunk = self.stream.chunk_of_sample(active, sample)
                self._speech_edges.add(chunk, index, edge, round(send_ms(start, chunk), 3))
        state = TurnState(index, send_ms(start, active.first_chunk),
                           send_ms(start, active.last_chunk), at(end), turn.addressed)
        self.turns.append(state)
        self.next_turn += 1
        self._says_matched_ms = None
        self.writer.annotate(now, "harness.turn.started", TurnStarted(
            turn_index=index, kind=turn.kind, text=turn.spoken_text,
            spoken_text=getattr(audio, "spoken_text", turn.spoken_text),
            addressed=turn.addressed, start_ms=round(state.start_ms, 3),
            end_ms=round(state.end_ms, 3), speech_onset_ms=at(onset), speech_end_ms=at(end),
            pauses_ms=pauses, cut_off=bool(getattr(audio, "cut_off", turn.cut_off is not None)),
            entity=turn.entity, intent=turn.intent,
            trigger=trigger,  # type: ignore[arg-type]
            barge_in_at_agent_ms=turn.barge_in.at_agent_ms if turn.barge_in else None))
        if self.manual_turns and turn.addressed and self.playback.active():
            await self.interrupt(now)

    async def _end_turn(self) -> None:
        state = self.turns[-1]
        self.writer.annotate(self.now_ms(), "harness.turn.ended",
                             TurnEnded(turn_index=state.index))
        if self.manual_turns and state.addressed:
            await self.send(self.protocol.commit())
            self.awaiting_response = True
            await self.send(self.protocol.response_create())

    # ------------------------------------------------------------------ the end

    @property
    def started(self) -> bool:
        """The target accepted the session: from here on, what happens is the agent's doing."""
        return self._ready.is_set() and self._setup_error is None

    def finish(self, status: str, error: str | None, *, time_limit_s: float | None = None
               ) -> None:
        """Write the closing annotation, the tracks and the final meta."""
        t = self.now_ms()
        if status in ("completed", "errored"):
            self.writer.annotate(t, "harness.trial.ended", TrialEnded(
                status=status, error=error,  # type: ignore[arg-type]
                time_limit_s=time_limit_s))
        agent_stream = (np.concatenate(self.agent_stream) if self.agent_stream
                        else np.zeros(0, dtype=np.int16))
        caller = self.stream.caller_track()
        total_ms = len(caller) * 1000.0 / self.stream.sample_rate + (self.stream_start_ms or 0.0)
        agent = self.playback.timeline(total_ms)
        self.writer.finish(status=status, error=error, caller=caller,
                           caller_rate=self.stream.sample_rate,
                           caller_offset_ms=self.stream_start_ms or 0.0, agent_stream=agent_stream,
                           agent=agent, agent_rate=self.out_rate)
