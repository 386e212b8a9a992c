"""Calls live in this process, and a wait for there to be none: a finished run is graded when no
other call of the process is streaming.

Grading a run (speech recognition of its recordings, timelines, the report) takes a few seconds
of CPU a trial. Runs gathered in one process (a comparison's variants, a nightly's suites, a
test's table of faults) would otherwise grade one run while another's calls stream in real
time, and the CPU that grading takes is the CPU a local agent answers with: the very latencies
being graded would move with the order the runs happened to finish in. A run therefore waits,
before it is graded, until the process has no live call (at most :data:`QUIET_WAIT_S`, so that a
process that never falls quiet still grades). Calls in other processes are not seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

QUIET_WAIT_S = 600.0
"""The longest a finished run waits for the process's other calls before it is graded anyway."""
POLL_S = 0.1

_lock = threading.Lock()
_live = 0


@contextlib.contextmanager
def live_call() -> Iterator[None]:
    """Count a call as live in this process while the block runs."""
    global _live
    with _lock:
        _live += 1
    try:
        yield
    finally:
        with _lock:
            _live -= 1


def live_calls() -> int:
    """How many calls are live in this process now."""
    with _lock:
        return _live


async def until_quiet(longest_s: float = QUIET_WAIT_S) -> float:
    """Wait until no call is live in this process, or ``longest_s`` has passed; the seconds
    waited."""
    started = time.monotonic()
    while live_calls() and time.monotonic() - started < longest_s:
        await asyncio.sleep(POLL_S)
    return time.monotonic() - started
