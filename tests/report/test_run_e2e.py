"""harness.api.run end to end: real runner, real scorers, real reports."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness import api

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_target_gives_an_errored_run(tmp_path: Path) -> None:
    events = []
    outcome = api.run([SCENARIOS / "human-request.yaml"], out_dir=tmp_path,
                      target=f"ws://127.0.0.1:{_closed_port()}/v1/realtime",
                      on_progress=events.append)
    assert api.exit_code(outcome) == 3
    assert outcome.run_dir.parent == tmp_path and outcome.run_dir.name.startswith("run-")
    (trial,) = outcome.trials
    assert trial.outcome == "errored" and trial.error
    assert [e.kind for e in events][0] == "run_started"
    assert [e.kind for e in events][-1] == "run_finished"
    suite = ET.parse(outcome.junit_xml).getroot().find("testsuite")
    assert suite is not None and suite.get("errors") == "1" and suite.get("failures") == "0"
    assert suite.find("testcase/error") is not None
    assert (outcome.run_dir / "pages" / "human-request-trial-0.html").is_file()


@pytest.mark.slow
@pytest.mark.calls(1)
def test_local_agent_call_is_recorded_scored_and_reported(tmp_path: Path) -> None:
    outcome = api.run([SCENARIOS / "human-request.yaml"], out_dir=tmp_path)
    (trial,) = outcome.trials
    assert trial.outcome == "passed", [v.summary for v in trial.failing] or trial.error
    assert api.exit_code(outcome) == 0
    assert {v.kind for v in trial.verdicts} == {"escalation", "preamble", "no_tool_call"}
    assert trial.voice_to_voice_ms, "every answered turn has a voice-to-voice latency"
    page = (outcome.run_dir / "pages" / "human-request-trial-0.html").read_text()
    assert 'src="../human-request/trial-0/call.wav"' in page
    fig = json.loads(page.split('id="fig-timeline">', 1)[1].split("</script>", 1)[0])
    names = {t["name"] for t in fig["data"]}
    assert {"caller speech", "agent played", "VAD speech", "tool call"} <= names
    summary = json.loads(outcome.summary_json.read_text())
    assert summary["totals"] == {"trials": 1, "passed": 1, "failed": 0, "errored": 0,
                                 "pass_rate": 1.0}
