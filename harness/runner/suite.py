"""Suite runs: scenarios × variants × trials under a concurrency bound, each trial a recording.

:func:`run_suite` is what ``harness run`` and the pytest plugin call; :func:`run_trial` runs one
trial. A trial that cannot run (unreachable target, auth refused, protocol failure, no session
set-up in time) is ``errored`` with the reason and the run goes on; a call the agent keeps going
past the scenario's ``max_duration_s`` is ended there and graded (``completed``). Only connection
failures before a session started are retried, with exponential backoff. ``run.json`` lists
every planned trial from the start (``incomplete`` until it finishes) and is rewritten atomically
after each one, so a run stopped at any moment leaves a consistent folder.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import gc
import hashlib
import inspect
import json
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

import harness
from harness.errors import HarnessError, InputError, TargetError
from harness.realtime.targets import (
    LOCAL_TARGETS,
    Target,
    local_target,
    parse_spec,
    resolve_target,
    transport_of,
)
from harness.recording import ORDER_FILE, RecordingMeta, TrialEnded
from harness.runner.caller import render_script
from harness.runner.capture import RecordingWriter, in_track_writer
from harness.runner.interleave import interleaved_order
from harness.runner.live import live_call
from harness.runner.local_agents import (  # noqa: F401 - LocalAgentHandle: re-exported
    LocalAgentHandle,
    LocalAgents,
    LocalAgentStarter,
    needs_local_agent,
)
from harness.runner.results import (
    ProgressEvent,
    RunResult,
    TrialResult,
    TrialStatus,
    _now_iso,
    machine_info,
    new_run,
    write_run_file,
)
from harness.runner.session import SessionOptions
from harness.runner.transports import call_session, open_connection, session_class
from harness.scenario.models import AgentConfig, CallerVoice, Scenario

RETRY_BASE_DELAY_S = 0.5

# --------------------------------------------------------------------------- helpers


def _hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _scenario_json(scenario: Scenario) -> dict[str, Any]:
    return scenario.model_dump(mode="json", serialize_as_any=True)


async def _maybe_await(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


def check_speech_key(spoken: Iterable[Scenario]) -> None:
    """A cloud caller voice needs its key before any call (a user error naming the variable)."""
    if any(s.voice_of(t).engine_name == "openai" for s in spoken for t in s.turns):
        from harness.audio._openai_tts import api_key  # noqa: PLC0415

        api_key()


def _trial_path(scenario: Scenario, variant: str | None, trial: int) -> str:
    parts = [scenario.name] + ([variant] if variant else []) + [f"trial-{trial}"]
    return "/".join(parts)


# --------------------------------------------------------------------------- one trial


async def _connect(target: Target, retries: int, notify: Callable[[str], None],
                   config: AgentConfig, network: Any) -> tuple[Any, int]:
    attempt, session = 0, call_session(config, target)
    while True:
        attempt += 1
        try:
            return await open_connection(target, session, network), attempt
        except TargetError as exc:
            if not getattr(exc, "retryable", False) or attempt > retries:
                raise
            notify(f"attempt {attempt} failed ({exc}); retrying")
            await asyncio.sleep(RETRY_BASE_DELAY_S * 2 ** (attempt - 1))


def _persona_options(options: SessionOptions, scenario: str, variant: str | None,
                     trial: int) -> SessionOptions:
    """The options of one persona trial: its recorded lines when the run replays callers."""
    if options.replay_callers is None:
        return options
    lines = options.replay_callers.get((scenario, variant, trial))
    if lines is None:
        lines = options.replay_callers.get((scenario, variant, 0), [])
    return dataclasses.replace(options, persona_replay=lines)


async def _run_trial(scenario: Scenario, *, folder: Path, rel_path: str, target: Target,
                     config: AgentConfig, trial: int, variant: str | None, faults: list[str],
                     script: Any, session_timeout_s: float | None, retries: int,
                     options: SessionOptions | None,
                     notify: Callable[[str], None], spoken: Scenario | None = None) -> TrialResult:
    started = time.perf_counter()
    result = TrialResult(scenario.name, str(scenario.source) if scenario.source else None,
                         variant, trial, rel_path, "errored", recording_dir=folder)
    config_json = config.model_dump(mode="json")
    meta = RecordingMeta(
        scenario=scenario.name, scenario_file=result.scenario_file,
        scenario_hash=_hash(_scenario_json(scenario)), agent_config=config_json,
        agent_config_hash=_hash(config_json), variant=variant, trial=trial,
        target=target.label, dialect=target.dialect, transport=target.transport, faults=faults,
        harness_version=harness.__version__, machine=machine_info(), started_at=_now_iso(),
        scenario_model=_scenario_json(scenario),
        caller_voice=(spoken or scenario.for_trial(trial)).caller.label())
    network = options.network if options is not None else None
    meta.network = network.spec if network is not None else None
    if scenario.persona is not None and options is not None:
        options = _persona_options(options, scenario.name, variant, trial)
        model = options.caller_model
        if model is not None and options.persona_replay is None:
            meta.caller_model = {"endpoint": model.host, "model": model.model}
    try:
        conn, result.attempts = await _connect(target, retries, notify, config, network)
    except TargetError as exc:
        writer = RecordingWriter(folder, meta)
        writer.annotate(0.0, "harness.trial.ended", TrialEnded(status="errored", error=str(exc)))
        empty = np.zeros(0, dtype=np.int16)
        writer.finish(status="errored", error=str(exc), caller=empty, caller_rate=24_000,
                      caller_offset_ms=0.0, agent_stream=empty, agent=empty, agent_rate=24_000)
        result.error = str(exc)
        result.duration_s = time.perf_counter() - started
        return result
    t0_ns = time.perf_counter_ns()
    meta.started_at, meta.call_id = _now_iso(), getattr(conn, "call_id", None)
    try:
        # the folder, meta.json and events.jsonl cost file-system calls: off the loop, on the
        # thread below the loop's priority (trials starting together would compete with streams)
        writer = await in_track_writer(RecordingWriter, folder, meta)
    except BaseException:
        await conn.close()
        raise
    # a persona's lines are rendered during the call, with the voice this trial speaks with
    voiced = (spoken or scenario.for_trial(trial)) if scenario.persona is not None else scenario
    session = session_class(target)(scenario=voiced, config=config, script=script,
                                    connection=conn, writer=writer, t0_ns=t0_ns,
                                    options=options)
    timeout_s = session_timeout_s if session_timeout_s is not None else scenario.max_duration_s
    status: TrialStatus = "errored"
    error: str | None = None
    time_limit: float | None = None
    try:
        with live_call():
            async with asyncio.timeout(timeout_s):
                await session.run()
        status = "completed"
    except TimeoutError:
        if session.started:
            # The agent was connected and the call ran: it kept the caller waiting until the
            # time limit. That is its behaviour, graded like any other (failed, not errored).
            status, time_limit = "completed", timeout_s
        else:
            error = f"the target did not set up the session within {timeout_s:g} s"
    except HarnessError as exc:
        error = str(exc)
    except asyncio.CancelledError:
        status = "incomplete"
        error = "the run was stopped"
        raise
    finally:
        await conn.close()
        if status == "incomplete":
            session.finish(status, error)
        else:
            # writing the tracks takes milliseconds: off the loop other sessions stream on
            final = await in_track_writer(functools.partial(session.finish, status, error,
                                                            time_limit_s=time_limit))
            if final is not None:  # a SIP trial's words failed to transcribe: errored
                status, error = final
        result.status, result.error = status, error
        result.duration_s = time.perf_counter() - started
    return result


async def run_trial(scenario: Scenario, *, out_dir: Path, target: str = "local",
                    trial: int = 0, variant: str | None = None,
                    config: AgentConfig | None = None, faults: list[str] | None = None,
                    dialect: str | None = None, script: Any = None,
                    local_url: str | None = None, local_agent: LocalAgentStarter | None = None,
                    session_timeout_s: float | None = None, retries: int = 2,
                    options: SessionOptions | None = None) -> TrialResult:
    """Run one trial of ``scenario`` and record it in ``out_dir`` (the trial folder).

    ``config`` defaults to the scenario's agent config; ``script`` to the rendered caller audio.
    With ``target="local"`` and no ``local_url``, ``local_agent`` starts a local agent for this
    trial.
    """
    config = config or scenario.agent_config
    if config is None:
        raise InputError("the scenario has no agent config (load it with load_suite)",
                         field="agent")
    faults = list(faults or [])
    name, _ = parse_spec(target, dialect)
    if name in LOCAL_TARGETS and local_url is None and local_agent is None:
        raise needs_local_agent()
    if script is None:
        script = await render_script(scenario.for_trial(trial))
    if name in LOCAL_TARGETS and local_url is None:
        agents = LocalAgents(local_agent)
        try:
            url = await agents.url(config, transport=transport_of(name))
            return await run_trial(scenario, out_dir=out_dir, target=target, trial=trial,
                                   variant=variant, config=config, faults=faults,
                                   dialect=dialect, script=script, local_url=url,
                                   session_timeout_s=session_timeout_s, retries=retries,
                                   options=options)
        finally:
            await agents.stop()
            gc.unfreeze()
    resolved = _resolve(target, config, faults, dialect, local_url)
    return await _run_trial(scenario, folder=Path(out_dir), rel_path=Path(out_dir).name,
                            target=resolved, config=config, trial=trial, variant=variant,
                            faults=faults, script=script, session_timeout_s=session_timeout_s,
                            retries=retries, options=options, notify=lambda _m: None)


def _resolve(target: str, config: AgentConfig, faults: list[str], dialect: str | None,
             local_url: str | None) -> Target:
    name, _ = parse_spec(target, dialect)
    if name in LOCAL_TARGETS:
        assert local_url is not None
        return local_target(local_url, model=config.model, faults=faults,
                            dialect=dialect or parse_spec(target)[1],
                            transport=transport_of(name))
    if faults:
        raise InputError("faults can only be switched on in the local agent", field="faults")
    return resolve_target(target, model=config.model, dialect=dialect)


# --------------------------------------------------------------------------- suites


PlannedTrial = tuple[Scenario, str | None, AgentConfig, int]
"""(scenario, variant name or None, the agent config it runs with, trial number)."""

VariantConfig = AgentConfig | Mapping[str, AgentConfig]
"""A variant's agent config: one for every scenario, or one per scenario name (a variant made of
each scenario's own config with the same changes)."""


def _variant_config(config: VariantConfig, scenario: Scenario, variant: str) -> AgentConfig:
    if isinstance(config, AgentConfig):
        return config
    try:
        return config[scenario.name]
    except KeyError:
        raise InputError(f"variant {variant!r} has no agent config for this scenario",
                         location=str(scenario.source or scenario.name), field="agent") from None


def plan_trials(scenarios: list[Scenario], *, target: str = "local", trials: int = 1,
                concurrency: int = 1, faults: list[str] | None = None,
                variants: Mapping[str, VariantConfig] | None = None, dialect: str | None = None
                ) -> list[PlannedTrial]:
    """Every trial of a run in its fixed order (shards are positions in it); checks the options."""
    if trials < 1 or concurrency < 1:
        raise InputError("trials and concurrency must be at least 1")
    name, _ = parse_spec(target, dialect)
    if faults and name not in LOCAL_TARGETS:
        raise InputError("faults can only be switched on in the local agent", field="faults")
    for scenario in scenarios:
        if scenario.agent_config is None and not variants:
            raise InputError("the scenario has no agent config (load it with load_suite)",
                             location=str(scenario.source or scenario.name), field="agent")
    plan: list[PlannedTrial] = []
    for scenario in scenarios:
        if not variants:
            plan.extend((scenario, None, scenario.agent_config, k) for k in range(trials))
            continue
        for vname, vconfig in variants.items():
            config = _variant_config(vconfig, scenario, vname)
            plan.extend((scenario, vname, config, k) for k in range(trials))
    check_speech_key(s.for_trial(k) for s, _v, _c, k in plan)
    return plan


def planned_result(planned: PlannedTrial, out_dir: Path) -> TrialResult:
    """The result of a planned trial that has not run yet (``incomplete``, "not run")."""
    s, v, _config, k = planned
    path = _trial_path(s, v, k)
    return TrialResult(s.name, str(s.source) if s.source else None, v, k, path, "incomplete",
                       "not run", recording_dir=Path(out_dir) / path)


async def run_suite(scenarios: list[Scenario], *, out_dir: Path, target: str = "local",
                    trials: int = 1, concurrency: int = 4, faults: list[str] | None = None,
                    variants: Mapping[str, VariantConfig] | None = None,
                    on_progress: Callable[[ProgressEvent], None] | None = None,
                    on_trial_done: Callable[[TrialResult], None] | None = None,
                    session_timeout_s: float | None = None, retries: int = 2,
                    dialect: str | None = None, options: SessionOptions | None = None,
                    local_agent: LocalAgentStarter | None = None,
                    variant_faults: dict[str, list[str]] | None = None,
                    variant_targets: Mapping[str, str] | None = None,
                    variant_callers: Mapping[str, CallerVoice] | None = None,
                    interleave: bool = False,
                    shard: tuple[int, int] | None = None) -> RunResult:
    """Run every scenario × variant × trial; write trial folders and ``run.json`` in ``out_dir``.

    ``variants`` maps a variant name to the AgentConfig it uses instead of each scenario's own
    (A/B runs), or to one config per scenario name; without it each scenario runs with its own
    config and ``variant`` is None.
    ``faults`` (local target only) are switched on in every session, ``variant_faults`` in the
    sessions of one variant only; ``variant_targets`` sends a variant's calls to a target of its
    own (``local`` and ``local-webrtc``: variants that differ only in transport);
    ``variant_callers`` gives a variant's calls another caller voice (the fields given replace
    each scenario's caller's: variants that differ only in who calls). A caller with a list of
    ``voices`` speaks trial k with voice k mod n.
    ``interleave`` runs the variants of each (scenario, trial) as one block, started together
    (``concurrency // len(variants)`` blocks at a time), their
    order rotated from one block to the next (A B C, B C A, C A B, …), so the calls of a pair
    meet the same machine and service conditions and every variant starts first as often as
    the others; the orders go into ``order.json``; ``run.json`` lists the trials in the usual
    order either way. ``target`` is ``local``,
    ``openai``, ``azure`` or a ws(s):// URL (``:beta`` selects the beta dialect); ``local``
    needs ``local_agent``, which starts the local reference agent.

    ``shard=(index, count)`` runs only the planned trials at positions ``index``, ``index +
    count``, … of :func:`plan_trials` and leaves ``run.json`` to whoever runs the other shards
    (:mod:`harness.runner.workers`); the result lists the shard's trials only.
    """
    faults = list(faults or [])
    variant_faults = {v: list(f) for v, f in (variant_faults or {}).items() if f}
    plan = plan_trials(scenarios, target=target, trials=trials, concurrency=concurrency,
                       faults=faults, variants=variants, dialect=dialect)
    targets = {v: variant_targets.get(v, target) if variant_targets else target
               for v in [None, *(variants or {})]}
    names = {v: parse_spec(t, dialect)[0] for v, t in targets.items()}
    if any(names[v] not in LOCAL_TARGETS for v in variant_faults):
        raise InputError("faults can only be switched on in the local agent", field="faults")
    if local_agent is None and any(n in LOCAL_TARGETS for n in names.values()):
        raise needs_local_agent()
    callers = dict(variant_callers or {})

    def spoken_of(i: int) -> Scenario:
        scenario, vname, _config, k = plan[i]
        return scenario.for_trial(k, callers.get(vname or ""))

    check_speech_key(spoken_of(i) for i in range(len(plan)))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    start_order = list(range(len(plan)))
    blocks: list[dict[str, Any]] = []
    if interleave and variants:
        start_order, blocks = interleaved_order(scenarios, list(variants), trials)
    positions = [i for i in range(len(plan)) if shard is None or i % shard[1] == shard[0]]
    start_order = [i for i in start_order if shard is None or i % shard[1] == shard[0]]
    results: dict[int, TrialResult] = {i: planned_result(plan[i], out_dir) for i in positions}
    run = new_run(out_dir, target, dialect)
    done = 0
    total = len(positions)

    def progress(kind: str, **kw: Any) -> None:
        if on_progress is not None:
            on_progress(ProgressEvent(kind, done, total, **kw))  # type: ignore[arg-type]

    def write_run() -> None:
        run.trials = [results[i] for i in positions]
        if shard is None:
            write_run_file(run, faults)

    write_run()
    if blocks and shard is None:
        (out_dir / ORDER_FILE).write_text(json.dumps({"blocks": blocks}, indent=1) + "\n",
                                          encoding="utf-8")
    progress("run_started")
    scripts: dict[tuple[int, str], asyncio.Task[Any]] = {}
    # Interleaved variants run block by block: the variants of one (scenario, trial) start
    # together and the next block waits for a free place for all of them, so the two calls of
    # a pair meet the same load. Started one by one, the first of a block ran beside the end of
    # the block before and answered ~200 ms later than the last (5 × 2 × 3 variants, two cores).
    by_block = bool(blocks) and shard is None
    lock = asyncio.Semaphore(max(1, concurrency // len(variants or {None: None}))
                             if by_block else concurrency)

    agents = LocalAgents(local_agent)

    def script_of(i: int) -> asyncio.Task[Any]:
        spoken = spoken_of(i)
        key = (id(plan[i][0]), spoken.caller.model_dump_json())
        if key not in scripts:
            scripts[key] = asyncio.ensure_future(render_script(spoken))
        return scripts[key]

    for i in start_order:  # rendered ahead (a cold Kokoro suite renders for 100 s)
        script_of(i)

    async def prepare(i: int) -> tuple[Any, list[str], Any] | HarnessError:
        _scenario, vname, vconfig, _k = plan[i]
        try:
            script = await asyncio.shield(script_of(i))
            name = names.get(vname, names[None])
            local_url = (await agents.url(vconfig, transport=transport_of(name))
                         if name in LOCAL_TARGETS else None)
            session_faults = faults + variant_faults.get(vname or "", [])
            return script, session_faults, _resolve(targets.get(vname, target), vconfig,
                                                    session_faults, dialect, local_url)
        except HarnessError as exc:
            return exc

    async def execute(i: int, prepared: tuple[Any, list[str], Any] | HarnessError) -> None:
        nonlocal done
        scenario, vname, vconfig, k = plan[i]
        ident = {"scenario": scenario.name, "variant": vname, "trial": k}
        if isinstance(prepared, HarnessError):
            res = results[i]
            res.status, res.error = "errored", str(prepared)
        else:
            script, session_faults, resolved = prepared
            progress("trial_started", **ident)
            res = await _run_trial(
                scenario, folder=out_dir / results[i].path, rel_path=results[i].path,
                target=resolved, config=vconfig, trial=k, variant=vname,
                faults=session_faults, script=script, session_timeout_s=session_timeout_s,
                retries=retries, options=options,
                notify=lambda m: progress("trial_retry", message=m, **ident),
                spoken=spoken_of(i))
        results[i] = res
        done += 1
        write_run()
        progress("trial_finished", status=res.status, message=res.error, **ident)
        if on_trial_done is not None:
            on_trial_done(res)

    async def one(i: int) -> None:
        async with lock:
            await execute(i, await prepare(i))

    async def block(indices: list[int]) -> None:
        async with lock:
            ready = [await prepare(i) for i in indices]
            await asyncio.gather(*(execute(i, p) for i, p in zip(indices, ready, strict=True)))

    count = len(variants or {})
    work = ([block(start_order[j:j + count]) for j in range(0, len(start_order), count)]
            if by_block else [one(i) for i in start_order])

    try:
        await asyncio.gather(*work)
    finally:
        await agents.stop()
        gc.unfreeze()  # sessions froze the heap while they streamed (see TrialSession.run)
        run.finished_at = _now_iso()
        write_run()
        for task in scripts.values():
            task.cancel()
    progress("run_finished")
    return run


def run_suite_sync(scenarios: list[Scenario], **kwargs: Any) -> RunResult:
    """:func:`run_suite` for callers without an event loop (the CLI)."""
    return asyncio.run(run_suite(scenarios, **kwargs))


def run_trial_sync(scenario: Scenario, **kwargs: Any) -> TrialResult:
    """:func:`run_trial` for callers without an event loop."""
    return asyncio.run(run_trial(scenario, **kwargs))
