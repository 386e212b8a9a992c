"""The playback clock: agent audio "played" as a phone would play it, without I/O or a clock.

A response's audio item starts playing when its first delta arrives, or when the audio before it
finishes, and plays at real-time rate. If the server falls behind real time the item pauses and
resumes when more audio arrives (an underrun). An item has finished playing when its audio is
complete (``response.output_audio.done`` or ``response.done``) and the queue ran dry. On
:meth:`PlaybackClock.interrupt` everything stops at once; audio that arrives later for an
interrupted response is dropped, never played.

Every method takes the session time in ms: the clock is driven by its caller, so it is tested by
feeding it deltas and times. :meth:`PlaybackClock.advance` returns the playback events that have
happened by ``now``, each with its exact time.

**Audible onset**: the first sample whose magnitude reaches :data:`AUDIBLE_THRESHOLD` (328, i.e.
-40 dBFS). Leading silence or a faint noise floor in the agent's audio is not speech a caller
would hear; -40 dBFS sits above TTS/codec noise floors and well below any spoken syllable.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

AUDIBLE_THRESHOLD = 328
"""|sample| at or above this (-40 dBFS of int16 full scale) is audible."""


@dataclass
class Segment:
    """A stretch of an item played without a gap: ``samples`` from ``offset``, from ``t_ms`` on."""

    t_ms: float
    offset: int
    samples: int


@dataclass
class PlayItem:
    """One audio item of a response on the playback timeline."""

    response_id: str
    item_id: str
    first_arrival_ms: float
    chunks: list[np.ndarray] = field(default_factory=list)
    received: int = 0
    complete: bool = False
    state: Literal["queued", "playing", "stopped"] = "queued"
    segments: list[Segment] = field(default_factory=list)
    onset_sample: int | None = None
    audible_emitted: bool = False
    stopped_reason: str | None = None
    stopped_ms: float | None = None
    played: int = 0

    def runout_ms(self, rate: int) -> float:
        """When the audio received so far has played out."""
        seg = self.segments[-1]
        return seg.t_ms + seg.samples * 1000.0 / rate

    def played_at(self, now_ms: float, rate: int) -> int:
        """Samples played by ``now_ms``."""
        total = 0
        for seg in self.segments:
            if now_ms <= seg.t_ms:
                break
            total += min(seg.samples, int((now_ms - seg.t_ms) * rate / 1000.0))
        return total

    def time_of_sample(self, sample: int, rate: int) -> float | None:
        for seg in self.segments:
            if seg.offset <= sample < seg.offset + seg.samples:
                return seg.t_ms + (sample - seg.offset) * 1000.0 / rate
        return None

    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, dtype=np.int16)


@dataclass
class PlaybackEvent:
    """Something that happened on the playback timeline, at ``t_ms``."""

    kind: Literal["started", "audible", "stopped"]
    t_ms: float
    item: PlayItem
    reason: str | None = None
    played_ms: float = 0.0
    dropped_ms: float = 0.0
    received_ms: float = 0.0


class PlaybackClock:
    """Plays agent audio items in order at real-time rate (sans-I/O)."""

    def __init__(self, sample_rate: int):
        self.rate = sample_rate
        self.items: list[PlayItem] = []
        self._by_id: dict[str, PlayItem] = {}
        self._queue: list[PlayItem] = []
        self._last_end_ms = 0.0
        self.interrupted_responses: set[str] = set()
        self.dropped_late_samples = 0

    # ------------------------------------------------------------------ feeding

    def add(self, response_id: str, item_id: str, pcm: np.ndarray, now_ms: float
            ) -> tuple[bool, list[PlaybackEvent]]:
        """Agent audio arrived. Returns (played: False when it is dropped, events up to now)."""
        events = self.advance(now_ms)
        item = self._by_id.get(item_id)
        stopped = item is not None and item.state == "stopped"
        if response_id in self.interrupted_responses or stopped:
            self.dropped_late_samples += len(pcm)
            if item is not None:
                item.chunks.append(pcm)
                item.received += len(pcm)
            return False, events
        if item is None:
            item = PlayItem(response_id, item_id, now_ms)
            self.items.append(item)
            self._by_id[item_id] = item
            self._queue.append(item)
        before = item.received
        item.chunks.append(pcm)
        item.received += len(pcm)
        if item.onset_sample is None and len(pcm):
            loud = np.flatnonzero(np.abs(pcm.astype(np.int32)) >= AUDIBLE_THRESHOLD)
            if loud.size:
                item.onset_sample = before + int(loud[0])
        if item.state == "playing":
            if now_ms >= item.runout_ms(self.rate):
                item.segments.append(Segment(now_ms, before, len(pcm)))
            else:
                item.segments[-1].samples += len(pcm)
        events += self.advance(now_ms)
        return True, events

    def complete_item(self, item_id: str, now_ms: float) -> list[PlaybackEvent]:
        """The item's audio is complete (``response.output_audio.done``)."""
        item = self._by_id.get(item_id)
        if item is not None:
            item.complete = True
        return self.advance(now_ms)

    def complete_response(self, response_id: str, now_ms: float) -> list[PlaybackEvent]:
        """The response is done: all its items are complete."""
        for item in self.items:
            if item.response_id == response_id:
                item.complete = True
        return self.advance(now_ms)

    # ------------------------------------------------------------------ time

    def advance(self, now_ms: float) -> list[PlaybackEvent]:
        """Playback events that have happened by ``now_ms``, in time order."""
        events: list[PlaybackEvent] = []
        while self._queue:
            item = self._queue[0]
            if item.state == "queued":
                start = max(item.first_arrival_ms, self._last_end_ms)
                if start > now_ms or item.received == 0:
                    break
                item.state = "playing"
                item.segments.append(Segment(start, 0, item.received))
                events.append(PlaybackEvent("started", start, item))
            if not item.audible_emitted and item.onset_sample is not None:
                onset = item.time_of_sample(item.onset_sample, self.rate)
                if onset is not None and onset <= now_ms:
                    item.audible_emitted = True
                    events.append(PlaybackEvent("audible", onset, item))
            runout = item.runout_ms(self.rate)
            if item.complete and runout <= now_ms:
                events.append(self._stop(item, runout, "drained", item.received))
                self._last_end_ms = runout
                self._queue.pop(0)
                continue
            break
        return events

    def _stop(self, item: PlayItem, t_ms: float, reason: str, played: int) -> PlaybackEvent:
        item.state = "stopped"
        item.stopped_reason = reason
        item.stopped_ms = t_ms
        item.played = played
        # cut the segments to what was played, so the agent track holds only heard audio
        left = played
        for seg in item.segments:
            seg.samples = min(seg.samples, max(left, 0))
            left -= seg.samples
        ms = 1000.0 / self.rate
        return PlaybackEvent("stopped", t_ms, item, reason, played_ms=played * ms,
                             dropped_ms=(item.received - played) * ms,
                             received_ms=item.received * ms)

    def interrupt(self, now_ms: float, reason: str = "interrupted"
                  ) -> tuple[PlayItem | None, list[PlaybackEvent]]:
        """Stop everything now. Returns (the item that was playing, events including its stop)."""
        events = self.advance(now_ms)
        playing: PlayItem | None = None
        for item in self._queue:
            if item.state == "playing":
                playing = item
                events.append(self._stop(item, now_ms, reason, item.played_at(now_ms, self.rate)))
            else:
                item.state = "stopped"
                item.stopped_reason = reason
                item.stopped_ms = now_ms
            if reason == "interrupted":
                self.interrupted_responses.add(item.response_id)
        self._queue.clear()
        self._last_end_ms = now_ms
        return playing, events

    # ------------------------------------------------------------------ queries

    def active(self) -> bool:
        """Audio is playing or waiting to play (a phone's speaker is busy with the agent)."""
        return bool(self._queue)

    def audible_at(self, now_ms: float) -> bool:
        """Agent audio is coming out of the speaker at ``now_ms``."""
        return bool(self._queue) and self._queue[0].state == "playing" and \
            self._queue[0].runout_ms(self.rate) > now_ms

    def last_end_ms(self) -> float:
        """When the last finished item stopped playing."""
        return self._last_end_ms

    def played_since_onset(self, since_ms: float, now_ms: float) -> float | None:
        """Agent playback time from the first audible onset at or after ``since_ms`` up to now.

        None while no item has become audible since ``since_ms``.
        """
        onsets = [t for it in self.items if it.audible_emitted and it.onset_sample is not None
                  and (t := it.time_of_sample(it.onset_sample, self.rate)) is not None
                  and since_ms <= t <= now_ms]
        if not onsets:
            return None
        start = min(onsets)
        total = 0.0
        for it in self.items:
            for seg in it.segments:
                seg_end = seg.t_ms + seg.samples * 1000.0 / self.rate
                if it.stopped_ms is not None:
                    seg_end = min(seg_end, it.stopped_ms)
                total += max(0.0, min(seg_end, now_ms) - max(seg.t_ms, start))
        return total

    def timeline(self, total_ms: float) -> np.ndarray:
        """The agent track on the playback timeline (what the caller heard), ``total_ms`` long."""
        n_total = int(total_ms * self.rate / 1000.0)
        for it in self.items:
            for seg in it.segments:
                n_total = max(n_total, int(round(seg.t_ms * self.rate / 1000.0)) + seg.samples)
        out = np.zeros(n_total, dtype=np.int32)
        for it in self.items:
            if not it.segments:
                continue
            audio = it.audio()
            for seg in it.segments:
                pos = int(round(seg.t_ms * self.rate / 1000.0))
                piece = audio[seg.offset: seg.offset + seg.samples]
                out[pos: pos + len(piece)] += piece
        return np.clip(out, -32768, 32767).astype(np.int16)
