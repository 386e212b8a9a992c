"""Suite runs on a real Ray cluster on loopback: a head and a worker node, scripted servers."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from scripted import Behaviour, ScriptedServer, scenario

from harness.recording import Recording
from harness.runner.executors import run_suite_with

ray = pytest.importorskip("ray")

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
"""Loopback addresses that Ray keeps as given (it swaps 127.0.0.1 for the machine's address)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HEAD_IP, 0))
        return s.getsockname()[1]


def _start(args: list[str], temp_dir: str, env: dict[str, str]) -> subprocess.Popen:
    # --block keeps the node's processes under this one: stopping it stops exactly them
    return subprocess.Popen([str(RAY), "start", "--block", "--disable-usage-stats",
                             f"--temp-dir={temp_dir}", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_for_nodes(address: str, n: int, env: dict[str, str], timeout_s: float = 60) -> None:
    probe = (f"import ray, time\nray.init(address={address!r}, _node_ip_address={HEAD_IP!r}, "
             f"logging_level='ERROR')\nt = time.time()\n"
             f"while sum(x['Alive'] for x in ray.nodes()) < {n}:\n"
             f"    assert time.time() - t < {timeout_s}, ray.nodes()\n    time.sleep(0.2)\n")
    subprocess.run([sys.executable, "-c", probe], env=env, check=True, timeout=timeout_s + 30)


@pytest.fixture(scope="module")
def ray_cluster():
    """A head (no CPUs: it only coordinates) and a worker node with 2 CPUs, on loopback."""
    port = _free_port()
    address = f"{HEAD_IP}:{port}"
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    # short paths: Ray's unix sockets live under the temp dirs
    dirs = [tempfile.mkdtemp(prefix="rh", dir="/tmp"), tempfile.mkdtemp(prefix="rw", dir="/tmp")]
    nodes = [_start(["--head", f"--node-ip-address={HEAD_IP}", f"--port={port}",
                     "--num-cpus=0", "--include-dashboard=false"], dirs[0], env)]
    try:
        _wait_for_nodes(address, 1, env)
        nodes.append(_start([f"--address={address}", f"--node-ip-address={WORKER_IP}",
                             "--num-cpus=2"], dirs[1], env))
        _wait_for_nodes(address, 2, env)
        ray.init(address=address, _node_ip_address=HEAD_IP, logging_level="ERROR",
                 log_to_driver=False)
        yield address
    finally:
        if ray.is_initialized():
            ray.shutdown()
        for node in reversed(nodes):
            node.send_signal(signal.SIGTERM)
            try:
                node.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


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
