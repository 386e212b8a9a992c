"""The example suite loads, uses every construct of the format, and matches the committed schemas
and the docs' generated references."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any, get_args

import jsonschema
import pytest
import soundfile
import yaml
from pydantic import BaseModel

from harness.scenario import (
    agent_config_reference_markdown,
    load_agent_config,
    load_suite,
    scenario_reference_markdown,
)
from harness.scenario._errors import LOADER_FIELDS
from harness.scenario.kinds import ExpectationParams, expectation_kinds
from harness.scenario.models import AgentConfig, Expectation, Pause, Scenario, ToolSequence
from harness.scenario.schema import json_schema, schema_text

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"


@pytest.fixture(scope="module")
def suite() -> list[Scenario]:
    return load_suite([SCENARIOS])


def test_example_suite_loads_with_its_agent(suite: list[Scenario]) -> None:
    assert len(suite) >= 12
    assert len({s.name for s in suite}) == len(suite)
    for s in suite:
        assert s.source is not None and s.source.parent == SCENARIOS
        assert s.agent_config is not None
        # One scenario runs the desk without its write tools, to ask for an unavailable action.
        assert s.agent_config.name == ("support-desk-lookup-only" if s.name ==
                                       "cancel-unavailable" else "support-desk")
        # instructions_file is read relative to the agent YAML
        assert "digit by digit" in (s.agent_config.instructions or "")
        # Every file path is absolute and exists.
        for turn in s.turns:
            for p in (turn.audio, turn.play and turn.play.file):
                assert p is None or (p.is_absolute() and p.is_file())
    names = {s.name for s in suite}
    assert {"order-status", "cut-off-order-id", "barge-in", "hold-music"} <= names


def test_agent_config_flags_and_tools() -> None:
    agent = load_agent_config(REPO / "agents" / "support.yaml")
    assert [t.name for t in agent.tools] == [
        "lookup_order", "cancel_order", "update_email", "escalate_to_human", "wait_for_user"]
    assert agent.write_tools == ["cancel_order", "update_email"]
    assert agent.escalation_tools == ["escalate_to_human"]
    assert agent.tool("lookup_order").required_arguments == ["order_id"]


def _constructs(suite: list[Scenario]) -> set[str]:
    used: set[str] = set()
    for s in suite:
        used.update(f"expect:{e.kind}" for e in s.expect)
        if s.extends is not None:
            used.add("extends")
        if s.caller.voice != "en-us" or s.caller.words_per_minute != 165:
            used.add("caller")
        if s.noise is not None:
            used.add(f"noise:{s.noise.kind}")
        for t in s.turns:
            if isinstance(t.say, str):
                used.add("say")
            if isinstance(t.say, list) and any(isinstance(x, Pause) for x in t.say):
                used.add("say-pause")
            if t.audio is not None and t.text:
                used.add("audio+text")
                info = soundfile.info(str(t.audio))
                if (info.samplerate, info.channels) != (24_000, 1):
                    used.add("audio-not-24k-mono")
            if t.cut_off is not None:
                used.update(f"cut_off:{k}" for k, v in t.cut_off.model_dump().items()
                            if v is not None)
            if t.entity:
                used.add("entity")
            if t.intent:
                used.add(f"intent:{t.intent}")
            for start in ("barge_in", "after_ms", "when_agent_says", "silence_ms"):
                if getattr(t, start) is not None:
                    used.add(start)
            if t.play is not None:
                used.add(f"play:{t.play.noise}" if t.play.noise else "play:file")
            if t.noise == "none":
                used.add("turn-noise:none")
            elif t.noise is not None:
                used.add("turn-noise:spec")
            if t.voice is not None:
                used.add("turn-voice")
        for mock in s.tools.values():
            rules = mock.sequence if isinstance(mock, ToolSequence) else (
                mock if isinstance(mock, list) else [mock])
            used.add("mock:sequence" if isinstance(mock, ToolSequence) else
                     "mock:list" if isinstance(mock, list) else "mock:static")
            for r in rules:
                if r.when:
                    used.add("mock:when")
                if r.error:
                    used.add("mock:error")
                if r.latency_ms:
                    used.add("mock:latency_ms")
    return used


def test_example_suite_uses_every_construct(suite: list[Scenario]) -> None:
    used = _constructs(suite)
    required = {
        "extends", "caller", "noise:babble", "say", "say-pause", "audio+text",
        "audio-not-24k-mono", "cut_off:after_text", "cut_off:at_ms", "cut_off:fraction", "entity",
        "intent:affirm", "intent:deny", "intent:correct", "intent:other", "barge_in", "after_ms",
        "when_agent_says", "silence_ms", "play:hold_music", "play:file", "turn-noise:none",
        "turn-noise:spec", "turn-voice", "mock:static", "mock:list", "mock:sequence", "mock:when",
        "mock:error", "mock:latency_ms",
        # rubric needs a judge endpoint, which the example suite cannot assume; goal_met needs
        # a persona, whose caller model the example suite cannot assume either (the library
        # in examples/personas uses it).
        *(f"expect:{kind}" for kind in expectation_kinds() if kind not in ("rubric", "goal_met")),
    }
    assert required - used == set()
    assert used & {"play:tv", "play:side_conversation"}
    assert used & {"play:white", "play:pink", "play:brown", "play:babble"}


def test_example_files_point_at_the_schemas() -> None:
    for path in sorted(SCENARIOS.glob("[!_]*.yaml")):
        first = path.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/scenario.schema.json", path
    agent_first = (REPO / "agents" / "support.yaml").read_text().splitlines()[0]
    assert agent_first == "# yaml-language-server: $schema=../schemas/agent.schema.json"


@pytest.mark.parametrize("kind", ["scenario", "agent"])
def test_committed_schemas_are_up_to_date(kind: str) -> None:
    committed = (REPO / "schemas" / f"{kind}.schema.json").read_text()
    assert committed == schema_text(kind), "run: harness schema --kind {kind} -o schemas/..."


def test_schemas_accept_the_examples_and_reject_mistakes() -> None:
    scenario_schema = jsonschema.Draft202012Validator(json_schema("scenario"))
    for path in sorted(SCENARIOS.glob("[!_]*.yaml")):
        errors = [e.message for e in scenario_schema.iter_errors(yaml.safe_load(path.read_text()))]
        assert errors == [], path
    agent_schema = jsonschema.Draft202012Validator(json_schema("agent"))
    agent = yaml.safe_load((REPO / "agents" / "support.yaml").read_text())
    assert list(agent_schema.iter_errors(agent)) == []

    good = yaml.safe_load((SCENARIOS / "order-status.yaml").read_text())
    for broken in (
        {**good, "turns": [{"say": "hi", "tone": "angry"}]},
        {**good, "noise": {"kind": "babble", "snr_db": 75}},
        {**good, "expect": [{"latncy": {"max_ms": 3}}]},
        {**good, "expect": [{"latency": {"max_ms": "soon"}}]},
    ):
        assert not scenario_schema.is_valid(broken), broken
    assert "agent_config" not in json_schema("scenario")["properties"]


def _docs_hooks() -> Any:
    spec = importlib.util.spec_from_file_location("docs_hooks", REPO / "docs" / "hooks.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("page", "marker", "generator"), [
    ("scenario-reference.md", "scenario-reference", scenario_reference_markdown),
    ("agent-configs.md", "agent-config-reference", agent_config_reference_markdown),
])
def test_docs_reference_is_generated_when_the_site_is_built(page, marker, generator) -> None:
    # The page holds markers, not tables: the docs build (docs/hooks.py) fills them from the
    # models; tests/docs/ checks the built page shows it.
    source = (REPO / "docs" / page).read_text(encoding="utf-8")
    assert f"<!-- {marker}:start -->" in source and f"<!-- {marker}:end -->" in source
    assert "| key | type | default | meaning |" not in source, "written by hand"
    filled = _docs_hooks().fill(source)
    assert generator().strip() in filled
    assert filled.count("| key | type | default | meaning |") == \
        generator().count("| key | type | default | meaning |")


def _models_in(tp: Any) -> list[type[BaseModel]]:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in get_args(tp) for m in _models_in(arg)]


def _documented_models() -> list[type[BaseModel]]:
    """Every model a scenario file or an agent config is read with: the two roots, each
    expectation kind's parameters, and every model their fields use, however deep."""
    todo = [Scenario, AgentConfig, *(k.params_model for k in expectation_kinds().values())]
    seen: list[type[BaseModel]] = []
    while todo:
        model = todo.pop()
        if model in seen or model in (Expectation, ExpectationParams):
            continue  # `expect` items are documented kind by kind
        seen.append(model)
        for name, field in model.model_fields.items():
            if name not in LOADER_FIELDS.get(model, ()):
                todo += _models_in(field.annotation)
    return seen


def _table_keys(markdown: str) -> list[set[str]]:
    """The keys of each table under a heading of generated reference Markdown."""
    sections = markdown.split("\n#")
    return [{line.split("`")[1] for line in section.splitlines() if line.startswith("| `")}
            for section in sections]


def test_reference_documents_every_field_of_every_model() -> None:
    tables = _table_keys(scenario_reference_markdown()) + _table_keys(
        agent_config_reference_markdown())
    models = _documented_models()
    assert {Scenario, AgentConfig, ToolSequence, Pause}.issubset(models) and len(models) > 30
    for model in models:
        keys = {n for n in model.model_fields if n not in LOADER_FIELDS.get(model, ())}
        assert keys in tables, f"{model.__name__}: no section lists exactly {sorted(keys)}"


def test_reference_documents_every_key_and_kind() -> None:
    text = scenario_reference_markdown()
    for kind in expectation_kinds():
        assert f"### `{kind}`" in text
    for key in ("say", "cut_off", "barge_in", "when_agent_says", "snr_db", "sequence"):
        assert f"| `{key}` |" in text
    assert "(≥ -10, ≤ 60)" in text  # SNR bounds come from the model
    assert "| `local_profile` |" in agent_config_reference_markdown()
    json.dumps(json_schema("scenario"))


@pytest.mark.parametrize("domain", ["clinic", "utility"])
def test_each_example_domain_loads_with_its_own_profile(domain: str) -> None:
    folder = REPO / "examples" / domain
    suite = load_suite([folder / "scenarios"])
    assert len(suite) >= 8 and all(s.name.startswith(f"{domain}-") for s in suite)
    profiles = {s.agent_config.local_profile for s in suite}
    assert profiles == {str(folder / f"{domain}.profile.yaml")}
    config = load_agent_config(folder / "agent.yaml")
    assert {t.name for t in config.tools if t.write} and {t.name for t in config.tools
                                                          if t.escalation}
