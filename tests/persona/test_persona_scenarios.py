"""Persona scenarios as files: the section's validation, what a run needs before any call, and
how a persona's line is labelled for the scorers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main
from harness.runner.persona import line_facts
from harness.scenario import load_suite

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "examples" / "personas"
HARNESS = Path(sys.executable).with_name("harness")
AGENT = REPO / "agents" / "support.yaml"


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out + err


def _scenario(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(f"name: p\nagent: {AGENT}\n{body}", encoding="utf-8")
    return path


def test_the_library_is_valid_and_each_persona_grades_its_goal() -> None:
    suite = load_suite([LIBRARY])
    assert len(suite) >= 6
    for scenario in suite:
        assert scenario.persona is not None and scenario.persona.goal_reached is not None
        assert "goal_met" in [e.kind for e in scenario.expect]
    characters = [s.persona.character for s in suite if s.persona]
    assert any(c.two_breaths for c in characters) and any(c.corrects_itself for c in characters)
    assert any(c.says_no_at_confirmation for c in characters)
    assert any(c.wants_human for c in characters)
    assert any(c.interrupts_after_ms for c in characters)
    assert any(s.caller.engine_name == "kokoro" for s in suite if s.persona.character.accent)


@pytest.mark.parametrize(("body", "message"), [
    ("expect:\n  - latency: {max_ms: 1000}\n", "a scenario needs turns, a persona, or both"),
    ("persona: {facts: {order_id: '1'}}\nexpect:\n  - latency: {max_ms: 1000}\n",
     "persona.goal: required key is missing"),
    ("persona: {goal: g, mood: angry}\nexpect:\n  - latency: {max_ms: 1000}\n",
     "persona.mood"),
    ("persona: {goal: g, goal_reached: {arguments: {order_id: '1'}}}\n"
     "expect:\n  - latency: {max_ms: 1000}\n", "give tool (with optional arguments) or "
     "agent_says"),
    ("persona: {goal: g}\nexpect:\n  - goal_met\n", "goal_met needs the persona's goal_reached"),
    ("turns:\n  - say: hi\nexpect:\n  - goal_met\n", "this scenario has no persona"),
    ("persona: {goal: g, goal_reached: {tool: order_pizza}}\nexpect:\n  - goal_met\n",
     "order_pizza"),
    ("max_duration_s: 60\npersona: {goal: g}\nexpect:\n  - turn_answered\n",
     "persona.max_duration_s (90) must be below the call's time limit, max_duration_s (60)"),
    ("turns:\n  - say: hi\npersona: {goal: g}\nexpect:\n  - turn_answered: {turns: [2]}\n",
     "turn 2 is not a scripted turn: a persona's lines are not known before the call"),
])
def test_a_bad_persona_is_one_located_error_exit_2(tmp_path, capsys, body, message) -> None:
    code, output = _cli(["validate", str(_scenario(tmp_path, body))], capsys)
    assert code == 2 and message in output and "Traceback" not in output
    assert "p.yaml:" in output


def test_a_persona_run_without_a_caller_model_stops_before_any_call(tmp_path, monkeypatch
                                                                     ) -> None:
    monkeypatch.delenv("HARNESS_CALLER_MODEL", raising=False)
    out = tmp_path / "reports"
    result = subprocess.run([HARNESS, "run", str(LIBRARY / "persona-wants-human.yaml"),
                             "-o", str(out)], capture_output=True, text=True, timeout=120,
                            env={**_env(), "HARNESS_CALLER_MODEL": ""})
    assert result.returncode == 2, result.stderr
    assert "--caller-model" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists() or not any(out.iterdir())


def test_a_persona_cannot_be_dialled_over_sip(tmp_path) -> None:
    result = subprocess.run([HARNESS, "run", str(LIBRARY / "persona-wants-human.yaml"),
                             "--target", "local-sip", "--caller-model", "m",
                             "-o", str(tmp_path)], capture_output=True, text=True, timeout=120,
                            env=_env())
    assert result.returncode == 2 and "SIP call" in result.stderr, result.stderr


def test_replaying_a_folder_without_persona_calls_is_refused(tmp_path) -> None:
    (tmp_path / "run.json").write_text('{"trials": []}')
    result = subprocess.run([HARNESS, "run", str(LIBRARY / "persona-wants-human.yaml"),
                             "--replay-callers", str(tmp_path), "-o", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120, env=_env())
    assert result.returncode == 2 and "no persona call to replay" in result.stderr


def test_a_line_is_labelled_with_the_facts_it_says_in_strict_spoken_forms() -> None:
    facts = {"order_id": "83521", "email": "ann@example.com"}
    assert line_facts("It's eight, three, five, two, one.", facts) == ["order_id"]
    assert line_facts("It's eight, three, five.", facts) == []
    # the grader's strict forms: a recogniser's repair ("made" for eight) is not a value
    assert line_facts("made 3, 5, 2, 1", facts) == []
    assert line_facts("ann at example dot com", facts) == ["email"]


def _env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_CALLER")}
