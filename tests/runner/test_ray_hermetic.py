"""The Ray tests do not depend on the user's home, and the local Ray route leaves nothing that
breaks the next connection.

Before, ``harness run --executor ray`` (the local route: ``ray.init()`` starting a cluster)
wrote ``~/.ray/auth_token`` and set ``RAY_AUTH_MODE=token`` in its own process for good; a
cluster started afterwards with ``ray start`` found that token, turned token authentication on,
and refused every client that connected by address without it (``AuthenticationError``): the
Ray executor's tests failed on any machine where a run had used Ray.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from raycluster import WORKER_IP, loopback_cluster
from scripted import Behaviour, ScriptedServer, scenario

from harness.runner.executors import run_suite_with
from harness.runner.ray_executor import AUTH_VARIABLES

ray = pytest.importorskip("ray")


def _run(out_dir: Path, workers: dict[int, dict]) -> list[str]:
    suite = [scenario([{"say": "hello there"}], name=n) for n in ("alpha", "beta")]

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=200)) as srv:
            await run_suite_with(suite, executor="ray", workers=2, out_dir=out_dir,
                                 target=srv.url, trials=1, concurrency=2, session_timeout_s=60,
                                 on_worker=workers.__setitem__)

    asyncio.run(go())
    return [t["status"] for t in json.loads((out_dir / "run.json").read_text())["trials"]]


def test_the_local_route_then_a_cluster_by_address(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))  # whatever goes wrong, the user's home is untouched
    for name in AUTH_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert not ray.is_initialized()

    # The local route: a cluster of the run's own, gone with the run.
    workers: dict[int, dict] = {}
    assert _run(tmp_path / "local", workers) == ["completed", "completed"]
    assert {w["node"] for w in workers.values()} != {WORKER_IP}
    assert not ray.is_initialized()
    assert not (home / ".ray").exists()
    assert not any(name in os.environ for name in AUTH_VARIABLES)

    # A token in the home, as Ray's own ray.init() leaves it: the tests' cluster ignores it.
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text("f" * 64)
    workers = {}
    with loopback_cluster():
        assert _run(tmp_path / "cluster", workers) == ["completed", "completed"]
    assert {w["node"] for w in workers.values()} == {WORKER_IP}
    assert not any(name in os.environ for name in AUTH_VARIABLES)
