"""Suite runs spread over processes: trials sharded by position, merged into one run folder.

One event loop paces a few hundred caller streams on one core; ``workers=N`` runs the trials in
N processes, one event loop each, so every core paces streams. Shard ``i`` of ``N`` takes the
planned trials at positions ``i``, ``i + N``, … of :func:`~harness.runner.suite.plan_trials`
(scenarios interleave, so shards finish together), runs them with its own runner (and, with the
local target, its own local agent) and writes their recordings into the one run folder. The
coordinating process owns ``run.json``, the progress bar and the callbacks: shards send it
their progress and results as messages, and a shard that is lost leaves its unfinished trials
*errored* with the reason, never missing.

:class:`ShardedRun` is the coordinator's bookkeeping, shared by the executors: processes on this
machine (:func:`run_suite_in_processes`) and Ray (:mod:`harness.runner.ray_executor`).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing as mp
import queue
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.runner.results import (
    ProgressEvent,
    RunResult,
    TrialResult,
    _now_iso,
    new_run,
    write_run_file,
)
from harness.runner.session import SessionOptions
from harness.runner.suite import (
    LocalAgentStarter,
    VariantConfig,
    plan_trials,
    planned_result,
    run_suite,
)
from harness.scenario.models import Scenario

QUEUE_POLL_S = 0.2
"""How often the coordinator looks for lost shards while no message arrives."""

Message = tuple[str, Any]
"""What a shard sends: ("progress", ProgressEvent), ("trial", TrialResult), ("done", None)."""


@dataclass
class ShardSpec:
    """Everything one shard needs to run (picklable: it crosses process and machine lines)."""

    scenarios: list[Scenario]
    index: int
    count: int
    out_dir: Path
    target: str = "local"
    trials: int = 1
    concurrency: int = 4
    faults: list[str] = field(default_factory=list)
    variants: dict[str, VariantConfig] | None = None
    variant_faults: dict[str, list[str]] | None = None
    interleave: bool = False
    session_timeout_s: float | None = None
    retries: int = 2
    dialect: str | None = None
    options: SessionOptions | None = None
    local_agent: LocalAgentStarter | None = None
    """Starts the shard's own local agent (a module-level function: it crosses process lines)."""


def shard_specs(scenarios: list[Scenario], shards: int, *, out_dir: Path, concurrency: int,
                **kwargs: Any) -> list[ShardSpec]:
    """``shards`` specs that split the run's trials, and its concurrency, between them."""
    per_shard = max(1, math.ceil(concurrency / shards))
    kwargs["faults"] = list(kwargs.get("faults") or [])
    return [ShardSpec(scenarios, i, shards, Path(out_dir), concurrency=per_shard, **kwargs)
            for i in range(shards)]


async def run_shard_async(spec: ShardSpec, send: Callable[[Message], None]) -> None:
    """Run one shard's trials, sending progress and each finished trial through ``send``."""

    def progress(event: ProgressEvent) -> None:
        # the coordinator counts finished trials itself, from the results
        if event.kind in ("trial_started", "trial_retry"):
            send(("progress", event))

    await run_suite(
        spec.scenarios, out_dir=spec.out_dir, target=spec.target, trials=spec.trials,
        concurrency=spec.concurrency, faults=spec.faults, variants=spec.variants,
        variant_faults=spec.variant_faults, interleave=spec.interleave, on_progress=progress,
        on_trial_done=lambda r: send(("trial", r)),
        session_timeout_s=spec.session_timeout_s, retries=spec.retries, dialect=spec.dialect,
        options=spec.options, local_agent=spec.local_agent, shard=(spec.index, spec.count))
    send(("done", None))


def run_shard(spec: ShardSpec, send: Callable[[Message], None]) -> None:
    """:func:`run_shard_async` in a new event loop (a worker process's or Ray task's main)."""
    asyncio.run(run_shard_async(spec, send))


class ShardedRun:
    """The coordinator's side: ``run.json``, global progress and the callbacks of a sharded run.

    Feed it each shard's messages with :meth:`receive`; :meth:`lose` a shard that stopped
    without saying ``done``; :meth:`finish` when every shard is accounted for.
    """

    def __init__(self, specs: list[ShardSpec], *, run_dir: Path | None = None,
                 on_progress: Callable[[ProgressEvent], None] | None = None,
                 on_trial_done: Callable[[TrialResult], None] | None = None):
        first = specs[0]
        self.run_dir = Path(run_dir or first.out_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.faults = list(first.faults)
        plan = plan_trials(first.scenarios, target=first.target, trials=first.trials,
                           faults=self.faults, variants=first.variants, dialect=first.dialect)
        self.results = [planned_result(p, self.run_dir) for p in plan]
        self.position = {r.path: i for i, r in enumerate(self.results)}
        self.unfinished: dict[int, set[int]] = {
            s.index: {i for i in range(len(plan)) if i % s.count == s.index} for s in specs}
        self.run: RunResult = new_run(self.run_dir, first.target, first.dialect)
        self.on_progress = on_progress
        self.on_trial_done = on_trial_done
        self.done = 0
        self._write()
        self._progress("run_started")

    @property
    def total(self) -> int:
        return len(self.results)

    def _write(self) -> None:
        self.run.trials = list(self.results)
        write_run_file(self.run, self.faults)

    def _progress(self, kind: str, **kw: Any) -> None:
        if self.on_progress is not None:
            self.on_progress(ProgressEvent(kind, self.done, self.total, **kw))  # type: ignore[arg-type]

    def receive(self, shard: int, message: Message) -> None:
        kind, body = message
        if kind == "progress":
            self._progress(body.kind, scenario=body.scenario, variant=body.variant,
                           trial=body.trial, status=body.status, message=body.message)
        elif kind == "trial":
            self._finished(shard, body)

    def _finished(self, shard: int, result: TrialResult) -> None:
        i = self.position[result.path]
        if i not in self.unfinished.get(shard, ()):
            return
        self.unfinished[shard].discard(i)
        result = replace(result, recording_dir=self.run_dir / result.path)
        self.results[i] = result
        self.done += 1
        self._write()
        self._progress("trial_finished", scenario=result.scenario, variant=result.variant,
                       trial=result.trial, status=result.status, message=result.error)
        if self.on_trial_done is not None:
            self.on_trial_done(result)

    def lose(self, shard: int, reason: str) -> None:
        """The shard is gone: its unfinished trials are errored with ``reason``."""
        for i in sorted(self.unfinished.get(shard, set())):
            res = self.results[i]
            self._finished(shard, replace(res, status="errored", error=reason))

    def stop(self) -> None:
        """The run was stopped: unfinished trials stay ``incomplete``; ``run.json`` says so."""
        self.run.finished_at = _now_iso()
        self._write()

    def finish(self) -> RunResult:
        for shard, left in list(self.unfinished.items()):
            if left:
                self.lose(shard, "the worker ended without running this trial")
        self.run.finished_at = _now_iso()
        self._write()
        self._progress("run_finished")
        return self.run


# --------------------------------------------------------------------------- processes


def _process_main(spec: ShardSpec, messages: Any) -> None:
    run_shard(spec, lambda m: messages.put((spec.index, m)))


async def run_suite_in_processes(scenarios: list[Scenario], *, workers: int, out_dir: Path,
                                 concurrency: int = 4,
                                 on_progress: Callable[[ProgressEvent], None] | None = None,
                                 on_trial_done: Callable[[TrialResult], None] | None = None,
                                 **kwargs: Any) -> RunResult:
    """:func:`~harness.runner.suite.run_suite` with its trials run in ``workers`` processes.

    Takes run_suite's keyword arguments; ``concurrency`` is split between the processes. A
    process that dies leaves its unfinished trials errored with its exit code.
    """
    specs = shard_specs(scenarios, workers, out_dir=out_dir, concurrency=concurrency, **kwargs)
    run = ShardedRun(specs, on_progress=on_progress, on_trial_done=on_trial_done)
    ctx = mp.get_context("spawn")  # a fresh interpreter: no event loop or threads inherited
    messages = ctx.Queue()
    procs = {s.index: ctx.Process(target=_process_main, args=(s, messages), daemon=True,
                                  name=f"harness-shard-{s.index}") for s in specs}
    for proc in procs.values():
        proc.start()
    running = set(procs)

    def deliver(shard: int, message: Message) -> None:
        run.receive(shard, message)
        if message[0] == "done":
            running.discard(shard)

    try:
        while running:
            try:
                deliver(*await asyncio.to_thread(messages.get, timeout=QUEUE_POLL_S))
                continue
            except queue.Empty:
                pass
            exited = [i for i in sorted(running) if procs[i].exitcode is not None]
            if not exited:
                continue
            # what an exited process sent is in the pipe by now: read it before judging
            with contextlib.suppress(queue.Empty):
                while True:
                    deliver(*messages.get(timeout=QUEUE_POLL_S))
            for index in exited:
                if index in running:
                    running.discard(index)
                    run.lose(index, f"worker process {index} exited with code "
                                    f"{procs[index].exitcode} before this trial finished")
    except BaseException:
        for proc in procs.values():
            proc.terminate()
        run.stop()
        raise
    finally:
        for proc in procs.values():
            await asyncio.to_thread(proc.join, 10)
            if proc.is_alive():
                proc.kill()
        messages.close()
    with contextlib.suppress(Exception):
        messages.join_thread()
    return run.finish()

