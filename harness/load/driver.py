"""Drives a load test: callers kept in flight at each level of a ramp, every call recorded.

Each level keeps ``concurrency`` calls in flight for its hold time: a caller slot runs the suite's
scenarios round robin, one call after another, while its slot number is below the level's
concurrency; new slots start a few milliseconds apart, so a step up is not one burst of
connections. A call counts for the level in force at its midpoint (a call started late in one
level runs mostly in the next). After the last level the calls in flight finish; nothing is
measured while calls stream: the recordings are read afterwards (:mod:`harness.load.report`).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.load.ramp import Level
from harness.realtime.targets import LOCAL_TARGETS, parse_spec, transport_of
from harness.runner.suite import LocalAgents, LocalAgentStarter, render_script, run_trial
from harness.scenario.models import AgentConfig, Scenario

SLOT_STAGGER_S = 0.02
"""Time between the starts of caller slots opened together (a step up of the ramp)."""


@dataclass
class Call:
    """One call of a load test, as it ran."""

    index: int
    scenario: str
    path: str
    """The call's recording folder, relative to the load test's folder."""
    started_s: float
    ended_s: float
    status: str
    error: str | None
    level: int = 0
    """Index of the ramp level in force at the call's midpoint."""


@dataclass
class LoadProgress:
    """For the console: a level started (``calls_done`` so far) or the ramp ended."""

    kind: str
    level: int
    concurrency: int
    calls_done: int
    errors: int


def level_at(levels: list[Level], t_s: float) -> int:
    """Index of the level in force ``t_s`` seconds after the ramp started (the last after it)."""
    end = 0.0
    for i, level in enumerate(levels):
        end += level.hold_s
        if t_s < end:
            return i
    return len(levels) - 1


async def drive(scenarios: list[Scenario], levels: list[Level], *, out_dir: Path,
                target: str = "local", session_timeout_s: float | None = None,
                local_agent: LocalAgentStarter | None = None,
                on_progress: Callable[[LoadProgress], None] | None = None) -> list[Call]:
    """Run the ramp against ``target``; recordings go to ``out_dir/calls/``; ``local_agent``
    starts the local reference agent (for the ``local`` target)."""
    scripts = await asyncio.gather(*(render_script(s) for s in scenarios))
    name = parse_spec(target)[0]
    local = name in LOCAL_TARGETS
    agents = LocalAgents(local_agent)
    urls: dict[str, str] = {}
    if local:
        for sc in scenarios:
            urls[sc.name] = await agents.url(sc.agent_config or AgentConfig(),
                                             webrtc=transport_of(name) == "webrtc")
    calls: list[Call] = []
    counter = itertools.count()
    wanted = 0
    started = time.perf_counter()

    async def one_call() -> None:
        n = next(counter)
        k = n % len(scenarios)
        sc, script = scenarios[k], scripts[k]
        path = f"calls/{n:05d}-{sc.name}"
        t0 = time.perf_counter() - started
        local_url = urls.get(sc.name) if local else None
        result = await run_trial(sc, out_dir=out_dir / path, target=target, trial=n,
                                 script=script, local_url=local_url, retries=0,
                                 session_timeout_s=session_timeout_s)
        t1 = time.perf_counter() - started
        calls.append(Call(n, sc.name, path, t0, t1, result.status, result.error,
                          level_at(levels, (t0 + t1) / 2)))

    async def slot(i: int) -> None:
        await asyncio.sleep(SLOT_STAGGER_S * max(0, i - opened_before))
        while i < wanted and not stopping.is_set():
            await one_call()

    def progress(kind: str, level: int) -> None:
        if on_progress is not None:
            on_progress(LoadProgress(kind, level, levels[level].concurrency, len(calls),
                                     sum(c.status != "completed" for c in calls)))

    stopping = asyncio.Event()
    slots: dict[int, asyncio.Task[None]] = {}
    opened_before = 0
    try:
        for i, level in enumerate(levels):
            progress("level_started", i)
            opened_before, wanted = wanted, level.concurrency
            for s in range(level.concurrency):
                if s not in slots or slots[s].done():
                    slots[s] = asyncio.create_task(slot(s))
            await asyncio.sleep(level.hold_s)
        stopping.set()
        await asyncio.gather(*slots.values())
        progress("ramp_finished", len(levels) - 1)
    finally:
        stopping.set()
        for task in slots.values():
            task.cancel()
        await asyncio.gather(*slots.values(), return_exceptions=True)
        await agents.stop()
    return sorted(calls, key=lambda c: c.index)


def describe(calls: list[Call]) -> list[dict[str, Any]]:
    """The calls as ``load.json`` lists them."""
    return [{"index": c.index, "scenario": c.scenario, "path": c.path,
             "started_s": round(c.started_s, 3), "ended_s": round(c.ended_s, 3),
             "status": c.status, "error": c.error, "level": c.level} for c in calls]
