"""One exit-code contract for every command: 0 all passed, 1 some failed, 2 usage or invalid
input, 3 some errored. A test per command per outcome (the pytest route's are in
tests/test_pytest_plugin.py, ``harness run``'s passed and failed runs against the local agent in
tests/report/test_run_e2e.py and tests/test_e2e_suite.py)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
from ports import free_tcp_port
from report_factory import errored_trial, failing_trial, passing_trial, write_run
from typer.testing import CliRunner

from harness.cli import main
from harness.errors import InputError, InputErrors, TargetError
from harness.exit_codes import EXIT_ERRORED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, exit_code
from harness.recording import VERDICTS_FILE
from tests.scoring.calls import order_call

ROOT = Path(__file__).resolve().parents[2]
AGENT = ROOT / "agents" / "support.yaml"
GOOD = f"""name: tiny
agent: {AGENT}
turns:
  - say: "Hi."
expect:
  - no_tool_call: {{name: cancel_order}}
"""
BAD = GOOD.replace("say:", "sing:")


def harness(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "COLUMNS": "200"})


def cli(args: list[str]) -> int:
    """Exit code of ``harness ARGS`` run in this process through the console entry point."""
    with pytest.raises(SystemExit) as stopped:
        main(args)
    return int(stopped.value.code or 0)


@pytest.mark.parametrize("statuses, error, code", [
    ([], None, EXIT_OK),
    (["passed", "passed"], None, EXIT_OK),
    (["pass", "fail"], None, EXIT_FAILED),
    (["failed", "errored", "passed"], None, EXIT_ERRORED),
    (["fail", "error"], None, EXIT_ERRORED),
    (["incomplete"], None, EXIT_ERRORED),
    ([], InputError("bad"), EXIT_USAGE),
    ([], InputErrors([InputError("bad")]), EXIT_USAGE),
    ([], click.UsageError("no such option"), EXIT_USAGE),
    ([], TargetError("unreachable"), EXIT_ERRORED),
])
def test_the_one_function(statuses: list[str], error: BaseException | None, code: int) -> None:
    assert exit_code(statuses, error=error) == code


def test_validate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    assert cli(["validate", str(good)]) == EXIT_OK
    assert cli(["validate", str(bad)]) == EXIT_USAGE
    assert cli(["validate", str(tmp_path / "nowhere.yaml")]) == EXIT_USAGE
    assert cli(["validate"]) == EXIT_USAGE  # no path: a usage error
    assert "Traceback" not in "".join(capsys.readouterr())


def test_render(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    assert cli(["render", str(good), "-o", str(tmp_path / "out")]) == EXIT_OK
    assert (tmp_path / "out").is_dir()
    assert cli(["render", str(bad), "-o", str(tmp_path / "out2")]) == EXIT_USAGE
    assert cli(["render", str(good)]) == EXIT_USAGE  # -o missing
    assert "Traceback" not in "".join(capsys.readouterr())


def _scored_run(tmp_path: Path, expect: list | None = None, *, fault: str | None = None) -> Path:
    run = tmp_path / "run"
    order_call(fault, expect=expect).write(run / "s" / "trial-0")
    (run / "run.json").write_text(json.dumps({"schema_version": 1, "trials": [
        {"path": "s/trial-0", "status": "completed"}]}))
    return run


def test_score(tmp_path: Path) -> None:
    assert harness("score", str(_scored_run(tmp_path / "a"))).returncode == EXIT_OK
    assert harness("score", str(_scored_run(tmp_path / "b", fault="no_preamble"))
                   ).returncode == EXIT_FAILED
    # An expectation no scorer can read is an error verdict: the trial could not be graded.
    broken = _scored_run(tmp_path / "c", expect=[{"latency": {"max_ms": "soon"}}])
    done = harness("score", str(broken))
    assert done.returncode == EXIT_ERRORED, done.stdout
    assert json.loads((broken / "s/trial-0" / VERDICTS_FILE).read_text())["verdicts"][0][
        "status"] == "error"
    done = harness("score", str(tmp_path / "nowhere"))
    assert done.returncode == EXIT_USAGE and "Traceback" not in done.stderr


def test_integrity_findings_reach_junit_and_the_html_report(tmp_path: Path) -> None:
    """A server error in an otherwise passing call: scored, it is a failed integrity verdict
    that fails the trial in junit.xml and shows in the report, named as it is in verdicts.json."""
    run = tmp_path / "run"
    call = order_call()
    call.add(2500.0, "received", "error", {"error": {
        "type": "server_error", "code": "server_error", "message": "The server had an error."}})
    call.write(run / "s" / "trial-0")
    (run / "run.json").write_text(json.dumps({"schema_version": 1, "trials": [
        {"scenario": "s", "path": "s/trial-0", "status": "completed"}]}))
    assert harness("score", str(run)).returncode == EXIT_FAILED
    verdicts = json.loads((run / "s/trial-0" / VERDICTS_FILE).read_text())["verdicts"]
    found = [v for v in verdicts if v["kind"].startswith("integrity.")]
    assert [(v["kind"], v["status"]) for v in found] == [("integrity.server_error", "fail")]
    assert all(v["status"] == "pass" for v in verdicts if v not in found)
    done = harness("report", str(run))
    assert done.returncode == EXIT_FAILED, done.stdout + done.stderr
    junit = (run / "junit.xml").read_text()
    assert junit.count("<failure") == 1 and "integrity.server_error" in junit
    html = "".join(p.read_text() for p in [run / "index.html", *run.glob("pages/*.html")])
    assert "integrity.server_error" in html and "server_error at 2,500 ms" in html


def test_report(tmp_path: Path) -> None:
    runner = CliRunner()
    passed = write_run(tmp_path / "p", [passing_trial(tmp_path / "p", "a/trial-0")])
    failed = write_run(tmp_path / "f", [passing_trial(tmp_path / "f", "a/trial-0"),
                                        failing_trial(tmp_path / "f", "b/trial-0")])
    errored = write_run(tmp_path / "e", [failing_trial(tmp_path / "e", "b/trial-0"),
                                         errored_trial(tmp_path / "e", "c/trial-0")])
    from harness.cli import app

    codes = [runner.invoke(app, ["report", str(d)]).exit_code for d in (passed, failed, errored)]
    assert codes == [EXIT_OK, EXIT_FAILED, EXIT_ERRORED]
    assert runner.invoke(app, ["report", str(tmp_path / "nowhere")]).exit_code == EXIT_USAGE


@pytest.mark.parametrize("command", ["score", "report"])
def test_run_folders_the_system_refuses_or_of_the_wrong_shape_are_usage_errors(
        tmp_path: Path, command: str) -> None:
    shapes = {"trial-not-object": {"trials": [5]}, "no-trials": {"run_id": "x"},
              "path-not-string": {"trials": [{"path": 3}]}}
    for name, content in shapes.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "run.json").write_text(json.dumps(content))
    cases = [tmp_path / ("x" * 5000), *(tmp_path / name for name in shapes)]
    for folder in cases:
        done = harness(command, str(folder))
        assert done.returncode == EXIT_USAGE, (folder.name[:20], done.stderr)
        assert "Traceback" not in done.stderr and "run.json" in done.stderr, done.stderr


def test_run_passed_and_failed(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "runner"))
    from scripted import Behaviour, ScriptedServer  # noqa: PLC0415 - a test double's module

    passes, fails = tmp_path / "passes.yaml", tmp_path / "fails.yaml"
    passes.write_text(GOOD)
    fails.write_text(GOOD.replace("no_tool_call: {name: cancel_order}",
                                  "tool_called: {name: cancel_order}"))
    assert "tool_called" in fails.read_text()

    async def both() -> list[subprocess.CompletedProcess[str]]:
        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            return [await asyncio.to_thread(harness, "run", str(path), "--target", srv.url,
                                            "-o", str(tmp_path / path.stem))
                    for path in (passes, fails)]

    passed, failed = asyncio.run(both())
    assert passed.returncode == EXIT_OK, passed.stdout + passed.stderr
    assert failed.returncode == EXIT_FAILED, failed.stdout + failed.stderr
    assert "1 failed" in failed.stdout


def test_run_bad_input_and_errored(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(BAD)
    out = tmp_path / "reports"
    assert harness("run", str(bad), "-o", str(out)).returncode == EXIT_USAGE
    assert harness("run", str(good), "--trials", "0", "-o", str(out)).returncode == EXIT_USAGE
    assert harness("run", str(good), "--no-such-option").returncode == EXIT_USAGE
    # Nothing listens on port 9: the trial errors (the target, not the agent's behaviour).
    done = harness("run", str(good), "--target", "ws://127.0.0.1:9/v1/realtime", "-o", str(out))
    assert done.returncode == EXIT_ERRORED, done.stdout + done.stderr
    assert "1 errored" in done.stdout and "Traceback" not in done.stderr


def test_agent_serve(tmp_path: Path) -> None:
    done = harness("agent", "serve", "--fault", "no_such_fault")
    assert done.returncode == EXIT_USAGE and "unknown fault 'no_such_fault'" in done.stderr
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = harness("agent", "serve", "--port", port)
    assert done.returncode == EXIT_USAGE, done.stderr
    assert "cannot listen on 127.0.0.1:" in done.stderr and "Traceback" not in done.stderr
    # A SIP call has no client to configure the agent: --sip needs --agent.
    done = harness("agent", "serve", "--sip", "0")
    assert done.returncode == EXIT_USAGE and "give --agent" in done.stderr, done.stderr
    # Served, then stopped with Ctrl-C: a clean 0.
    # As started from a terminal: a test run started in the background inherits SIGINT ignored.
    proc = subprocess.Popen(
        [sys.executable, "-c", "from harness.cli import main; main()", "agent", "serve",
         "--port", str(free_tcp_port()), "--sip", "0", "--agent", str(ROOT / "agents" /
                                                                    "support.yaml")],
        stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert "local agent listening on ws://127.0.0.1:" in line
        assert "local agent listening on sip:agent@127.0.0.1:" in proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == EXIT_OK
    finally:
        if proc.poll() is None:
            proc.kill()
