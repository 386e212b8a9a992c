"""The agent's ear: the input audio buffer, server VAD, turns (their transcripts: ``hearing``) and
the turn timers.

Timers (a held utterance's deadline, the idle timeout, the end of a turn) run on the caller's
stream time while audio arrives, so an agent that falls behind a real-time stream does not
judge time it has not heard yet. When the client stops sending audio (push-to-talk, a muted
microphone, a client that simply stops after its utterance), wall-clock time takes over after
``STALL_MS``: the turn in progress ends, holds expire and the idle timeout fires as they would
on a silent stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, Protocol

import numpy as np

from harness import audio
from harness.agent import asr, config
from harness.agent.conversation import ClientEventError, Item, Response
from harness.agent.dialogue import DialoguePolicy
from harness.agent.events import new_id
from harness.agent.faults import Faults
from harness.agent.hearing import Hearing, keys_pressed
from harness.agent.protocol import AgentProtocol
from harness.agent.vad import (
    CALLER_TURN_GATE_DB,
    SpeechPaused,
    SpeechStarted,
    SpeechStopped,
    VadEvent,
    VoiceActivityDetector,
    follow_level,
)

# The smallest buffer the service commits by hand.
MIN_COMMIT_MS = 100
# Audio before the current turn kept in the input buffer (the service's buffer is unbounded;
# a long silent stretch need not be kept whole).
_MAX_IDLE_BUFFER_MS = 30_000
# Trailing silence given to the speculative transcript so the last word is not clipped.
_SPECULATION_TAIL_MS = 150
# No audio for this long: the client has stopped streaming and wall-clock time drives the timers.
# Longer than any pause a loaded real-time sender makes between chunks.
STALL_MS = 500
_TICK_S = 0.1


class Voice(Protocol):
    """What the listener needs of the responder (:class:`harness.agent.responder.Responder`)."""

    playback_end: float

    def audible(self) -> bool: ...

    def barge_in(self) -> None: ...

    def cancel(self, response: Response, reason: str) -> None: ...

    def start(self, params: dict[str, Any], input_items: list[Item] | None = None) -> None: ...

    def policy(self) -> DialoguePolicy: ...


class Listener:
    """Input side of one session; ``responder`` is set by the connection before audio flows."""

    def __init__(self, protocol: AgentProtocol, faults: Faults,
                 recogniser: str | None = None) -> None:
        self.protocol = protocol
        self.faults = faults
        self.recogniser = recogniser  # the profile's model (None: the harness's default)
        self.responder: Voice
        self._loop = asyncio.get_running_loop()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._buffer: list[np.ndarray] = []
        self._buffer_start_ms = 0.0
        self.stream_ms = 0.0
        self._last_audio_at = self._loop.time()
        self._stall_seen: float | None = None  # the last audio time a clock tick has seen
        self._speech_item_id: str | None = None
        self._speech_start_ms = 0
        # (speech end, the turn's early transcript, the early one heard with held turns)
        self._speculation: tuple[int, asyncio.Task[str], asyncio.Task[str] | None] | None = None
        self._idle_from_ms: float | None = None
        self._idle_from_at: float | None = None  # the same moment on the loop clock
        self._hold_until_ms: float | None = None
        self._hold_until_at = 0.0
        # Resolved True when a held utterance's time is up, False when the caller goes on.
        self._hold_expiry: asyncio.Future[bool] | None = None
        # The user audio items whose words are held, and those the turn under way goes on from
        # (heard together with them as well).
        self._held_items: list[Item] = []
        self._going_on_from: list[Item] = []
        self.hearing = Hearing(self)
        self._deferred_vad: list[VadEvent] = []
        self.vad: VoiceActivityDetector | None = None
        self._vad_origin_ms = 0.0
        self._caller_level_db: float | None = None
        self._caller_turn_level_db: float | None = None
        self._rebuild_vad()

    # ----------------------------------------------------------------------- plumbing

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def run_clock(self) -> None:
        """Wall-clock timers for a client that stops streaming (runs for the session)."""
        while True:
            await asyncio.sleep(_TICK_S)
            self.tick()

    @property
    def input_rate(self) -> int:
        return self.protocol.input_rate

    def _stalled_ms(self) -> float:
        """How long no audio has arrived (0 while it flows, or while that has been seen by one
        clock tick only: after the loop was busy, frames still queued get read first)."""
        quiet = (self._loop.time() - self._last_audio_at) * 1000.0
        if quiet < STALL_MS or self._stall_seen != self._last_audio_at:
            return 0.0
        return quiet

    def tick(self) -> None:
        """Let wall-clock time stand in for stream time once the audio has stopped."""
        stalled = self._stalled_ms()
        self._stall_seen = self._last_audio_at
        if not stalled:
            return
        if self.vad is not None and self.vad.speaking and stalled >= self.vad.silence_duration_ms:
            stopped = self.vad.end_of_input()
            if stopped is not None:
                self._on_vad(stopped)
        self._check_hold()
        self._check_idle_timeout()

    # ----------------------------------------------------------------------- session changes

    def session_changed(self, format_changed: bool, turn_detection_changed: bool) -> None:
        if format_changed:
            # The service fixes formats before audio flows; a change restarts the buffer.
            self._buffer = []
            self._buffer_start_ms = self.stream_ms
        if format_changed or turn_detection_changed:
            self._rebuild_vad()

    def _rebuild_vad(self) -> None:
        if self.vad is not None and self.vad.caller_level_db is not None:
            self._caller_level_db = self.vad.caller_level_db
        td = config.turn_detection(self.protocol.session)
        if td is None:
            self.vad = None
            return
        self.vad = VoiceActivityDetector(
            self.input_rate, threshold=td.threshold, prefix_padding_ms=td.prefix_padding_ms,
            silence_duration_ms=td.silence_duration_ms,
            caller_gate=not self.faults.opens_caller_gate)
        self.vad.caller_level_db = self._caller_level_db
        # The VAD's clock restarts at zero; it reports times relative to now.
        self._vad_origin_ms = self.stream_ms
        self.vad.buffer_start_ms = int(self._buffer_start_ms - self._vad_origin_ms)

    # ----------------------------------------------------------------------- audio in

    def append(self, samples: np.ndarray) -> None:
        """Caller audio from ``input_audio_buffer.append``."""
        self._last_audio_at = self._loop.time()
        self._buffer.append(samples)
        self.stream_ms += len(samples) * 1000.0 / self.input_rate
        if self.vad is None:
            return
        recognizer = asr.loaded_recognizer(self.recogniser)
        if recognizer is not None:
            # Speculate early enough for the transcript to be ready when the turn ends.
            self.vad.speculation_lead_ms = int(recognizer.recent_seconds * 1000) + 50
        if self.faults.talk_over_noise:
            # The fault's gates are open while the agent is quiet, and closed while it
            # responds: noise starts turns it answers, and only the caller's voice stops it.
            self.vad.caller_gate = self.protocol.response is not None or self.responder.audible()
        for vad_event in self.vad.feed(samples):
            self._on_vad(vad_event)
        self._trim_buffer()
        self._check_hold()
        self._check_idle_timeout()

    def _trim_buffer(self) -> None:
        if self.vad is None or self.vad.speaking:
            return
        keep_from = self.stream_ms - _MAX_IDLE_BUFFER_MS
        if keep_from > self._buffer_start_ms + 5000:
            self._drop_buffer_until(keep_from)

    def _take_audio(self, start_ms: float, end_ms: float) -> np.ndarray:
        if not self._buffer:
            return np.zeros(0, dtype=np.int16)
        data = np.concatenate(self._buffer) if len(self._buffer) > 1 else self._buffer[0]
        self._buffer = [data]
        rate = self.input_rate
        lo = max(0, int(round((start_ms - self._buffer_start_ms) * rate / 1000)))
        hi = max(lo, int(round((end_ms - self._buffer_start_ms) * rate / 1000)))
        return data[lo:hi].copy()

    def _drop_buffer_until(self, ms: float) -> None:
        rest = self._take_audio(ms, self.stream_ms)
        self._buffer = [rest] if len(rest) else []
        self._buffer_start_ms = self.stream_ms - len(rest) * 1000.0 / self.input_rate

    def commit(self) -> None:
        """``input_audio_buffer.commit``: the whole buffer becomes a user message."""
        buffered_ms = self.stream_ms - self._buffer_start_ms
        if buffered_ms < MIN_COMMIT_MS:
            raise ClientEventError(
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"{MIN_COMMIT_MS}ms of audio, but buffer only has {buffered_ms:.2f}ms of audio.",
                code="input_audio_buffer_commit_empty")
        pcm = self._take_audio(self._buffer_start_ms, self.stream_ms)
        self._drop_buffer_until(self.stream_ms)
        if self.vad is not None:
            self.vad.reset(int(self.stream_ms - self._vad_origin_ms))
        item_id = (self._speech_item_id if self.vad is not None and self.vad.speaking
                   and self._speech_item_id else new_id("item"))
        self._speech_item_id = None
        self._commit(item_id, pcm, None)

    def clear(self) -> None:
        """``input_audio_buffer.clear``."""
        self._buffer = []
        self._buffer_start_ms = self.stream_ms
        self._drop_speculation()
        if self.vad is not None:
            self.vad.reset(int(self.stream_ms - self._vad_origin_ms))
        self.protocol.buffer_cleared()

    def _commit(self, item_id: str, pcm: np.ndarray, transcript_task: asyncio.Task[str] | None,
                *, no_input: bool = False) -> Item:
        item = self.protocol.commit_audio(item_id, pcm, no_input=no_input)
        self.hearing.turn_committed(item, transcript_task)
        return item

    # ----------------------------------------------------------------------- VAD and turns

    def _on_vad(self, vad_event: VadEvent) -> None:
        if self._deferred_vad or (
                isinstance(vad_event, SpeechStarted) and self.faults.ignore_barge_in
                and self.responder.audible()):
            # The agent does not listen while it talks: the turn is heard once it is done.
            if not self._deferred_vad:
                self._loop.call_at(self.responder.playback_end, self._flush_deferred_vad)
            self._deferred_vad.append(vad_event)
            return
        origin = self._vad_origin_ms
        if isinstance(vad_event, SpeechStarted):
            self._on_speech_started(int(origin + vad_event.audio_start_ms))
        elif isinstance(vad_event, SpeechPaused):
            self._speculate(int(origin + vad_event.speech_end_ms))
        elif isinstance(vad_event, SpeechStopped):
            self._on_speech_stopped(int(origin + vad_event.audio_end_ms),
                                    int(origin + vad_event.speech_end_ms))

    def _flush_deferred_vad(self) -> None:
        if self.responder.audible():
            self._loop.call_at(self.responder.playback_end, self._flush_deferred_vad)
            return
        events, self._deferred_vad = self._deferred_vad, []
        for vad_event in events:
            self._on_vad(vad_event)

    def _on_speech_started(self, audio_start_ms: int) -> None:
        self._speech_item_id = new_id("item")
        self._speech_start_ms = audio_start_ms
        self._drop_speculation()
        self._idle_from_ms = self._idle_from_at = None
        self._going_on_from = []
        if self._hold_expiry is not None and not self._hold_expiry.done():
            # The caller goes on: the next turn's transcript joins the held words.
            self._hold_expiry.set_result(False)
            self._going_on_from = self._held_items
        self.protocol.speech_started(audio_start_ms, self._speech_item_id)
        td = config.turn_detection(self.protocol.session)
        # ignore_barge_in talks on over the caller; a reply not yet playing is replaced as
        # without the fault (the turns heard after its talk, two breaths of one answer, are
        # answered together, not the first alone and the second at the next turn)
        talking_on = self.faults.ignore_barge_in and self.responder.audible()
        self.responder.barge_in()
        current = self.protocol.response
        if td is not None and td.interrupt_response and not talking_on and current is not None:
            self.responder.cancel(current, "turn_detected")

    def _drop_speculation(self) -> None:
        # A queued transcription that nobody will read must not hold up the shared workers.
        if self._speculation is not None:
            for task in self._speculation[1:]:
                if task is not None:
                    task.cancel()
            self._speculation = None

    def _speculate(self, speech_end_ms: int) -> None:
        recognizer = asr.loaded_recognizer(self.recogniser)
        if recognizer is None or not recognizer.spare:
            return  # speculation only uses spare capacity; the final transcript always runs
        self._drop_speculation()
        end = min(self.stream_ms, speech_end_ms + _SPECULATION_TAIL_MS)
        pcm = self._take_audio(self._speech_start_ms, end)
        held = self.hearing.audio_of(self._going_on_from)
        # without runner-ups: the caller may go on, and a search already in a worker thread
        # cannot be called back; the committed turn has them searched where wanted
        as_one = None if held is None else self.hearing.transcribe_as_one(
            np.concatenate([held, pcm]), runner_ups=False)
        self._speculation = (speech_end_ms,
                             self.hearing.spawn_transcription(pcm, runner_ups=False), as_one)

    def _on_speech_stopped(self, audio_end_ms: int, speech_end_ms: int) -> None:
        item_id = self._speech_item_id or new_id("item")
        self._speech_item_id = None
        self.protocol.speech_stopped(audio_end_ms, item_id)
        pcm = self._take_audio(self._speech_start_ms, audio_end_ms)
        speculation = self._speculation
        transcript_task = as_one_task = None
        if speculation is not None and speculation[0] == speech_end_ms:
            _, transcript_task, as_one_task = speculation
            self._speculation = None
        self._drop_speculation()
        self._drop_buffer_until(audio_end_ms)
        item = self._commit(item_id, pcm, transcript_task)
        going_on_from, self._going_on_from = self._going_on_from, []
        if going_on_from:
            self.hearing.went_on([*going_on_from, item], as_one_task)
        item.addressed = self._judge_turn(pcm)
        td = config.turn_detection(self.protocol.session)
        if td is not None and td.create_response and self.protocol.response is None:
            self.responder.start({})

    def _judge_turn(self, pcm: np.ndarray) -> bool:
        """Whether a VAD turn is the caller talking to the agent, by its level (see ``vad``)."""
        if keys_pressed(pcm, self.input_rate):
            return True  # keys pressed: meant for the agent, and no measure of the caller's voice
        level = audio.active_speech_level(pcm, self.input_rate)
        if not np.isfinite(level):
            return True
        ref = self._caller_turn_level_db
        if ref is not None and level < ref - CALLER_TURN_GATE_DB:
            # talk_over_noise answers it all the same (the caller's level still comes from
            # the caller's own turns: its gate closes on it while the agent responds)
            return self.faults.talk_over_noise
        self._caller_turn_level_db = follow_level(ref, level)
        assert self.vad is not None
        self.vad.learn_caller_level()
        return True

    # ----------------------------------------------------------------------- timers

    def hold(self, hold_ms: int, items: list[Item] | None = None) -> asyncio.Future[bool]:
        """Wait ``hold_ms`` for the caller to go on: the future is True when the time ran out,
        False when speech started first. ``items`` are the user messages whose words are held
        (a turn that goes on from them is heard again together with them)."""
        self._held_items = list(items or [])
        self._hold_until_ms = self.stream_ms + hold_ms
        self._hold_until_at = self._loop.time() + hold_ms / 1000.0
        self._hold_expiry = expiry = self._loop.create_future()

        def done(_: asyncio.Future[bool]) -> None:
            if self._hold_expiry is expiry:
                self._hold_expiry = self._hold_until_ms = None

        expiry.add_done_callback(done)
        return expiry

    def _check_hold(self) -> None:
        """The policy held an unfinished utterance; the caller did not go on in time."""
        expiry = self._hold_expiry
        if expiry is None or expiry.done() or self._hold_until_ms is None:
            return
        if self.vad is not None and self.vad.speaking:
            return
        stalled_out = self._stalled_ms() and self._loop.time() >= self._hold_until_at
        if self.stream_ms >= self._hold_until_ms or stalled_out:
            expiry.set_result(True)

    def response_started(self) -> None:
        self._idle_from_ms = self._idle_from_at = None

    def response_finished(self, playback_left_ms: float) -> None:
        """A conversation response is done; the idle time counts from the end of its audio."""
        self._idle_from_ms = self.stream_ms + playback_left_ms
        self._idle_from_at = self._loop.time() + playback_left_ms / 1000.0

    def _check_idle_timeout(self) -> None:
        td = config.turn_detection(self.protocol.session)
        if td is None or td.idle_timeout_ms is None or self.vad is None or self.vad.speaking:
            return
        if self.protocol.response is not None or self.responder.audible() or self._deferred_vad:
            return
        if self._idle_from_ms is None or self._idle_from_at is None:
            return
        idle_ms = self.stream_ms - self._idle_from_ms
        if self._stalled_ms():
            idle_ms = max(idle_ms, (self._loop.time() - self._idle_from_at) * 1000.0)
        if idle_ms < td.idle_timeout_ms:
            return
        item_id = new_id("item")
        start_ms = int(self._idle_from_ms)
        end_ms = max(start_ms, int(self.stream_ms))
        self._idle_from_ms = self._idle_from_at = None
        self.protocol.timeout_triggered(start_ms, end_ms, item_id)
        pcm = self._take_audio(start_ms, end_ms)
        self._drop_buffer_until(min(end_ms, self.stream_ms))
        self.vad.reset(int(self.stream_ms - self._vad_origin_ms))
        self._commit(item_id, pcm, None, no_input=True)
        if td.create_response:
            self.responder.start({})
