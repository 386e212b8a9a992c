"""Persona calls end to end, offline: the library in ``examples/personas`` against the local
agent, its caller played by the scripted caller model (a real chat-completions server on
loopback). Each persona provokes the verdicts it is built for, a fault is caught in a persona
call, a second run answers from the cache with the same audio, a recorded run replays, and a
broken caller model errors its trial without a key reaching any file."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fault_table import SILENT_AGENT_MAY_PASS

from harness import api
from harness.persona.scripted import ScriptedCallerModel, load_scripts
from harness.recording import Recording
from harness.report import RunOutcome

# three calls at once, and the caller lines of the accented persona rendered by Kokoro during
# its calls: about as heavy as five calls of the example suite
pytestmark = [pytest.mark.slow, pytest.mark.calls(5)]

LIBRARY = Path(__file__).resolve().parents[1] / "examples" / "personas"
KEY = "sk-caller-secret-0123456789"
AT_ONCE = 3


@pytest.fixture(scope="module")
def caller_model(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScriptedCallerModel]:
    """The scripted caller model, its cache in a folder of this module's, and a key in the
    environment that must reach no file."""
    saved = {k: os.environ.get(k) for k in ("HARNESS_CALLER_CACHE", "HARNESS_CALLER_API_KEY")}
    os.environ["HARNESS_CALLER_CACHE"] = str(tmp_path_factory.mktemp("caller-cache"))
    os.environ["HARNESS_CALLER_API_KEY"] = KEY
    try:
        with ScriptedCallerModel(load_scripts([LIBRARY / "scripts"])) as server:
            yield server
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(paths: list[Path], out: Path, server: ScriptedCallerModel | None, **options: object
         ) -> RunOutcome:
    model = {"caller_model": "scripted", "caller_url": server.url} if server else {}
    return asyncio.run(api.run_async(paths, out_dir=out, concurrency=AT_ONCE,
                                     **model, **options))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def library_runs(caller_model: ScriptedCallerModel, tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[RunOutcome, int, RunOutcome, int]:
    """The library run twice with the same cache: (first, its requests, second, its
    requests)."""
    out = tmp_path_factory.mktemp("personas")
    first = _run([LIBRARY], out, caller_model)
    asked = caller_model.requests
    second = _run([LIBRARY], out, caller_model)
    return first, asked, second, caller_model.requests - asked


def _lines(outcome: RunOutcome) -> dict[str, list[dict[str, object]]]:
    out = {}
    for t in outcome.trials:
        frames = Recording.load(t.path).annotations("harness.persona.line")
        out[t.scenario] = [line.model_dump() for _f, line in frames]
    return out


def _ended(outcome: RunOutcome, scenario: str) -> dict[str, object]:
    trial = next(t for t in outcome.trials if t.scenario == scenario)
    (ended,) = Recording.load(trial.path).annotations("harness.persona.ended")
    return ended[1].model_dump()


def _failed(outcome: RunOutcome, scenario: str) -> set[str]:
    trial = next(t for t in outcome.trials if t.scenario == scenario)
    return {v.kind for v in trial.verdicts if v.status != "pass"}


@pytest.mark.shared_calls
def test_every_library_persona_reaches_its_goal_with_the_verdicts_it_provokes(library_runs
                                                                              ) -> None:
    first, asked, _, _ = library_runs
    assert len(first.trials) == len(list(LIBRARY.glob("persona-*.yaml"))) >= 6
    problems = {t.scenario: [f"{v.kind}: {v.summary}" for v in t.verdicts if v.status != "pass"]
                for t in first.trials}
    assert all(not p for p in problems.values()), problems
    assert first.exit_code == api.EXIT_OK
    assert asked > 0
    lines = _lines(first)
    for scenario in lines:
        ended = _ended(first, scenario)
        assert ended["reason"] == "goal_reached" and ended["goal_met"], (scenario, ended)
    # each character did what it is built to do, as the recording shows
    said = {s: [str(line["say"]) for line in ls] for s, ls in lines.items()}
    assert "It's eight, three, five." in said["persona-two-breaths"]
    assert any("three, six" in x for x in said["persona-corrects-digit"])
    # a scripted turn (a recorded clip) first, then the persona: its lines are turns 2, 3, ...
    assert lines["persona-corrects-digit"][0]["turn_index"] == 1
    assert any(line["intent"] == "correct" for line in lines["persona-corrects-digit"])
    assert any(line["intent"] == "deny" for line in lines["persona-says-no"])
    assert any(line["trigger"] == "barge_in" for line in lines["persona-talks-over"])
    assert any("person" in x for x in said["persona-wants-human"])
    accented = next(t for t in first.trials if t.scenario == "persona-accented")
    assert accented.meta["caller_voice"]["engine"] == "kokoro"
    # the caller model and what it cost are recorded; its key is not
    requested = [line for ls in lines.values() for line in ls if line["source"] == "model"]
    assert requested and all(int(line["prompt_tokens"]) > 0 for line in requested)  # type: ignore
    for t in first.trials:
        assert t.meta["caller_model"] == {"endpoint": caller_model_host(first), "model":
                                          "scripted"}
    _no_key_in(first.run_dir)


def caller_model_host(outcome: RunOutcome) -> str:
    meta = json.loads((outcome.trials[0].path / "meta.json").read_text())
    return str(meta["caller_model"]["endpoint"])


@pytest.mark.shared_calls
def test_a_second_run_answers_from_the_cache_with_the_same_audio(library_runs) -> None:
    first, _, second, asked_again = library_runs
    before, after = _lines(first), _lines(second)
    served: dict[str, tuple[int, int]] = {}
    for scenario, lines in after.items():
        # a line is asked again only where the conversation before it differs (the agent
        # heard or said something else this time); every line after the same conversation
        # comes from the cache with the same rendered audio
        earlier = before[scenario]
        prefix = 0
        while prefix < min(len(lines), len(earlier)) and \
                lines[prefix]["heard"] == earlier[prefix]["heard"]:
            assert lines[prefix]["say"] == earlier[prefix]["say"]
            assert lines[prefix]["audio_sha256"] == earlier[prefix]["audio_sha256"]
            assert lines[prefix]["source"] in ("cache", "opening"), (scenario, prefix)
            prefix += 1
        if prefix < len(lines):
            # where the conversations part, the line does not come from the cache
            assert lines[prefix]["source"] != "cache", (scenario, prefix)
        served[scenario] = (prefix, len(lines))
    print("\nlines served before the conversations parted:", served)
    assert asked_again == sum(1 for ls in after.values() for line in ls
                              if line["source"] == "model")
    # measured: all 17 lines of the 6 calls on an idle machine; in one CI run only 3 of the 6
    # calls repeated their whole conversation (the local agent's recogniser, its turns cut at
    # other moments under the load of three calls at once, heard a number differently the
    # second time). The cache must still have served as many lines as there are calls.
    assert sum(p for p, _n in served.values()) >= len(after), served


def test_a_recorded_persona_call_replays_without_the_caller_model(library_runs, tmp_path
                                                                  ) -> None:
    first = library_runs[0]
    replay = _run([LIBRARY / "persona-says-no.yaml"], tmp_path, None,
                  replay_callers=first.run_dir)
    recorded = _lines(first)["persona-says-no"]
    replayed = _lines(replay)["persona-says-no"]
    assert [line["say"] for line in replayed] == [line["say"] for line in recorded]
    assert [line["source"] for line in replayed][1:] == ["replay"] * (len(recorded) - 1)
    assert [line["audio_sha256"] for line in replayed] == \
        [line["audio_sha256"] for line in recorded]
    assert replay.exit_code == api.EXIT_OK, _failed(replay, "persona-says-no")


def test_a_fault_of_the_fault_table_is_caught_in_a_persona_call(caller_model, tmp_path
                                                                ) -> None:
    outcome = _run([LIBRARY / "persona-wants-human.yaml", LIBRARY / "persona-two-breaths.yaml"],
                   tmp_path, caller_model, faults=("never_escalate", "tool_on_partial_id"))
    assert _failed(outcome, "persona-wants-human") == {"goal_met", "escalation"}
    assert _ended(outcome, "persona-wants-human")["goal_met"] is False
    # the first breath, "eight, three, five", went to the lookup before the caller gave the rest
    assert _failed(outcome, "persona-two-breaths") == {"entity_confirmed"}
    trial = next(t for t in outcome.trials if t.scenario == "persona-two-breaths")
    calls = [a.arguments for _f, a in Recording.load(trial.path).annotations(
        "harness.tool.answered")]
    assert calls[0] == {"order_id": "835"}


def test_a_mute_agent_fails_a_persona_call_and_passes_nothing(caller_model, tmp_path) -> None:
    # The caller model has nothing of the agent's to answer: the call ends without its goal,
    # and nothing the agent had to do passes (only the prohibitions a silent agent keeps).
    outcome = _run([LIBRARY / "persona-says-no.yaml"], tmp_path, caller_model, faults=("mute",))
    (trial,) = outcome.trials
    assert trial.run_status == "completed" and trial.outcome == "failed"
    assert "goal_met" in _failed(outcome, "persona-says-no")
    assert _ended(outcome, "persona-says-no")["goal_met"] is False
    acted = [v.kind for v in trial.verdicts if v.status == "pass"
             and not SILENT_AGENT_MAY_PASS.get(v.kind, lambda p: False)(v.params)]
    assert acted == [] and {v.kind for v in trial.verdicts if v.status != "pass"} == \
        {"goal_met"}, trial.verdicts


SCRIPT = """scenario: {name}
lines:
  - {line}
"""
PERSONA = """name: {name}
extends: {defaults}
max_duration_s: 120
persona:
  goal: Find out where order 83521 is.
  facts: {{order_id: "83521"}}
expect:
  - turn_answered
"""


def test_a_broken_caller_model_errors_the_trial_with_its_reason(tmp_path, monkeypatch) -> None:
    broken = {"caller-http-error": "{say: x, status: 503}",
              "caller-too-slow": "{say: x, delay_s: 4}",
              "caller-nonsense": "{content: 'Sure! I am the caller.'}"}
    defaults = LIBRARY.parent.parent / "scenarios" / "_defaults.yaml"
    for name, line in broken.items():
        (tmp_path / f"{name}.yaml").write_text(PERSONA.format(name=name, defaults=defaults))
        (tmp_path / "scripts").mkdir(exist_ok=True)
        (tmp_path / "scripts" / f"{name}.yaml").write_text(SCRIPT.format(name=name, line=line))
    monkeypatch.setenv("HARNESS_CALLER_TIMEOUT_S", "2")
    monkeypatch.setenv("HARNESS_CALLER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HARNESS_CALLER_API_KEY", KEY)
    with ScriptedCallerModel(load_scripts([tmp_path / "scripts"])) as server:
        outcome = _run([tmp_path / f"{n}.yaml" for n in broken], tmp_path / "runs", server)
    assert outcome.exit_code == api.EXIT_ERRORED
    reasons = {t.scenario: (t.run_status, t.outcome, t.error) for t in outcome.trials}
    assert reasons["caller-http-error"][:2] == ("errored", "errored")
    assert "answered HTTP 503" in str(reasons["caller-http-error"][2])
    assert "did not answer within 2 s" in str(reasons["caller-too-slow"][2])
    assert "is not a caller line" in str(reasons["caller-nonsense"][2])
    assert all(r[1] == "errored" for r in reasons.values()), reasons
    _no_key_in(outcome.run_dir)
    assert not list((tmp_path / "cache").rglob("*.json"))


def _no_key_in(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".html", ".xml", ".txt"):
            assert KEY not in path.read_text(encoding="utf-8", errors="replace"), path


@pytest.mark.shared_calls
def test_the_persona_page_shows_the_goal_the_lines_and_the_outcome(library_runs) -> None:
    playwright_api = pytest.importorskip("playwright.sync_api")
    first = library_runs[0]
    page_file = first.run_dir / "pages" / "persona-corrects-digit-trial-0.html"
    lines = _lines(first)["persona-corrects-digit"]
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(page_file.as_uri())
        section = page.locator("#persona").inner_text()
        outcome = page.locator("#persona-outcome").inner_text()
        rows = page.locator("#persona-lines tbody tr").all_inner_texts()
        browser.close()
    assert "Find out where order 83521 is." in section and "corrects itself" in section
    assert outcome.startswith("goal met") and "goal reached" in outcome
    assert "scripted at 127.0.0.1:" in outcome
    assert len(rows) == len(lines) and "three, six" in rows[0] and errors == []
