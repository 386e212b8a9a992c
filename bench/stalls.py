"""Where the event loop stalls at N sessions: the worst loop lags and what overlapped each.

Usage: ``.venv/bin/python bench/stalls.py [--sessions 200] [--seconds 10] [--top 15]``

Runs ``bench/runner.py``'s jitter sessions (a light loopback server in its own process, real
sessions and recordings in this process) while a 1 ms loop-lag sampler runs on the same event
loop, and records, with their times, the cyclic GC's collections, the track writer's jobs (trial
set-up and finishing, see ``harness.runner.capture``) and the sessions' starts and ends. Printed:
the lag distribution and the worst lags, each with the GC passes, track writer jobs and session
starts or ends that overlapped it, and the share of the worst lags with none of them (then look
at other processes: the CPU wait share says how long this one waited for a core).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

from runner import LoopbackServer, _cpu_wait_ns, _jitter_scenario, _sessions

from harness.runner import capture, suite
from harness.stats import percentile

SAMPLE_S = 0.001


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    spans: list[tuple[str, float, float]] = []
    t0 = time.perf_counter()

    def timed(name: str, fn):
        async def wrapper(*a, **kw):
            start = time.perf_counter() - t0
            try:
                return await fn(*a, **kw)
            finally:
                spans.append((name, start, time.perf_counter() - t0))
        return wrapper

    queue_job = capture.in_track_writer

    async def track_job(fn, *a):
        def run():  # timed where it runs: on the track writer thread, not while queued
            start = time.perf_counter() - t0
            try:
                return fn(*a)
            finally:
                spans.append(("track writer job", start, time.perf_counter() - t0))
        return await queue_job(run)

    capture.in_track_writer = suite.in_track_writer = track_job
    suite._run_trial = timed("session", suite._run_trial)
    gc_start = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        now = time.perf_counter() - t0
        if phase == "start":
            gc_start[0] = now
        else:
            spans.append((f"gc gen {info['generation']}", gc_start[0], now))

    lags: list[tuple[float, float]] = []

    async def sampled(coro):
        async def sampler() -> None:
            while True:
                t = time.perf_counter()
                await asyncio.sleep(SAMPLE_S)
                lags.append((t - t0, (time.perf_counter() - t - SAMPLE_S) * 1000))

        task = asyncio.create_task(sampler())
        try:
            return await coro
        finally:
            task.cancel()

    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    sc, script = _jitter_scenario(args.seconds)
    with LoopbackServer() as url, tempfile.TemporaryDirectory() as tmp:
        asyncio.run(_sessions(url, sc, script, 1, Path(tmp) / "warm-up"))
        spans.clear()
        gc.callbacks.append(on_gc)
        wait0, w0 = _cpu_wait_ns(), time.perf_counter()
        t0 = time.perf_counter()
        asyncio.run(sampled(_sessions(url, sc, script, args.sessions, Path(tmp) / "run")))
        wall, wait1 = time.perf_counter() - w0, _cpu_wait_ns()
        gc.callbacks.remove(on_gc)
    values = [lag for _, lag in lags]
    print(f"{args.sessions} sessions, {len(values)} lag samples: p50 "
          f"{percentile(values, 50).value:.2f} ms, p99 {percentile(values, 99).value:.2f} ms, "
          f"max {max(values):.1f} ms")
    if wait0 is not None and wait1 is not None:
        print(f"this process's loop waited for a CPU {100 * (wait1 - wait0) / 1e9 / wall:.1f} % "
              f"of the time")
    worst = sorted(lags, key=lambda x: -x[1])[: args.top]
    alone = 0
    for at, lag in sorted(worst):
        start, end = at, at + SAMPLE_S + lag / 1000
        edges = [(name, a, b) for name, a, b in spans if name == "session" and
                 (start <= a <= end or start <= b <= end)]
        inside = [(name, a, b) for name, a, b in spans if name != "session" and
                  a < end and b > start]
        kinds: dict[str, list[float]] = {}
        for name, a, b in inside:
            kinds.setdefault(name, []).append(1000 * (b - a))
        for _, a, _b in edges:
            kinds.setdefault("session " + ("start" if start <= a <= end else "end"), []).append(0)
        overlap = [f"{len(v)} {k}" + (f" (longest {max(v):.1f} ms)" if max(v) else "")
                   for k, v in kinds.items()]
        alone += not overlap
        print(f"  {at:8.3f} s  lag {lag:7.1f} ms  {', '.join(overlap) or '-'}")
    print(f"{alone} of the {len(worst)} worst lags overlapped no GC pass, track writer job, or "
          f"session start or end")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())
