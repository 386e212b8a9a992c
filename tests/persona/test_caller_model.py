"""The caller model against a real HTTP server speaking chat completions (the scripted caller
model): lines keyed on the agent's words, the request cache, and every way it can fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.persona import (
    CallerLine,
    CallerModel,
    CallerModelError,
    ask_caller,
    caller_model,
    conversation,
    system_prompt,
)
from harness.persona.scripted import Script, ScriptedCallerModel, load_scripts
from harness.scenario._persona import Persona

KEY = "sk-caller-secret-0123456789"
PERSONA = Persona.model_validate({
    "goal": "Find out where order 83521 is.", "facts": {"order_id": "83521"},
    "character": {"two_breaths": True, "patience": "low", "accent": "Scottish"}})
SCRIPT = Script.model_validate({
    "scenario": "two-breaths",
    "lines": [{"when": "order number", "say": "Eight, three, five."},
              {"when": "rest|part", "say": "Two, one.", "gives": ["order_id"]},
              {"when": "is that right", "say": "Yes.", "intent": "affirm"},
              {"when": "slow", "say": "x", "delay_s": 3},
              {"when": "broken", "say": "x", "status": 500},
              {"when": "nonsense", "content": "I am not JSON"},
              {"when": "stranger", "say": "Here.", "gives": ["passport"]}],
    "otherwise": {"say": "Bye.", "hang_up": True}})


@pytest.fixture
def server():
    with ScriptedCallerModel({"two-breaths": SCRIPT}) as s:
        yield s


def _model(server: ScriptedCallerModel, tmp_path: Path, timeout_s: float = 10.0) -> CallerModel:
    return CallerModel(url=server.url, model="scripted", api_key=KEY, timeout_s=timeout_s,
                       cache_dir=tmp_path / "cache")


def _ask(model: CallerModel, *agent_turns: str) -> tuple[CallerLine, bool]:
    exchanges: list[tuple[str, CallerLine]] = []
    line, cached = None, False
    for i, words in enumerate(agent_turns):
        messages = conversation(PERSONA, "two-breaths", exchanges, words)
        reply = ask_caller(model, messages, PERSONA.facts)
        line, cached = reply.line, reply.cached
        if i < len(agent_turns) - 1:
            exchanges.append((words, line))
    assert line is not None
    return line, cached


def test_lines_follow_the_agents_words_and_each_is_said_once(server, tmp_path) -> None:
    model = _model(server, tmp_path)
    line, cached = _ask(model, "What is the order number?")
    assert (line.say, line.gives, cached) == ("Eight, three, five.", [], False)
    line, _ = _ask(model, "What is the order number?", "I heard only part of it.")
    assert (line.say, line.gives) == ("Two, one.", ["order_id"])
    # the first line is used up: the same words again get what comes next that matches
    line, _ = _ask(model, "What is the order number?", "What is the order number?")
    assert line.hang_up and line.say == "Bye."
    assert server.requests == 3  # the opening exchange was asked once, then read from the cache


def test_a_repeated_conversation_is_answered_from_the_cache_without_a_request(
        server, tmp_path) -> None:
    model = _model(server, tmp_path)
    first, cached = _ask(model, "What is the order number?", "I heard only part of it.")
    assert not cached
    asked = server.requests
    again, cached = _ask(model, "What is the order number?", "I heard only part of it.")
    assert cached and again == first and server.requests == asked
    stored = "".join(p.read_text() for p in (tmp_path / "cache").rglob("*.json"))
    assert "Two, one." in stored and KEY not in stored
    assert json.loads(next((tmp_path / "cache").rglob("*.json")).read_text())["endpoint"] == \
        f"127.0.0.1:{server.url.split(':')[2].split('/')[0]}"


def test_another_model_or_persona_is_another_request(server, tmp_path) -> None:
    model = _model(server, tmp_path)
    _ask(model, "What is the order number?")
    other = CallerModel(url=server.url, model="scripted-2", cache_dir=tmp_path / "cache")
    _, cached = _ask(other, "What is the order number?")
    assert not cached and server.requests == 2


@pytest.mark.parametrize(("words", "timeout_s", "message"), [
    ("broken", 10.0, "answered HTTP 500"),
    ("slow", 1.0, "did not answer within 1 s"),
    ("nonsense", 10.0, "is not a caller line"),
    ("stranger", 10.0, "gives facts the persona does not have: passport"),
])
def test_a_failing_caller_model_is_an_error_with_its_reason_and_nothing_is_cached(
        server, tmp_path, words, timeout_s, message) -> None:
    model = _model(server, tmp_path, timeout_s)
    with pytest.raises(CallerModelError, match=message) as err:
        _ask(model, words)
    assert KEY not in str(err.value)
    assert not list((tmp_path / "cache").rglob("*.json"))


def test_an_unreachable_caller_model_is_an_error(tmp_path) -> None:
    model = CallerModel(url="http://127.0.0.1:9/v1", model="m", timeout_s=2,
                        cache_dir=tmp_path)
    with pytest.raises(CallerModelError, match="could not be used"):
        ask_caller(model, conversation(PERSONA, "x", [], ""), PERSONA.facts)


def test_the_caller_model_comes_from_options_then_the_environment(monkeypatch) -> None:
    for name in ("HARNESS_CALLER_MODEL", "HARNESS_CALLER_URL", "HARNESS_CALLER_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert caller_model() is None
    model = caller_model("gpt-4.1-mini")
    assert model is not None and model.url == "https://api.openai.com/v1"
    assert model.api_key == KEY and KEY not in repr(model)
    local = caller_model("llama", "http://127.0.0.1:8080/v1/")
    assert local is not None and local.url == "http://127.0.0.1:8080/v1"
    assert local.api_key is None  # OpenAI's key goes to OpenAI only
    monkeypatch.setenv("HARNESS_CALLER_MODEL", "from-env")
    assert caller_model() is not None and caller_model().model == "from-env"  # type: ignore
    with pytest.raises(InputError, match="must be http"):
        caller_model("m", "ftp://host")


def test_the_prompt_carries_the_persona_and_the_conversation_in_order() -> None:
    prompt = system_prompt(PERSONA, "two-breaths")
    assert "Find out where order 83521 is." in prompt and "order_id = 83521" in prompt
    assert "first part in one line" in prompt and "impatient" in prompt
    assert "Scottish accent" in prompt and "(scenario two-breaths)" in prompt
    line = CallerLine(say="Eight.", intent="other", gives=[], hang_up=False)
    messages = conversation(PERSONA, "two-breaths", [("Hello?", line)], "And the rest?")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert json.loads(messages[2]["content"])["say"] == "Eight."
    assert messages[-1]["content"] == "And the rest?"


def test_scripts_are_read_with_located_errors(tmp_path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("scenario: a\nlines:\n  - say: hi\n")
    assert list(load_scripts([tmp_path])) == ["a"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenario: b\nlines:\n  - say: hi\n    tone: angry\n")
    with pytest.raises(InputError) as err:
        load_scripts([bad])
    assert "bad.yaml" in str(err.value) and "tone" in str(err.value)
    regex = tmp_path / "regex.yaml"
    regex.write_text("scenario: c\nlines:\n  - say: hi\n    when: '(('\n")
    with pytest.raises(InputError, match="not a valid regex"):
        load_scripts([regex])


def test_the_library_scripts_cover_every_library_persona() -> None:
    root = Path(__file__).resolve().parents[2] / "examples" / "personas"
    scripts = load_scripts([root / "scripts"])
    scenarios = {p.stem for p in root.glob("persona-*.yaml")}
    assert len(scenarios) >= 6 and set(scripts) == scenarios
