"""Suite runs against scripted loopback servers: run.json, variants, retries, secrets, a kill."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from scripted import Behaviour, FakeScript, ScriptedServer, scenario
from websockets.asyncio.server import serve

from harness.recording import Recording
from harness.runner import ProgressEvent, TrialResult, run_suite, run_trial
from harness.runner import suite as suite_module

SECRET = "sk-test-NEVER-WRITTEN-4242"


def _fake_render(monkeypatch):
    async def render(sc):
        return FakeScript(sc, speech_ms=300)
    monkeypatch.setattr(suite_module, "render_script", render)


def test_suite_with_variants_trials_and_progress(tmp_path, monkeypatch):
    _fake_render(monkeypatch)
    a = scenario([{"say": "hello"}], name="alpha")
    b = scenario([{"say": "hello"}, {"say": "bye"}], name="beta")
    base = a.agent_config
    variants = {"short": base, "patient": base.model_copy(update={"voice": "cedar"})}
    events: list[ProgressEvent] = []
    finished: list[TrialResult] = []

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            run = await run_suite([a, b], out_dir=tmp_path, target=f"{srv.url}?key={SECRET}",
                                  trials=2, concurrency=8, variants=variants,
                                  on_progress=events.append, on_trial_done=finished.append)
            return run, srv.log, srv.url

    run, log, url = asyncio.run(go())
    assert len(run.trials) == 8 and all(t.status == "completed" for t in run.trials)
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["schema_version"] == 1 and data["finished_at"] and data["target"] == url
    assert not [p for p in tmp_path.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]
    paths = [t["path"] for t in data["trials"]]
    assert paths[:4] == ["alpha/short/trial-0", "alpha/short/trial-1", "alpha/patient/trial-0",
                         "alpha/patient/trial-1"]
    assert {t["status"] for t in data["trials"]} == {"completed"}
    for t in data["trials"]:
        rec = Recording.load(tmp_path / t["path"])
        assert rec.meta.status == "completed" and rec.meta.variant == t["variant"]
        assert rec.meta.trial == t["trial"] and rec.meta.scenario == t["scenario"]
    voices = sorted(e["session"]["audio"]["output"]["voice"] for e in log.of("session.update"))
    assert voices == ["cedar"] * 4 + ["marin"] * 4
    kinds = [e.kind for e in events]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("trial_started") == kinds.count("trial_finished") == 8
    assert [e.done for e in events if e.kind == "trial_finished"] == list(range(1, 9))
    assert all(e.total == 8 for e in events) and len(finished) == 8
    # the sessions overlapped (concurrency 8): the run took about one trial, not eight
    assert sum(t.duration_s for t in run.trials) > 2.5 * max(t.duration_s for t in run.trials)


def test_unreachable_target_is_retried_then_errored(tmp_path, monkeypatch):
    _fake_render(monkeypatch)
    monkeypatch.setattr(suite_module, "RETRY_BASE_DELAY_S", 0.05)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    events: list[ProgressEvent] = []
    sc = scenario([{"say": "hello"}], name="gamma")
    run = asyncio.run(run_suite([sc], out_dir=tmp_path, target=f"ws://127.0.0.1:{port}/v1",
                                retries=2, on_progress=events.append))
    (trial,) = run.trials
    assert trial.status == "errored" and trial.attempts == 0 and "is unreachable" in trial.error
    assert [e.kind for e in events].count("trial_retry") == 2
    rec = Recording.load(tmp_path / "gamma/trial-0")
    assert rec.meta.status == "errored" and rec.frames[-1].type == "harness.trial.ended"
    assert json.loads((tmp_path / "run.json").read_text())["trials"][0]["status"] == "errored"


def test_error_event_at_set_up_is_an_unknown_model(tmp_path):
    async def handler(ws):
        await ws.send(json.dumps({"type": "session.created", "session": {}}))
        await ws.recv()
        await ws.send(json.dumps({"type": "error", "error": {
            "type": "invalid_request_error", "code": "model_not_found",
            "message": "The model 'gpt-nope' does not exist."}}))
        await asyncio.sleep(1)

    async def go():
        sc = scenario([{"say": "hi"}])
        async with serve(handler, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            return await run_trial(sc, out_dir=tmp_path / "t", script=FakeScript(sc),
                                   target=f"ws://127.0.0.1:{port}/v1/realtime", retries=0)

    res = asyncio.run(go())
    assert res.status == "errored"
    assert res.error.startswith("unknown model at ws://127.0.0.1:") and "gpt-nope" in res.error
    assert Recording.load(tmp_path / "t").meta.status == "errored"


def test_api_key_reaches_the_server_but_no_file(tmp_path, monkeypatch):
    _fake_render(monkeypatch)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    sc = scenario([{"say": "hello"}], name="delta")

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=200)) as srv:
            monkeypatch.setenv("OPENAI_BASE_URL", srv.url.replace("ws://", "http://")
                               .removesuffix("/realtime"))
            return await run_suite([sc], out_dir=tmp_path, target="openai"), srv.log

    run, log = asyncio.run(go())
    assert run.trials[0].status == "completed", run.trials[0].error
    assert log.headers[0]["authorization"] == f"Bearer {SECRET}"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 7
    assert not [p for p in files if SECRET.encode() in p.read_bytes()]
    assert Recording.load(tmp_path / "delta/trial-0").meta.target == "openai:gpt-realtime"


KILLED_TRIAL = """
import asyncio, sys
sys.path.insert(0, {tests!r})
from pathlib import Path
from scripted import Behaviour, FakeScript, ScriptedServer, scenario
from harness.runner import run_trial

async def main():
    sc = scenario([{{"say": "one"}}, {{"silence_ms": 20000}}])
    async with ScriptedServer(Behaviour()) as srv:
        print("running", flush=True)
        await run_trial(sc, out_dir=Path({out!r}), target=srv.url, script=FakeScript(sc))

asyncio.run(main())
"""


def test_a_run_killed_mid_trial_leaves_a_readable_incomplete_recording(tmp_path):
    code = KILLED_TRIAL.format(tests=str(Path(__file__).parent), out=str(tmp_path / "t"))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(Path.cwd())})
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"running"
    time.sleep(3.0)  # past the first answer, inside the long silence
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    rec = Recording.load(tmp_path / "t")
    assert rec.meta.status == "incomplete"
    types = [f.type for f in rec.frames]
    assert "harness.turn.started" in types and "response.output_audio.delta" in types
    assert "harness.trial.ended" not in types
    assert [f.seq for f in rec.frames] == list(range(len(rec.frames)))
