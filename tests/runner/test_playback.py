"""The playback clock, fed deltas and times by hand (no sockets, no clock)."""

from __future__ import annotations

import numpy as np

from harness.runner.playback import AUDIBLE_THRESHOLD, PlaybackClock

RATE = 24_000


def _pcm(ms: float, amp: int = 5000) -> np.ndarray:
    return np.full(int(RATE * ms / 1000), amp, dtype=np.int16)


def _kinds(events):
    return [(e.kind, round(e.t_ms, 3)) for e in events]


def test_plays_from_first_delta_at_real_time_and_drains():
    clock = PlaybackClock(RATE)
    _, ev = clock.add("r1", "a1", _pcm(300), 100.0)
    assert _kinds(ev) == [("started", 100.0), ("audible", 100.0)]
    clock.add("r1", "a1", _pcm(300), 110.0)  # faster than real time: queued behind
    assert clock.complete_item("a1", 120.0) == []
    assert clock.audible_at(699.0) and clock.advance(699.0) == []
    (stop,) = clock.advance(750.0)
    assert (stop.kind, stop.t_ms, stop.reason, stop.played_ms) == ("stopped", 700.0, "drained",
                                                                   600.0)
    assert not clock.active() and clock.last_end_ms() == 700.0


def test_leading_silence_delays_the_audible_onset():
    clock = PlaybackClock(RATE)
    quiet = np.full(RATE // 10, AUDIBLE_THRESHOLD - 1, dtype=np.int16)  # 100 ms under threshold
    _, ev = clock.add("r1", "a1", np.concatenate([quiet, _pcm(200)]), 50.0)
    assert _kinds(ev) == [("started", 50.0)]
    assert _kinds(clock.advance(200.0)) == [("audible", 150.0)]


def test_next_response_waits_for_the_previous_one():
    clock = PlaybackClock(RATE)
    clock.add("r1", "a1", _pcm(500), 0.0)
    clock.complete_response("r1", 10.0)
    _, ev = clock.add("r2", "a2", _pcm(200), 100.0)
    assert ev == []
    assert _kinds(clock.advance(600.0)) == [("stopped", 500.0), ("started", 500.0),
                                            ("audible", 500.0)]


def test_underrun_pauses_and_resumes_when_audio_arrives():
    clock = PlaybackClock(RATE)
    clock.add("r1", "a1", _pcm(100), 0.0)
    clock.add("r1", "a1", _pcm(100), 250.0)  # arrived 150 ms after the first ran out
    clock.complete_item("a1", 260.0)
    (stop,) = clock.advance(400.0)
    assert stop.t_ms == 350.0 and stop.played_ms == 200.0
    assert clock.played_since_onset(0.0, 400.0) == 200.0
    track = clock.timeline(400.0)
    assert np.count_nonzero(track[: int(0.1 * RATE)]) == int(0.1 * RATE)
    assert np.count_nonzero(track[int(0.1 * RATE): int(0.25 * RATE)]) == 0


def test_interrupt_stops_at_once_and_drops_later_audio():
    clock = PlaybackClock(RATE)
    clock.add("r1", "a1", _pcm(2000), 0.0)
    item, ev = clock.interrupt(800.0)
    assert item is not None and item.item_id == "a1"
    (stop,) = [e for e in ev if e.kind == "stopped"]
    assert (stop.t_ms, stop.reason, stop.played_ms, stop.dropped_ms) == (800.0, "interrupted",
                                                                         800.0, 1200.0)
    played, ev = clock.add("r1", "a1", _pcm(500), 900.0)
    assert not played and ev == [] and clock.dropped_late_samples == RATE // 2
    played, _ = clock.add("r1", "a9", _pcm(100), 950.0)  # another item of the cancelled response
    assert not played
    assert np.count_nonzero(clock.timeline(3000.0)) == int(0.8 * RATE)
    assert not clock.active()


def test_played_since_onset_counts_only_audio_after_the_reference():
    clock = PlaybackClock(RATE)
    clock.add("r1", "a1", _pcm(400), 0.0)
    clock.complete_response("r1", 5.0)
    clock.add("r2", "a2", _pcm(400), 1000.0)
    clock.advance(1300.0)
    assert clock.played_since_onset(500.0, 1300.0) == 300.0
    assert clock.played_since_onset(1301.0, 1300.0) is None
