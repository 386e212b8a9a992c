"""The pytest route into the history store: ``--realtime-store`` records the run folder of
``--realtime-report`` under ``--realtime-label``, and refuses to run without a report folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.store import open_store

pytest_plugins = ["pytester"]

AGENT = Path(__file__).resolve().parents[2] / "agents" / "support.yaml"
GREETING = f"""\
name: greeting
agent: {AGENT}
turns:
  - say: "Hi, I want to check on my order."
expect:
  - turn_answered: {{timeout_ms: 10000}}
"""


def test_pytest_run_is_stored_with_its_label(pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makefile(".yaml", greeting=GREETING)
    store = tmp_path / "history.db"
    result = pytester.runpytest_subprocess(
        "--realtime-target", "ws://127.0.0.1:9/v1/realtime", "--realtime-trials", "2",
        "--realtime-report", str(tmp_path / "report"), "--realtime-store", str(store),
        "--realtime-label", "ci", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["realtime store: stored run *"])
    with open_store(store) as history:
        run = history.load_run("ci")
    assert [(t.scenario, t.trial, t.status) for t in run.trials] == [
        ("greeting", 0, "errored"), ("greeting", 1, "errored")]
    assert run.report_path == str((tmp_path / "report" / "index.html").resolve())


def test_store_without_report_folder_is_a_usage_error(pytester: pytest.Pytester,
                                                      tmp_path: Path) -> None:
    pytester.makefile(".yaml", greeting=GREETING)
    result = pytester.runpytest_subprocess("--realtime-store", str(tmp_path / "h.db"),
                                           "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--realtime-store needs --realtime-report DIR*"])
