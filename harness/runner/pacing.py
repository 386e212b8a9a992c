"""One clock for every caller stream of an event loop: chunk send times on a shared, precise grid.

A timer per stream had two costs. The event loop sleeps in its selector with millisecond
resolution, rounded up, so every chunk left 0–1 ms after its time; and with 200 streams the loop
woke 10 000 times a second, once per chunk. Here every stream starts on a tick of a 1 ms grid
(:data:`GRID_NS`), so every chunk of every stream is due on a tick; streams share the phases of the
chunk period a few at a time (:data:`STREAMS_PER_PHASE`), so the streams due at a tick are
released together, by one wake-up of the loop. On Linux that wake-up comes from a timerfd armed to
the tick's absolute time and watched by the loop's selector (nanosecond deadline, no thread);
elsewhere from a loop timer (millisecond resolution). :meth:`Pacer.wait` never returns early.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import heapq
import os
import sys
import threading
import time
import weakref
from collections import Counter
from typing import Any

GRID_NS = 1_000_000
"""Streams start on ticks of this grid (ns on ``time.perf_counter_ns``), so chunks fall on ticks."""
STREAMS_PER_PHASE = 10
"""Streams a phase of the chunk period takes before a new phase opens. A wake-up of a loop that
was idle costs far more CPU than a chunk sent from an awake one (cold caches: 0.2 ms against
0.05 ms on a 2-core virtual machine), so few streams share one wake-up; ten chunks in a row delay
the last one by about half a millisecond."""
STREAMING_SWITCH_INTERVAL_S = 0.0005
"""The interpreter's thread switch interval while streams run. Each socket send releases the
GIL; a thread running Python meanwhile (writing a finished trial's tracks and meta, rendering,
an in-process agent) keeps it until this interval has passed, and the default of 5 ms, paid at
a few sends of one tick, made the 30-70 ms stalls of 200 streams."""


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


class _TimerFD:
    """A Linux timerfd on CLOCK_MONOTONIC (``time.perf_counter_ns``'s clock) armed to absolute
    times: readable once the time has come."""

    _CLOCK_MONOTONIC = 1
    _TFD_TIMER_ABSTIME = 1
    _libc: ctypes.CDLL | None = None

    def __init__(self) -> None:
        if hasattr(os, "timerfd_create"):  # Python 3.13+
            self.fd = os.timerfd_create(time.CLOCK_MONOTONIC,
                                        flags=os.TFD_NONBLOCK | os.TFD_CLOEXEC)
            self.arm = self._arm_os
            return
        if _TimerFD._libc is None:
            libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
            libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int,
                                             ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
            _TimerFD._libc = libc
        self._settime = _TimerFD._libc.timerfd_settime
        self.fd = _TimerFD._libc.timerfd_create(self._CLOCK_MONOTONIC,
                                                os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "timerfd_create failed")
        self._spec = _Itimerspec()
        self._spec_ref = ctypes.byref(self._spec)
        self.arm = self._arm_libc

    def _arm_os(self, t_ns: int) -> None:
        os.timerfd_settime_ns(self.fd, flags=os.TFD_TIMER_ABSTIME, initial=t_ns)

    def _arm_libc(self, t_ns: int) -> None:
        value = self._spec.it_value
        value.tv_sec, value.tv_nsec = divmod(t_ns, 1_000_000_000)
        if self._settime(self.fd, self._TFD_TIMER_ABSTIME, self._spec_ref, None) < 0:
            raise OSError(ctypes.get_errno(), "timerfd_settime failed")

    def drain(self) -> None:
        try:
            os.read(self.fd, 8)
        except BlockingIOError:
            pass

    def close(self) -> None:
        os.close(self.fd)


def _timerfd_usable() -> bool:
    return sys.platform == "linux" and \
        time.get_clock_info("perf_counter").implementation == "clock_gettime(CLOCK_MONOTONIC)"


_switch_interval = {"streaming_loops": 0, "saved": sys.getswitchinterval()}
_switch_interval_lock = threading.Lock()


def _streaming_switch_interval(on: bool) -> None:
    """Shorten the switch interval while any loop of the process streams; restore it after."""
    state = _switch_interval
    with _switch_interval_lock:
        _count_streaming_loop(state, on)


def _count_streaming_loop(state: dict[str, Any], on: bool) -> None:
    if on:
        if state["streaming_loops"] == 0:
            state["saved"] = sys.getswitchinterval()
            sys.setswitchinterval(min(state["saved"], STREAMING_SWITCH_INTERVAL_S))
        state["streaming_loops"] += 1
    else:
        state["streaming_loops"] -= 1
        if state["streaming_loops"] == 0:
            sys.setswitchinterval(state["saved"])


class Pacer:
    """The shared clock of one event loop; get it with :meth:`current`."""

    _by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Pacer] = \
        weakref.WeakKeyDictionary()

    @classmethod
    def current(cls) -> Pacer:
        """The pacer of the running event loop (created on first use)."""
        loop = asyncio.get_running_loop()
        pacer = cls._by_loop.get(loop)
        if pacer is None:
            pacer = cls._by_loop[loop] = cls(loop)
        return pacer

    def __init__(self, loop: asyncio.AbstractEventLoop):
        self._loop = loop
        self._waiters: dict[int, list[asyncio.Future[None]]] = {}
        self._ticks: list[int] = []  # heap of the ticks that have waiters
        self._phases: dict[int, Counter[int]] = {}
        self._streams = 0
        self._timerfd: _TimerFD | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._armed: int | None = None

    # ------------------------------------------------------------------ streams

    def join(self, period_ns: int) -> int:
        """Register a stream of chunk period ``period_ns``; returns its start time (a grid tick).

        The start is within one period from now: on the fullest phase that still has room, else
        on the emptiest phase (the earliest of equals), so few phases wake the loop while streams
        are few, and every phase carries its share when they are many.
        """
        n = max(1, period_ns // GRID_NS)
        load = self._phases.setdefault(n, Counter())
        first = time.perf_counter_ns() // GRID_NS + 1
        ticks = range(first, first + n)
        room = [t for t in ticks if 0 < load[t % n] < STREAMS_PER_PHASE]
        if room:
            tick = max(room, key=lambda t: (load[t % n], -t))
        else:
            tick = min(ticks, key=lambda t: (load[t % n], t))
        load[tick % n] += 1
        if self._streams == 0:
            if _timerfd_usable():
                self._timerfd = self._open_timerfd()
            _streaming_switch_interval(True)
        self._streams += 1
        return tick * GRID_NS

    def leave(self, start_ns: int, period_ns: int) -> None:
        """Unregister a stream :meth:`join` started at ``start_ns``."""
        n = max(1, period_ns // GRID_NS)
        self._phases[n][(start_ns // GRID_NS) % n] -= 1
        self._streams -= 1
        if self._streams == 0:
            self._close_timerfd()
            _streaming_switch_interval(False)

    def _open_timerfd(self) -> _TimerFD | None:
        """A timerfd watched by the loop, or None (then loop timers pace the streams)."""
        try:
            timerfd = _TimerFD()
        except OSError:
            return None
        try:
            self._loop.add_reader(timerfd.fd, self._on_timer)
        except NotImplementedError:  # a loop that cannot watch file descriptors
            timerfd.close()
            return None
        return timerfd

    def _close_timerfd(self) -> None:
        if self._timerfd is not None:
            self._loop.remove_reader(self._timerfd.fd)
            self._timerfd.close()
            self._timerfd = None
            self._armed = None

    # ------------------------------------------------------------------ waiting

    async def wait(self, due_ns: int) -> None:
        """Return at ``due_ns`` (a grid tick), or at once, without yielding, when it has passed."""
        if due_ns <= time.perf_counter_ns():
            return
        waiters = self._waiters.get(due_ns)
        if waiters is None:
            waiters = self._waiters[due_ns] = []
            heapq.heappush(self._ticks, due_ns)
            self._arm(self._ticks[0])
        fut = self._loop.create_future()
        waiters.append(fut)
        await fut

    def _arm(self, tick: int) -> None:
        if self._armed is not None and self._armed <= tick:
            return
        self._armed = tick
        if self._timerfd is not None:
            self._timerfd.arm(tick)
            return
        if self._timer is not None:
            self._timer.cancel()
        delay_s = max(0.0, (tick - time.perf_counter_ns()) / 1e9)
        self._timer = self._loop.call_at(self._loop.time() + delay_s, self._on_timer)

    def _on_timer(self) -> None:
        """Release every tick that has come; arm for the next one."""
        if self._timerfd is not None:
            self._timerfd.drain()
        self._armed = None
        self._timer = None
        now = time.perf_counter_ns()
        ticks = self._ticks
        while ticks and ticks[0] <= now:
            for fut in self._waiters.pop(heapq.heappop(ticks), ()):
                if not fut.done():
                    fut.set_result(None)
        if ticks:
            self._arm(ticks[0])
