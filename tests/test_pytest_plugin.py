"""The pytest plugin, exercised the way users meet it: pytest in a subprocess, output matched."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
AGENT = REPO / "agents" / "support.yaml"

pytest_plugins = ["pytester"]

GREETING = f"""\
name: greeting
agent: {AGENT}
turns:
  - say: "Hi, I want to check on my order."
expect:
  - turn_answered: {{timeout_ms: 10000}}
  - no_tool_call: {{}}
"""

LOOKUP = f"""\
name: lookup
agent: {AGENT}
turns:
  - say: "Hi, I want to check on my order."
  - say: "It is eight, three, five, two, one."
    entity: {{order_id: "83521"}}
  - say: "Yes, that's right."
    intent: affirm
tools:
  lookup_order: {{returns: {{status: shipped, eta: "April 25"}}}}
expect:
  - tool_called: {{name: lookup_order, arguments: {{order_id: "83521"}}}}
  - preamble: {{before_tool: lookup_order}}
"""

PREAMBLE_LINE = LOOKUP.splitlines().index("  - preamble: {before_tool: lookup_order}") + 1


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", greeting=GREETING, lookup=LOOKUP,
                      notes="title: not a scenario\nitems: [1, 2]\n")
    return pytester


def test_collects_the_example_suite_one_item_per_scenario_and_trial(pytester: pytest.Pytester
                                                                    ) -> None:
    result = pytester.runpytest_subprocess(
        str(REPO / "scenarios"), "--collect-only", "-q", "--realtime-trials", "2",
        "-p", "no:cacheprovider")
    scenarios = [p for p in (REPO / "scenarios").glob("*.yaml") if not p.name.startswith("_")]
    result.stdout.fnmatch_lines([
        "*scenarios/cancel-confirmed.yaml::cancel-confirmed[[]trial-0[]]",
        "*scenarios/cancel-confirmed.yaml::cancel-confirmed[[]trial-1[]]",
        f"{2 * len(scenarios)} tests collected*",
    ])
    assert "_defaults" not in result.stdout.str()


def test_pass_and_fault_failure_with_evidence_and_report(suite: pytest.Pytester,
                                                         tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = suite.runpytest_subprocess(
        "--realtime-fault", "no_preamble", "--realtime-report", str(report), "-rA",
        "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    assert result.ret == 1  # some failed
    result.stdout.fnmatch_lines([
        "lookup [[]trial-0[]]: 1 of 2 verdicts did not pass",
        # the failing verdict points at the expectation's line in the scenario file
        f"lookup.yaml:{PREAMBLE_LINE}: preamble FAIL: *",
        "*lookup_order*",
        "PASSED greeting.yaml::greeting[[]trial-0[]]*",
        "FAILED lookup.yaml::lookup[[]trial-0[]]*",
    ])
    assert "Traceback" not in result.stdout.str()
    assert (report / "index.html").is_file()
    junit = ET.parse(report / "junit.xml").getroot()
    counts = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert counts is not None and counts.get("tests") == "2"
    assert counts.get("failures") == "1"


def test_unreachable_target_is_an_error_not_a_failure(suite: pytest.Pytester) -> None:
    result = suite.runpytest_subprocess("greeting.yaml", "--realtime-target",
                                        "ws://127.0.0.1:9/v1/realtime", "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert result.ret == 3  # some errored, as every harness command says it
    result.stdout.fnmatch_lines(["*greeting [[]trial-0[]] errored: *127.0.0.1:9*"])
    assert "Traceback" not in result.stdout.str()


def test_missing_credentials_skip_with_the_reason(suite: pytest.Pytester,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    result = suite.runpytest_subprocess("--realtime-target", "openai", "-rs",
                                        "-p", "no:cacheprovider")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED*target 'openai' needs OPENAI_API_KEY*"])


def test_bad_scenario_is_one_collection_error_with_its_location(pytester: pytest.Pytester
                                                                ) -> None:
    pytester.makefile(".yaml", broken=f"name: broken\nagent: {AGENT}\nturns:\n"
                                      "  - sing: hello\nexpect:\n  - no_tool_call: {}\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    assert result.ret == 2  # invalid input
    result.stdout.fnmatch_lines(["*broken.yaml:4:*turns[[]0[]]*sing*"])
    assert "Traceback" not in result.stdout.str()


@pytest.mark.slow
@pytest.mark.calls(3)
def test_xdist_workers_each_run_their_own_agent_and_one_report(suite: pytest.Pytester,
                                                              tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = suite.runpytest_subprocess("-n", "2", "--realtime-report", str(report),
                                        "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    run = json.loads((report / "run.json").read_text())
    assert sorted(t["scenario"] for t in run["trials"]) == ["greeting", "lookup"]
    workers = {t["path"].split("/")[0] for t in run["trials"]}
    assert workers <= {"gw0", "gw1"} and workers
    assert (report / "index.html").is_file()


CLINIC_AGENT = REPO / "examples" / "clinic" / "agent.yaml"
NURSE = f"""\
name: nurse
agent: {CLINIC_AGENT}
turns:
  - say: "Hello. Can I speak to the nurse, please?"
expect:
  - escalation: {{mode: required, by_turn: 1, tool: transfer_to_nurse, spoken_handoff: true}}
"""
NURSE_FIXTURE = """\
from pathlib import Path


def test_the_fixture_runs_the_scenario_against_its_own_agent(run_scenario):
    run = run_scenario(Path(__file__).with_name("nurse.yaml"))
    assert run.passed, [v.summary for v in run.failing()]
"""


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
@pytest.mark.calls(3)
def test_every_route_uses_the_scenarios_own_agent_profile(pytester: pytest.Pytester,
                                                          workers: list[str]) -> None:
    # The clinic's agent config names its profile relative to itself; pytest runs elsewhere.
    # The default profile knows no nurse: only the configured one can pass.
    pytester.makefile(".yaml", nurse=NURSE)
    pytester.makepyfile(test_nurse_fixture=NURSE_FIXTURE)
    result = pytester.runpytest_subprocess(*workers, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_an_audio_format_puts_every_collected_scenario_on_that_line(suite: pytest.Pytester,
                                                                    tmp_path: Path) -> None:
    report = tmp_path / "report"
    result = suite.runpytest_subprocess("greeting.yaml", "--realtime-audio-format", "g711_ulaw",
                                        "--realtime-report", str(report), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    [meta] = report.glob("greeting/trial-0/meta.json")
    agent = json.loads(meta.read_text())["agent_config"]
    assert (agent["input_audio_format"], agent["output_audio_format"]) == ("audio/pcmu",) * 2
    assert agent["name"] == "support-desk"  # the scenario's own config, on a telephone line
    assert sf.info(str(meta.parent / "caller.wav")).samplerate == 8_000

    bad = suite.runpytest_subprocess("greeting.yaml", "--realtime-audio-format", "mp3",
                                     "-p", "no:cacheprovider")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*--realtime-audio-format: unknown audio format 'mp3'*"])
    assert "Traceback" not in bad.stderr.str()


@pytest.mark.slow
@pytest.mark.parametrize("workers", [[], ["-n", "1"]], ids=["one-process", "xdist"])
def test_network_conditions_reach_each_webrtc_call(suite: pytest.Pytester, tmp_path: Path,
                                                   workers: list[str]) -> None:
    report = tmp_path / "report"
    result = suite.runpytest_subprocess(
        "greeting.yaml", *workers, "--realtime-target", "local-webrtc", "--realtime-network",
        "delay=60ms,loss=5%", "--realtime-report", str(report), "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    [meta_path] = report.glob("**/greeting/trial-0/meta.json")
    meta = json.loads(meta_path.read_text())
    assert (meta["transport"], meta["network"]) == ("webrtc", "delay=60ms,jitter=0ms,loss=5%")
    assert meta["rtp"]["rtt_ms"] >= 120.0  # 60 ms each way on the path the RTCP measured
    assert meta["rtp"]["received"]["lost"] > 0


def test_bad_network_conditions_are_a_usage_error(suite: pytest.Pytester) -> None:
    for args, says in ((["--realtime-target", "local-webrtc", "--realtime-network", "delay=x"],
                        "*--realtime-network: network conditions 'delay=x': delay must be a "
                        "duration like 100ms*"),
                       (["--realtime-network", "delay=50ms"],
                        "*--realtime-network: --network imposes conditions on a WebRTC call's "
                        "path*")):
        bad = suite.runpytest_subprocess("greeting.yaml", *args, "-p", "no:cacheprovider")
        assert bad.ret == pytest.ExitCode.USAGE_ERROR
        bad.stderr.fnmatch_lines([says])
        assert "Traceback" not in bad.stderr.str()
