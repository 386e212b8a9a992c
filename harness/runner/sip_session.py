"""One scenario trial over a SIP call: the caller dials, speaks its turns as G.711 RTP, hears the
agent's RTP, and sees the agent's tool calls through the tool endpoint it serves.

A SIP call carries no Realtime events, so what the harness knows comes from three places:

- **Its own side**, as over a WebSocket: the caller stream's chunks (G.711 RTP every 20 ms on
  the loop's shared pacer), turn starts, speech edges and ends.
- **The agent's audio**, decoded and stamped as each packet arrives (as a phone plays it). It
  has finished speaking when inaudible for :data:`QUIET_MS`; its responses are rebuilt from the
  audio after the call (:mod:`harness.runner.rebuilt`), and its words by the run's transcriber
  (the local recogniser or a transcription endpoint); a transcriber that fails errors the trial.
- **Tool calls** through :class:`harness.runner.webhooks.ToolWebhooks`, served for the call's
  duration with the scenario's mocks; the INVITE names it in ``X-Harness-Tools`` (the local
  agent calls it there; another agent's tools are pointed at it by its owner).

**When a turn starts** follows the WebSocket rules (:mod:`harness.runner.turns`) with what the
audio tells: the agent is idle when no tool call is in flight and it has been quiet for
:data:`QUIET_MS` (a caller cannot know sooner that it has finished), so the caller waits the
longer of its reaction gap and that; the first turn starts after the lead-in of bed, or after a
greeting and that wait, so its words fall on the same noise as over a WebSocket; a turn after
an addressed one waits for agent audio that began after the caller's speech ended;
``barge_in`` counts agent audio from its onset; ``after_ms`` and the turn timeout are
unchanged. ``when_agent_says`` matches the agent's words
as the harness heard them during the call: each stretch of agent speech since the previous turn
ended, transcribed by the run's transcriber once the agent has been quiet for :data:`QUIET_MS`
(without a transcriber such a scenario errors with that reason).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any

import numpy as np

from harness.audio import DTMF_KEY_OFF_MS as KEY_OFF_MS
from harness.audio import DTMF_KEY_ON_MS as KEY_ON_MS
from harness.errors import TargetError
from harness.realtime.targets import Target
from harness.recording import (
    StreamStarted,
    TrialEnded,
    TurnEnded,
    TurnSpeechSent,
    TurnStarted,
)
from harness.runner.caller import CallerStream
from harness.runner.capture import RecordingWriter
from harness.runner.pacing import Pacer
from harness.runner.rebuilt import (
    AGENT_GAP_MS,
    AUDIBLE_THRESHOLD,
    CALL_RATE,
    FrameList,
    attach_calls,
    mark_barge_ins,
    speech_of,
    tool_call_of,
    write_agent_speech,
)
from harness.runner.sideband import (
    INCOMING_TIMEOUT_S,
    Sideband,
    input_frames,
    instructions_of,
    sideband_settings,
    spoken_texts,
    unless_it_fails,
    until_either,
)
from harness.runner.turns import SpeechEdges, TurnState
from harness.runner.webhooks import TOOLS_LISTEN_ENV, ToolWebhooks, WebhookCall, fixed_listen
from harness.scenario.models import AgentConfig, Scenario
from harness.sip.call import AUDIO_RATE, CallRejected, SipCall

QUIET_MS = AGENT_GAP_MS
"""The agent has finished speaking once it has been inaudible this long (the same gap that
makes its sound one response when the call is rebuilt)."""
TOOLS_HEADER = "X-Harness-Tools"  # names the call's tool endpoint (``http://HOST:PORT``)
AUDIBLE_RECENT_MS = 60.0
"""Agent audio heard this recently is still playing (three 20 ms packets)."""
NOT_OVER_SIP = {
    "input_heard": "a SIP call carries no transcript of what the agent heard",
    "speech_matches_transcript": "over SIP the agent's words are known only from its audio: "
                                 "there is no transcript of its own to compare them with",
}
"""Kinds that need what a SIP call does not carry: ``not_applicable`` with the reason."""


class CallRefused(TargetError):
    """The far end refused the call (or never answered): the trial is errored with the reason."""

    retryable = False


class SipConnection:
    """What a SIP target opens: nothing yet. The trial places the call itself, because its
    INVITE names the tool endpoint the trial serves."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.call: SipCall | None = None
        self.call_id: str | None = None

    async def close(self) -> None:
        if self.call is not None:
            await self.call.close()


class SipTrialSession:
    """Runs one scenario trial over a SIP call and records it (see the module docstring)."""

    def __init__(self, *, scenario: Scenario, config: AgentConfig, script: Any,
                 connection: SipConnection, writer: RecordingWriter, t0_ns: int,
                 options: Any = None) -> None:
        from harness.runner.session import SessionOptions  # noqa: PLC0415 - no cycle at import

        self.scenario = scenario
        self.config = config
        self.script = script
        self.conn = connection
        self.writer = writer
        self.t0_ns = t0_ns
        self.opt = options or SessionOptions()
        self.frames = FrameList(writer)
        host, port = fixed_listen() or ("127.0.0.1", 0)
        self.webhooks = ToolWebhooks(config, scenario.tools, host=host, port=port,
                                     clock=self._clock_s)
        settings = sideband_settings()
        self.sideband = None if settings is None else Sideband(
            settings, config=config, mocks=scenario.tools, instructions=instructions_of(config),
            clock=self.now_ms)
        self.stream: CallerStream | None = None
        self.stream_start_ms: float | None = None
        self.turns: list[TurnState] = []
        self.next_turn = 0
        self._edges = SpeechEdges()
        self._agent: list[tuple[int, np.ndarray]] = []  # (start sample at 24 kHz, pcm)
        self._agent_end = 0
        self.last_audible_ms: float | None = None
        self.onsets: list[float] = []
        self._ready = asyncio.Event()
        self.hung_up_by: str | None = None
        self._presses: set[asyncio.Task[None]] = set()
        # the agent's words heard during the call (for when_agent_says): (from ms, text)
        self._heard: list[tuple[float, str]] = []
        self._heard_to_ms = 0.0
        self._hearing: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ clock

    def now_ms(self) -> float:
        return (time.perf_counter_ns() - self.t0_ns) / 1e6

    def _clock_s(self) -> float:
        return self.now_ms() / 1000.0

    @property
    def started(self) -> bool:
        """The far end answered: from here on, what happens is the agent's doing."""
        return self._ready.is_set()

    # ------------------------------------------------------------------ the call

    async def run(self) -> None:
        """Place the call, stream every turn, wait for the agent to finish, hang up."""
        if any(t.when_agent_says is not None for t in self.scenario.turns) and \
                getattr(self.opt, "transcribe", None) is None:
            raise TargetError("when_agent_says needs the agent's words as they are said; a SIP "
                              "call carries only audio, and this run has no transcriber for it "
                              "(use after_ms or the default trigger)")
        try:
            base = await self.webhooks.start()
        except OSError as exc:
            raise TargetError(f"the tool endpoint cannot listen on {self.webhooks.host}:"
                              f"{self.webhooks.port} ({TOOLS_LISTEN_ENV}): "
                              f"{exc.strerror or exc}") from None
        streamer: asyncio.Task[None] | None = None
        follow: asyncio.Task[None] | None = None
        try:
            headers = {**self.conn.target.headers, TOOLS_HEADER: base}
            setup_s = self.opt.setup_timeout_s
            if self.sideband is not None:
                follow = asyncio.create_task(self.sideband.run())
                headers.update(self.sideband.headers)
                setup_s += INCOMING_TIMEOUT_S
            call = SipCall(self.conn.target.url, on_audio=self._on_audio, headers=headers,
                           credentials=self.conn.target.credentials,
                           route=self.conn.target.sip_route, send_rate=8_000)
            self.conn.call = call
            self.frames.add(self.now_ms(), "sent", "sip.invite",
                            {"type": "sip.invite", "to": self.conn.target.label})
            try:
                media = await unless_it_fails(call.place(timeout_s=setup_s), follow)
            except CallRejected as exc:
                raise CallRefused(f"{self.conn.target.label} refused the call: {exc}") from None
            self.frames.add(self.now_ms(), "received", "sip.answered", {
                "type": "sip.answered", "codec": media.codec,
                "telephone_event": media.dtmf_payload_type is not None, "srtp": media.srtp})
            self.conn.call_id = call.call_id
            fmt = "audio/pcmu" if media.codec == "PCMU" else "audio/pcma"
            self.stream = CallerStream(self.script, input_format=fmt, wire_text=False)
            self._ready.set()
            streamer = asyncio.create_task(self._stream_loop(call))
            ended = asyncio.create_task(call.ended.wait())
            done = await until_either(streamer, ended, follow)
            if streamer in done:
                streamer.result()
            else:
                self.hung_up_by = call.hung_up_by or "remote"
                self.frames.add(self.now_ms(), "received", "sip.bye",
                                {"type": "sip.bye", "by": self.hung_up_by})
            ended.cancel()
        finally:
            if streamer is not None and not streamer.done():
                streamer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await streamer
            for task in [*self._presses, *([self._hearing] if self._hearing else []),
                         *([follow] if follow else [])]:
                task.cancel()
            await self.webhooks.stop()
            if self.sideband is not None:
                await self.sideband.close()

    # ------------------------------------------------------------------ the agent's audio

    def _on_audio(self, pcm: np.ndarray, arrived_ns: int) -> None:
        t = (arrived_ns - self.t0_ns) / 1e6
        start = max(self._agent_end, int(round(t * CALL_RATE / 1000)))
        self._agent.append((start, pcm))
        self._agent_end = start + len(pcm)
        loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) >= AUDIBLE_THRESHOLD)
        if len(loud):
            first = 1000.0 * (start + int(loud[0])) / CALL_RATE
            if self.last_audible_ms is None or first - self.last_audible_ms >= QUIET_MS:
                self.onsets.append(first)
            self.last_audible_ms = 1000.0 * (start + int(loud[-1])) / CALL_RATE

    def agent_track(self) -> np.ndarray:
        """The agent's audio on the session clock (sample 0 = t 0), at 24 kHz."""
        out = np.zeros(self._agent_end, dtype=np.int16)
        for start, pcm in self._agent:
            out[start: start + len(pcm)] = pcm
        return out

    # ------------------------------------------------------------------ turns

    def _tool_calls(self) -> list[WebhookCall]:
        """The agent's tool calls: through the tool endpoint, and on a sideband."""
        return self.webhooks.calls + (self.sideband.calls if self.sideband else [])

    def _tools_in_flight(self) -> bool:
        return any(c.t_answered is None for c in self._tool_calls())

    def _quiet_since(self, ref: float) -> float:
        answered = [1000.0 * c.t_answered for c in self._tool_calls()
                    if c.t_answered is not None]
        return max([ref, self.last_audible_ms or 0.0, *answered])

    def _audible(self, at: float) -> bool:
        return self.last_audible_ms is not None and at - self.last_audible_ms < AUDIBLE_RECENT_MS

    def _answered(self, turn: TurnState) -> bool:
        since = turn.speech_end_ms if turn.speech_end_ms is not None else turn.start_ms
        return any(onset >= since for onset in self.onsets)

    def _trigger(self, at: float, prev: TurnState | None) -> str | None:
        turn = self.scenario.turns[self.next_turn]
        assert self.stream_start_ms is not None
        ref = prev.end_ms if prev is not None else self.stream_start_ms
        if turn.after_ms is not None:
            return "after_ms" if at >= ref + turn.after_ms else None
        if at >= ref + self.scenario.turn_timeout_ms:
            return "timeout"
        wait = max(self.scenario.reaction_gap_ms, QUIET_MS)
        idle = not self._tools_in_flight() and at >= self._quiet_since(ref) + wait
        if prev is None:
            # as over a WebSocket: the lead-in, and the reaction gap only after a greeting
            greeted = self.last_audible_ms is not None
            ready = not self._tools_in_flight() and at >= max(
                self.stream_start_ms + self.opt.lead_in_ms,
                self._quiet_since(ref) + wait if greeted else ref)
            return "first" if ready else None
        answered = not prev.addressed or self._answered(prev)
        if turn.when_agent_says is not None:
            self._hear(ref, at)
            said = " ".join(text for t, text in self._heard if t >= ref)
            return "when_agent_says" if idle and re.search(turn.when_agent_says, said) else None
        if turn.barge_in is not None:
            onset = next((o for o in self.onsets if o >= ref), None)
            if onset is not None and at - onset >= turn.barge_in.at_agent_ms \
                    and self._audible(at):
                return "barge_in"
        return "after_agent" if idle and answered else None

    def _hear(self, ref: float, at: float) -> None:
        """Transcribe the agent's speech since ``ref`` that has ended (quiet for
        :data:`QUIET_MS`) and is not heard yet, one stretch at a time, off the event loop."""
        last = self.last_audible_ms
        if self._hearing is not None or last is None or at - last < QUIET_MS or \
                last <= max(ref, self._heard_to_ms):
            return
        start = max(ref, self._heard_to_ms)
        onset = next((o for o in self.onsets if o >= start), start)
        self._heard_to_ms = last
        piece = self.agent_track()[int(onset * CALL_RATE / 1000):
                                   int((last + 100.0) * CALL_RATE / 1000)]
        transcribe = self.opt.transcribe

        async def hear() -> None:
            try:
                texts = await asyncio.to_thread(transcribe, [piece], CALL_RATE)
                self._heard.append((onset, " ".join(t for t in texts if t)))
            finally:
                self._hearing = None

        self._hearing = asyncio.ensure_future(hear())

    def _over(self, at: float) -> bool:
        """After the last turn: whether the call can end."""
        prev = self.turns[-1]
        if self._tools_in_flight():
            return False
        quiet = self._quiet_since(prev.end_ms)
        if prev.addressed and self._answered(prev):
            return at >= quiet + max(self.scenario.reaction_gap_ms, QUIET_MS)
        if prev.waits_for_answer(at, self.scenario.turn_timeout_ms):
            return False
        return at >= quiet + self.scenario.idle_timeout_ms

    async def _stream_loop(self, call: SipCall) -> None:
        """Send chunk k at ``start + (k + 1)·20 ms`` on the loop's shared pacer (as over a
        WebSocket); between turns, start the next one when it is due."""
        stream = self.stream
        assert stream is not None
        chunk_ns = stream.chunk_ms * 1_000_000
        pacer = Pacer.current()
        start_ns = pacer.join(chunk_ns)
        try:
            stream.prepare()
            await pacer.wait(start_ns)
            self.stream_start_ms = (start_ns - self.t0_ns) / 1e6
            self._annotate(self.stream_start_ms, "harness.stream.started", StreamStarted(
                sample_rate=stream.sample_rate, chunk_ms=stream.chunk_ms,
                input_audio_format="audio/pcmu" if stream.law == "ulaw" else "audio/pcma"))
            k = 0
            while True:
                due_ns = start_ns + (k + 1) * chunk_ns
                await pacer.wait(due_ns)
                due_ms = (due_ns - self.t0_ns) / 1e6
                if stream.turn is None:
                    if self.next_turn >= len(self.scenario.turns):
                        if self._over(due_ms):
                            return
                    else:
                        prev = self.turns[-1] if self.turns else None
                        trigger = self._trigger(due_ms, prev)
                        if trigger is not None:
                            self._start_turn(self.now_ms(), trigger)
                pcm, k, ended = stream.next_pcm()
                call.send_audio(pcm)
                n = stream.chunk_samples
                self.frames.add(self.now_ms(), "sent", "input_audio_buffer.append", {
                    "type": "input_audio_buffer.append", "audio": {"audio_ref": {
                        "track": "caller", "start_sample": k * n, "samples": n,
                        "sample_rate": stream.sample_rate}}}, scheduled_ms=round(due_ms, 3),
                    via="rtp")
                if k >= self._edges.next_chunk:
                    for turn_index, edge, due in self._edges.sent(k):
                        self._annotate(self.now_ms(), "harness.turn.speech_sent", TurnSpeechSent(
                            turn_index=turn_index, edge=edge, scheduled_ms=due))
                if ended:
                    self._annotate(self.now_ms(), "harness.turn.ended",
                                   TurnEnded(turn_index=self.turns[-1].index))
                stream.prepare()
                k += 1
        finally:
            pacer.leave(start_ns, chunk_ns)

    def _start_turn(self, now: float, trigger: str) -> None:
        stream = self.stream
        assert stream is not None and self.stream_start_ms is not None
        index = self.next_turn
        turn = self.scenario.turns[index]
        audio = self.script.turns[index]
        call = self.conn.call
        events = turn.dtmf is not None and call is not None and call.media is not None \
            and call.media.dtmf_payload_type is not None
        # keys go as RFC 4733 events where the far end takes them, silence in their place
        active = stream.start_turn(index, np.zeros_like(audio.samples) if events
                                   else audio.samples)
        start = self.stream_start_ms

        def at(sample: int | None) -> float | None:
            if sample is None:
                return None
            return round(stream.send_time_ms(start, stream.chunk_of_sample(active, sample)), 3)

        onset = getattr(audio, "speech_onset_sample", None)
        end = getattr(audio, "speech_end_sample", None)
        for edge, sample in (("onset", onset), ("end", end)):
            if sample is not None:
                chunk = stream.chunk_of_sample(active, sample)
                self._edges.add(chunk, index, edge, round(stream.send_time_ms(start, chunk), 3))
        if events and turn.dtmf is not None and onset is not None:
            step = (KEY_ON_MS + KEY_OFF_MS) * CALL_RATE // 1000  # the script's rate
            for i, key in enumerate(turn.dtmf):
                chunk = stream.chunk_of_sample(active, onset + i * step)
                self._press_at(stream.send_time_ms(start, chunk), key)
        state = TurnState(index, stream.send_time_ms(start, active.first_chunk),
                          stream.send_time_ms(start, active.last_chunk), at(end), turn.addressed)
        self.turns.append(state)
        self.next_turn += 1
        self._annotate(now, "harness.turn.started", TurnStarted(
            turn_index=index, kind=turn.kind, text=turn.spoken_text,
            spoken_text=getattr(audio, "spoken_text", turn.spoken_text),
            addressed=turn.addressed, start_ms=round(state.start_ms, 3),
            end_ms=round(state.end_ms, 3), speech_onset_ms=at(onset), speech_end_ms=at(end),
            pauses_ms=[(at(a), at(b)) for a, b in getattr(audio, "pauses", [])],
            cut_off=bool(getattr(audio, "cut_off", turn.cut_off is not None)),
            entity=turn.entity, intent=turn.intent,
            trigger=trigger,  # type: ignore[arg-type]
            barge_in_at_agent_ms=turn.barge_in.at_agent_ms if turn.barge_in else None))

    def _press_at(self, due_ms: float, key: str) -> None:
        """Press ``key`` (RFC 4733) when the stream reaches ``due_ms``; recorded as sent."""
        call = self.conn.call
        assert call is not None

        def press() -> None:
            self.frames.add(self.now_ms(), "sent", "sip.dtmf",
                            {"type": "sip.dtmf", "key": key, "duration_ms": KEY_ON_MS})
            task = asyncio.ensure_future(call.press(key, KEY_ON_MS))
            self._presses.add(task)
            task.add_done_callback(self._presses.discard)

        asyncio.get_running_loop().call_later(max(0.0, due_ms - self.now_ms()) / 1000, press)

    def _annotate(self, t_ms: float, type_: str, payload: Any) -> None:
        self.frames.add(t_ms, "harness", type_, payload.model_dump(mode="json"))

    # ------------------------------------------------------------------ the end

    def finish(self, status: str, error: str | None, *, time_limit_s: float | None = None
               ) -> tuple[str, str | None]:
        """Rebuild the agent's responses from its audio, write every frame in time order, the
        tracks and the final meta."""
        t = self.now_ms()
        agent = self.agent_track()
        if self.started:
            try:
                self._rebuild(agent)
            except TargetError as exc:  # a transcription endpoint refused; the rest is kept
                status, error = "errored", str(exc)
        if status in ("completed", "errored"):
            self._annotate(t, "harness.trial.ended", TrialEnded(
                status=status, error=error,  # type: ignore[arg-type]
                time_limit_s=time_limit_s))
        self.frames.write()
        call = self.conn.call
        self.writer.meta.sip = {  # type: ignore[attr-defined]
            "hung_up_by": self.hung_up_by or ("harness" if self.started else None),
            "codec": call.media.codec if call is not None and call.media else None,
            "signalling": [{"t_ms": round((ns - self.t0_ns) / 1e6, 3), "dir": d, "line": line}
                           for ns, d, line in (call.signals.entries if call else [])],
            **(call.stats() if call is not None else {}),
            "tool_endpoint": self.webhooks.base_url if self.webhooks.port else None,
            "tool_endpoint_rejected": [r.__dict__ for r in self.webhooks.rejected],
            **({"sideband": self.sideband.meta()} if self.sideband else {})}
        if self.sideband is not None:
            self.sideband.write(self.writer.folder)
        na = {str(i): NOT_OVER_SIP[e.kind] for i, e in enumerate(self.scenario.expect)
              if e.kind in NOT_OVER_SIP and not (self.sideband and self.sideband.events)}
        if na:
            self.writer.meta.not_applicable = na  # type: ignore[attr-defined]
        stream = self.stream
        caller = stream.caller_track() if stream is not None else np.zeros(0, dtype=np.int16)
        self.writer.finish(status=status, error=error, caller=caller,
                           caller_rate=stream.sample_rate if stream is not None else 8_000,
                           caller_offset_ms=self.stream_start_ms or 0.0, agent_stream=agent,
                           agent=agent, agent_rate=AUDIO_RATE)
        return status, error  # the trial's, which a failed transcription made errored

    def _rebuild(self, agent: np.ndarray) -> None:
        calls = self._tool_calls()
        speech = speech_of(agent, [1000.0 * c.t_answered for c in calls
                                   if c.t_answered is not None],
                           getattr(self.opt, "transcribe", None))
        if self.sideband is not None:
            spoken_texts(speech, self.sideband.transcripts)
            input_frames(self.frames, self.sideband)
        starts = [turn.start_ms for turn in self.turns]
        mark_barge_ins(starts, speech)
        orphans = attach_calls([tool_call_of(c) for c in calls], speech, starts)
        write_agent_speech(self.frames, speech, starts, orphans,
                           tool_source="sideband" if self.sideband else "webhook")
