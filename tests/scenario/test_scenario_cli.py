"""Bad input through the real ``harness`` command: one located line per problem, exit code 1,
never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.scenario.schema import schema_text

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "agents" / "support.yaml"
CLIP = REPO / "audio_fixtures" / "clips" / "check_order_16k_stereo.wav"
HARNESS = Path(sys.executable).with_name("harness")


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out, err


# Each case: a scenario file's text and the exact line `harness validate` must print for it
# ({file} is the file's path). Every file is otherwise valid, so exactly one problem is reported.
BASE = f"""name: bad-input
agent: {AGENT}
turns:
  - say: "Can you check order eight, three, five, two, one?"
    entity: {{order_id: "83521"}}
  - say: "Yes."
    intent: affirm
expect:
  - tool_called: {{name: lookup_order}}
"""

CASES = {
    "yaml-syntax": (
        BASE.replace('  - say: "Yes."', '  - say: "Yes.'),
        '{file}:10:1: YAML syntax error: found unexpected end of stream while scanning a quoted '
        'scalar that starts at line 6, column 10'),
    "unknown-key": (
        BASE.replace("    intent: affirm", "    intent: affirm\n    tone: cheerful"),
        "{file}:8:5: turns[1].tone: unknown key (expected one of: say, audio, text, silence_ms, "
        "play, dtmf, cut_off, entity, intent, voice, noise, barge_in, after_ms, "
        "when_agent_says)"),
    "misspelt-key": (
        BASE.replace("name: lookup_order", "name: lookup_order, tims: 2"),
        "{file}:9:39: expect[0].tool_called.tims: unknown key; did you mean 'times'? "
        "(expected one of: name, arguments, times)"),
    "wrong-type": (
        BASE.replace("name: bad-input\n", "name: bad-input\nreaction_gap_ms: soon\n"),
        "{file}:2:18: reaction_gap_ms: Input should be a valid integer, unable to parse string "
        "as an integer (got 'soon')"),
    "missing-file": (
        BASE.replace('  - say: "Yes."', "  - audio: clips/nowhere.wav\n    text: Yes."),
        "{file}:6:12: turns[1].audio: file 'clips/nowhere.wav' not found (looked for "
        "{dir}/clips/nowhere.wav)"),
    "unreadable-wav": (
        BASE.replace('  - say: "Yes."', "  - audio: notes.wav\n    text: Yes."),
        "{file}:6:12: turns[1].audio: 'notes.wav' is not a readable audio file: Error opening "
        "'{dir}/notes.wav': Format not recognised."),
    "bad-after-text": (
        BASE.replace('  - say: "Yes."', '  - say: "Yes, go ahead."\n'
                     '    cut_off: {after_text: "No, go"}'),
        "{file}:7:27: turns[1].cut_off.after_text: 'No, go' is not in the turn's text "
        "'Yes, go ahead.'; after_text is the part the caller gets to say"),
    "unknown-voice": (
        BASE.replace("name: bad-input\n", "name: bad-input\ncaller: {voice: xx-nowhere}\n"),
        "{file}:2:17: caller.voice: unknown voice 'xx-nowhere' (`harness voices` lists "
        "the voices)"),
    "unknown-kokoro-voice": (
        BASE.replace("name: bad-input\n",
                     "name: bad-input\ncaller: {engine: kokoro, voice: bf_nobody}\n"),
        "{file}:2:33: caller.voice: unknown Kokoro voice 'bf_nobody'; similar voices: bf_alice, "
        "bf_emma, bf_isabella, bf_lily (`harness voices` lists them)"),
    "snr-out-of-range": (
        BASE.replace("name: bad-input\n", "name: bad-input\nnoise: {kind: babble, snr_db: 75}\n"),
        "{file}:2:31: noise.snr_db: Input should be less than or equal to 60"),
    "escape-beyond-unicode": (  # found by bench/fuzz.py: PyYAML calls chr() unchecked
        BASE.replace('  - say: "Yes."', '  - say: "Yes.\\UFFFFFFFF"'),
        "{file}:6:17: YAML syntax error: an escape names no character (a \\x, \\u or \\U "
        "code above U+10FFFF)"),
    "unknown-tool-in-expectation": (
        BASE.replace("name: lookup_order", "name: refund_order"),
        "{file}:9:25: expect[0].tool_called.name: 'refund_order' is not a tool of agent "
        "'support-desk' (tools: lookup_order, cancel_order, update_email, escalate_to_human, "
        "wait_for_user)"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_gives_one_located_line(case: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = CASES[case]
    (tmp_path / "notes.wav").write_text("these are notes, not audio\n")
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert code == 2
    lines = err.splitlines()
    assert lines[0] == expected.format(file=path, dir=tmp_path)
    assert lines[1:] == ["1 problem(s) found"]
    assert "Traceback" not in out + err


def test_the_base_case_is_valid(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(BASE)
    code, out, err = run_cli(["validate", str(path)], capsys)
    assert (code, err) == (0, "")
    assert "scenario bad-input" in out


def test_every_problem_of_every_file_is_reported(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    for case in ("unknown-voice", "bad-after-text", "unknown-tool-in-expectation"):
        (tmp_path / f"{case}.yaml").write_text(
            CASES[case][0].replace("name: bad-input", f"name: {case}"))
    code, _, err = run_cli(["validate", str(tmp_path)], capsys)
    assert code == 2
    assert [line.split(": ")[1] for line in err.splitlines()[:-1]] == [
        "turns[1].cut_off.after_text", "expect[0].tool_called.name", "caller.voice"]
    assert err.splitlines()[-1] == "3 problem(s) found"


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["validate"], capsys)[0] == 2
    assert run_cli(["validate", "--no-such-option", "x.yaml"], capsys)[0] == 2
    assert run_cli(["schema", "--kind", "recipe"], capsys)[0] == 2


def test_missing_path_is_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["validate", str(tmp_path / "nowhere")], capsys)
    assert code == 2
    assert err.splitlines()[0] == f"{tmp_path / 'nowhere'}: no such file or folder"


def test_schema_command_writes_the_schema(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "agent.json"
    assert run_cli(["schema", "--kind", "agent", "-o", str(target)], capsys)[0] == 0
    assert target.read_text() == schema_text("agent")
    code, out, _ = run_cli(["schema"], capsys)
    assert code == 0 and out == schema_text("scenario")


def test_console_script(tmp_path: Path) -> None:
    """The installed entry point: the example suite is valid; a bad file exits 2 cleanly."""
    ok = subprocess.run([HARNESS, "validate", "scenarios/", "agents/support.yaml"], cwd=REPO,
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "agent config support-desk (agents/support.yaml)" in ok.stdout
    assert "scenario order-status (scenarios/order-status.yaml)" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(CASES["snr-out-of-range"][0])
    result = subprocess.run([HARNESS, "validate", str(bad)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == CASES["snr-out-of-range"][1].format(file=bad)
    assert "Traceback" not in result.stderr


def test_render_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`harness render` goes through the audio module; bad input gets the same located lines."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(CASES["bad-after-text"][0])
    code, _, err = run_cli(["render", str(bad), "-o", str(tmp_path / "out")], capsys)
    assert code == 2
    assert err.splitlines()[0] == CASES["bad-after-text"][1].format(file=bad)
    assert not (tmp_path / "out").exists()

    good = REPO / "scenarios" / "human-request.yaml"
    code, out, err = run_cli(["render", str(good), "-o", str(tmp_path / "out")], capsys)
    assert (code, err) == (0, "")
    assert out.startswith("rendered 1 scenario(s), 2 clips")
    assert (tmp_path / "out" / "human-request" / "manifest.json").is_file()
