"""Suite runs over worker processes: one run folder, one progress count, lost workers errored."""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import signal
from pathlib import Path

import pytest
from scripted import Behaviour, ScriptedServer, scenario

from harness import api
from harness.errors import InputError
from harness.recording import Recording
from harness.runner.executors import run_suite_with
from harness.runner.workers import shard_specs

REPO = Path(__file__).resolve().parents[2]


def _suite():
    return [scenario([{"say": "hello there"}, {"say": "thanks, bye"}], name=n)
            for n in ("alpha", "beta", "gamma")]


def test_two_workers_write_one_run_folder(tmp_path):
    events, finished = [], []

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            return await run_suite_with(
                _suite(), workers=2, out_dir=tmp_path, target=srv.url, trials=2, concurrency=4,
                session_timeout_s=60, on_progress=events.append, on_trial_done=finished.append), \
                srv.log

    run, log = asyncio.run(go())
    data = json.loads((tmp_path / "run.json").read_text())
    assert [t["path"] for t in data["trials"]] == [
        f"{n}/trial-{k}" for n in ("alpha", "beta", "gamma") for k in (0, 1)]
    assert [t["status"] for t in data["trials"]] == ["completed"] * 6
    for t in data["trials"]:
        assert Recording.load(tmp_path / t["path"]).meta.status == "completed"
    # one progress count over both processes, and every trial reported once
    assert [e.done for e in events if e.kind == "trial_finished"] == [1, 2, 3, 4, 5, 6]
    assert events[0].kind == "run_started" and events[-1].kind == "run_finished"
    assert sorted(r.path for r in finished) == sorted(t["path"] for t in data["trials"])
    assert len(log.of("session.update")) == 6 and len(run.trials) == 6


def test_a_killed_worker_process_leaves_its_trials_errored(tmp_path):
    killed: list[int] = []

    async def go():
        loop = asyncio.get_running_loop()

        def progress(event):
            # worker 0 holds positions 0, 2, 4: trial 0 of each scenario
            if event.kind == "trial_started" and event.trial == 0 and not killed:
                shard = next(p for p in mp.active_children() if p.name == "harness-shard-0")
                killed.append(shard.pid)
                loop.call_later(0.5, os.kill, shard.pid, signal.SIGKILL)

        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            await run_suite_with(_suite(), workers=2, out_dir=tmp_path, target=srv.url,
                                 trials=2, concurrency=2, session_timeout_s=60,
                                 on_progress=progress)

    asyncio.run(go())
    assert killed
    trials = json.loads((tmp_path / "run.json").read_text())["trials"]
    lost = [t for t in trials if t["trial"] == 0]
    assert [t["status"] for t in lost] == ["errored"] * 3
    assert all("worker process 0 exited with code -9" in t["error"] for t in lost), lost
    assert [t["status"] for t in trials if t["trial"] == 1] == ["completed"] * 3


def test_bad_worker_options_are_usage_errors(tmp_path):
    for kwargs, field in [({"workers": 0}, "--workers"), ({"executor": "spark"}, "--executor"),
                          ({"address": "127.0.0.1:1"}, "--address"),
                          ({"ship_recordings": True}, "--ship-recordings")]:
        with pytest.raises(InputError) as exc:
            asyncio.run(run_suite_with(_suite(), out_dir=tmp_path, **kwargs))
        assert exc.value.field == field


@pytest.mark.slow
@pytest.mark.calls(6)  # the example suite's shared run may be made here
def test_example_scenarios_give_the_same_verdicts_with_two_workers(tmp_path, monkeypatch,
                                                                   example_suite_run):
    monkeypatch.chdir(REPO)
    # scenarios without latency budgets: a loaded machine must not turn a verdict
    names = ["cancel-declined", "human-request", "digit-correction", "long-silence"]
    paths = [REPO / "scenarios" / f"{n}.yaml" for n in names]

    def verdicts(trials) -> dict[str, list[tuple[str, str]]]:
        return {t.rel_path: [(v.kind, v.status) for v in t.verdicts] for t in trials}

    # in one process: the example suite's run of this test session
    one = [t for t in example_suite_run.trials if t.scenario in names]
    two = api.run(paths, out_dir=tmp_path / "two", concurrency=2, workers=2)
    assert [t.run_status for t in one] == ["completed"] * len(names)
    assert [t.run_status for t in two.trials] == ["completed"] * len(names)
    assert verdicts(two.trials) == verdicts(one) and all(verdicts(one).values())
    assert {t.outcome for t in two.trials} == {t.outcome for t in one}


def test_variants_interleave_across_worker_processes(tmp_path):
    suite = _suite()[:1]
    config = suite[0].agent_config
    specs = shard_specs(suite, 2, out_dir=tmp_path, concurrency=2, trials=2,
                        variants={"A": config, "B": config},
                        variant_faults={"B": ["no_preamble"]}, interleave=True)
    assert [(s.variant_faults, s.interleave) for s in specs] == \
        [({"B": ["no_preamble"]}, True)] * 2

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            return await run_suite_with(
                suite, workers=2, out_dir=tmp_path, target=srv.url, trials=2, concurrency=2,
                variants={"A": config, "B": config}, interleave=True, session_timeout_s=60)

    run = asyncio.run(go())
    assert sorted((t.variant, t.trial, t.status) for t in run.trials) == [
        ("A", 0, "completed"), ("A", 1, "completed"), ("B", 0, "completed"),
        ("B", 1, "completed")]
