"""harness.api and the run/report commands on hand-made run folders: scoring of unscored trials,
exit codes, and one clear message for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from report_factory import passing_trial, three_trial_run, write_run
from typer.testing import CliRunner

from harness import api
from harness.cli import app
from harness.errors import InputError, InputErrors, TargetError


def test_report_scores_unscored_trials_with_the_real_scorers(tmp_path: Path) -> None:
    entry = passing_trial(tmp_path, "order-status/trial-0")
    verdicts = tmp_path / "order-status/trial-0/verdicts.json"
    verdicts.unlink()
    outcome = api.report(write_run(tmp_path, [entry]))
    # The recording's own expectation (latency max 1500 ms) was graded from its timeline.
    assert json.loads(verdicts.read_text())["verdicts"][0]["kind"] == "latency"
    assert [v.status for v in outcome.trials[0].verdicts] == ["pass"]
    assert outcome.trials[0].outcome == "passed"
    assert outcome.exit_code == api.EXIT_OK == 0


def test_rescore_replaces_hand_written_verdicts(tmp_path: Path) -> None:
    entry = passing_trial(tmp_path, "order-status/trial-0")
    run_dir = write_run(tmp_path, [entry])
    assert len(api.report(run_dir).trials[0].verdicts) == 4
    assert len(api.report(run_dir, rescore=True).trials[0].verdicts) == 1


def test_exit_codes(tmp_path: Path) -> None:
    assert api.exit_code(api.report(three_trial_run(tmp_path / "run"))) == 3
    assert api.exit_code(InputError("bad")) == 2
    assert api.exit_code(InputErrors([InputError("bad")])) == 2
    assert api.exit_code(TargetError("unreachable")) == 3


def test_failed_without_errored_exits_1(tmp_path: Path) -> None:
    from report_factory import failing_trial

    outcome = api.report(write_run(tmp_path, [passing_trial(tmp_path, "a/trial-0"),
                                              failing_trial(tmp_path, "b/trial-0")]))
    assert outcome.exit_code == 1


def test_cli_report(tmp_path: Path) -> None:
    run_dir = three_trial_run(tmp_path / "run")
    result = CliRunner().invoke(app, ["report", str(run_dir)], env={"COLUMNS": "200"})
    assert result.exit_code == 3, result.output
    assert "3 trials: 1 passed, 1 failed, 1 errored" in result.output
    assert (run_dir / "index.html").is_file()


@pytest.mark.parametrize("args, message", [
    (["run", "no-such-folder"], "no-such-folder: no such file or folder"),
    (["run", "--trials", "0", "scenarios"], "--trials: trials must be at least 1"),
    (["run", "--target", "openai", "--fault", "no_preamble", "scenarios"],
     "faults apply to the local reference agent only"),
    (["report", "{tmp}"], "not a run folder (no run.json)"),
    (["run", "--audio-format", "mp3", "scenarios"],
     "--audio-format: unknown audio format 'mp3'; expected one of audio/pcm"),
    (["nightly", "--audio-format", "opus", "scenarios"], "--audio-format: unknown audio format"),
])
def test_cli_bad_input_is_one_message_and_exit_2(tmp_path: Path, args: list[str],
                                                 message: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if args[0] == "run":
        args += ["-o", str(tmp_path)]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_agent_file_replaces_every_scenarios_config(tmp_path: Path) -> None:
    agents = Path(__file__).resolve().parents[2] / "agents"
    text = (agents / "support.yaml").read_text().replace("name: support-desk", "name: variant-b")
    (tmp_path / "b.yaml").write_text(text)
    (tmp_path / "support.instructions.md").write_text("Be brief.")
    suite = Path(__file__).resolve().parents[2] / "scenarios"
    own = api.load_scenarios([suite / "order-status.yaml", suite / "barge-in.yaml"])
    assert {s.agent_config.name for s in own} == {"support-desk"}
    swapped = api.load_scenarios([suite / "order-status.yaml", suite / "barge-in.yaml"],
                                 agent=tmp_path / "b.yaml")
    assert {s.agent_config.name for s in swapped} == {"variant-b"}


@pytest.mark.parametrize("name", ["audio/pcmu", "g711_ulaw", "PCMU"])
def test_an_audio_format_sets_both_directions_of_each_scenarios_own_config(name: str) -> None:
    suite = Path(__file__).resolve().parents[2] / "scenarios"
    files = [suite / "order-status.yaml", suite / "cancel-unavailable.yaml"]
    own = api.load_scenarios(files)
    line = api.load_scenarios(files, audio_format=name)
    assert [(s.agent_config.input_audio_format, s.agent_config.output_audio_format)
            for s in line] == [("audio/pcmu", "audio/pcmu")] * 2
    assert {s.agent_config.input_audio_format for s in own} == {"audio/pcm"}
    # each scenario keeps its own agent: cancel-unavailable's line has no cancellation tool
    assert [s.agent_config.name for s in line] == [s.agent_config.name for s in own]
    assert [[t.name for t in s.agent_config.tools] for s in line] == \
        [[t.name for t in s.agent_config.tools] for s in own]
    assert "cancel_order" not in {t.name for t in line[1].agent_config.tools}


def test_an_audio_format_leaves_a_scenario_without_an_agent_to_the_runners_message(
        tmp_path: Path) -> None:
    path = tmp_path / "no-agent.yaml"
    path.write_text("name: no-agent\nturns:\n  - say: hello\nexpect:\n  - no_tool_call: {}\n")
    [scenario] = api.load_scenarios([path], audio_format="audio/pcmu")
    assert scenario.agent_config is None
    result = CliRunner().invoke(app, ["run", str(path), "--audio-format", "pcmu",
                                      "-o", str(tmp_path / "out")], env={"COLUMNS": "200"})
    assert result.exit_code == 2, result.output
    assert "no agent config" in result.output and "Traceback" not in result.output
