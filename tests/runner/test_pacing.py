"""The shared pacing clock: streams on a grid, spread over phases, released at their tick."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
import time

import pytest

from harness.runner import pacing
from harness.runner.capture import TRACK_WRITER_NICE, in_track_writer
from harness.runner.pacing import GRID_NS, STREAMS_PER_PHASE, Pacer

PERIOD_NS = 20 * GRID_NS


async def _stream(pacer: Pacer, chunks: int, late: list[int]) -> int:
    start = pacer.join(PERIOD_NS)
    try:
        await pacer.wait(start)
        for k in range(chunks):
            due = start + (k + 1) * PERIOD_NS
            await pacer.wait(due)
            late.append(time.perf_counter_ns() - due)
        return start
    finally:
        pacer.leave(start, PERIOD_NS)


@pytest.mark.parametrize("timerfd", [True, False], ids=["timerfd", "loop-timer"])
def test_streams_are_released_at_their_tick_never_before(monkeypatch, timerfd):
    if timerfd and not pacing._timerfd_usable():
        pytest.skip("timerfd pacing is Linux-only")
    monkeypatch.setattr(pacing, "_timerfd_usable", lambda: timerfd)

    async def go() -> tuple[list[int], list[int]]:
        late: list[int] = []
        starts = await asyncio.gather(*(_stream(Pacer.current(), 10, late) for _ in range(12)))
        return starts, late

    starts, late = asyncio.run(go())
    assert all(s % GRID_NS == 0 for s in starts)
    assert len(late) == 120 and min(late) >= 0
    assert sorted(late)[60] < 5_000_000  # the median chunk leaves within 5 ms of its tick


def test_a_phase_fills_up_to_its_share_before_the_next_one_opens():
    async def go() -> list[int]:
        pacer = Pacer.current()
        starts = [pacer.join(PERIOD_NS) for _ in range(STREAMS_PER_PHASE + 1)]
        for s in starts:
            pacer.leave(s, PERIOD_NS)
        return starts

    starts = asyncio.run(go())
    phases = [(s // GRID_NS) % 20 for s in starts]
    assert len(set(phases[:STREAMS_PER_PHASE])) == 1
    assert phases[-1] != phases[0]


def test_once_every_phase_is_full_new_streams_spread_evenly():
    async def go() -> list[int]:
        pacer = Pacer.current()
        starts = [pacer.join(PERIOD_NS) for _ in range(20 * STREAMS_PER_PHASE + 20)]
        for s in starts:
            pacer.leave(s, PERIOD_NS)
        return starts

    starts = asyncio.run(go())
    counts = [0] * 20
    for s in starts:
        counts[(s // GRID_NS) % 20] += 1
    assert sorted(counts) == [STREAMS_PER_PHASE + 1] * 20


def test_the_timer_is_released_with_the_last_stream_and_comes_back_with_the_next():
    if not pacing._timerfd_usable():
        pytest.skip("timerfd pacing is Linux-only")

    async def go() -> None:
        pacer = Pacer.current()
        late: list[int] = []
        await _stream(pacer, 2, late)
        assert pacer._timerfd is None
        await _stream(pacer, 2, late)
        assert len(late) == 4 and min(late) >= 0

    asyncio.run(go())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread niceness is a Linux feature")
def test_tracks_are_written_below_the_event_loop_priority():
    def nice() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def go() -> int:
        return await in_track_writer(nice)

    assert asyncio.run(go()) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + TRACK_WRITER_NICE)
