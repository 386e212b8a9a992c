"""Suite runs on a real Ray cluster on loopback: a head and a worker node, scripted servers
(the cluster: ``raycluster.py``)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time

import pytest
from raycluster import WORKER_IP, loopback_cluster
from scripted import Behaviour, ScriptedServer, scenario

from harness.recording import Recording
from harness.runner.executors import run_suite_with

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def ray_cluster():
    """A head and a worker node with 2 CPUs on loopback, with a token of their own."""
    with loopback_cluster() as address:
        yield address


def _suite():
    return [scenario([{"say": "hello there"}, {"say": "thanks, bye"}], name=n)
            for n in ("alpha", "beta", "gamma")]


def test_every_trial_is_accounted_for_and_recordings_ship_back(ray_cluster, tmp_path):
    events, workers = [], {}

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            return await run_suite_with(
                _suite(), executor="ray", workers=2, out_dir=tmp_path, target=srv.url,
                trials=2, concurrency=4, session_timeout_s=60, on_progress=events.append,
                on_worker=workers.__setitem__, ship_recordings=True)

    run = asyncio.run(go())
    assert sorted(workers) == [0, 1]
    assert {w["node"] for w in workers.values()} == {WORKER_IP}
    data = json.loads((tmp_path / "run.json").read_text())
    assert len(data["trials"]) == 6 and data["finished_at"]
    assert [t["status"] for t in data["trials"]] == ["completed"] * 6, data["trials"]
    for t in data["trials"]:  # shipped back through the object store into this run folder
        rec = Recording.load(tmp_path / t["path"])
        assert rec.meta.status == "completed" and rec.meta.scenario == t["scenario"]
        assert (tmp_path / t["path"] / "call.wav").is_file()
    finished = [e.done for e in events if e.kind == "trial_finished"]
    assert finished == [1, 2, 3, 4, 5, 6] and events[-1].kind == "run_finished"
    assert len(run.trials) == 6


def test_a_killed_worker_leaves_its_trials_errored_and_the_rest_complete(ray_cluster, tmp_path):
    workers: dict[int, dict] = {}
    killed: list[int] = []

    async def go():
        loop = asyncio.get_running_loop()

        def progress(event):
            # shard 0 holds positions 0, 2, 4: trial 0 of each scenario
            if event.kind == "trial_started" and event.trial == 0 and not killed:
                killed.append(workers[0]["pid"])
                loop.call_later(0.5, os.kill, workers[0]["pid"], signal.SIGKILL)

        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            return await run_suite_with(
                _suite(), executor="ray", workers=2, out_dir=tmp_path, target=srv.url,
                trials=2, concurrency=2, session_timeout_s=60, on_progress=progress,
                on_worker=workers.__setitem__)

    started = time.monotonic()
    asyncio.run(go())
    assert killed, "shard 0 never started a trial"
    trials = json.loads((tmp_path / "run.json").read_text())["trials"]
    assert len(trials) == 6
    lost = [t for t in trials if t["trial"] == 0]
    assert all(t["status"] == "errored" for t in lost), lost
    assert all(f"Ray worker of shard 0 (node {WORKER_IP}, pid {killed[0]})" in t["error"]
               for t in lost), lost
    rest = [t for t in trials if t["trial"] == 1]
    assert [t["status"] for t in rest] == ["completed"] * 3, rest
    assert time.monotonic() - started < 120
