"""Expectation kinds from another package: an entry point of the ``harness.scorers`` group adds a
kind that validates in YAML, is scored, and appears in the schema and the references."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.errors import InputError
from harness.scenario import kinds
from harness.scenario.loader import load_scenario
from harness.scenario.schema import json_schema, scenario_reference_markdown
from harness.scoring import _registry, expectation_reference_markdown, registry, score
from tests.scoring.builder import CallBuilder

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(sys.executable).with_name("harness")

PLUGIN = '''
"""A user's expectation kind: the agent says a courtesy word at least a number of times."""

from pydantic import Field

from harness.scenario.kinds import ExpectationParams
from harness.scoring import Outcome, scorer


class CourtesyParams(ExpectationParams):
    """The agent says a courtesy word."""

    word: str = Field("please", description="the word to listen for")
    at_least: int = Field(1, ge=1, description="how many times")

    def check(self, checks):
        if not checks.scenario.turns[0].addressed:
            checks.error("the first turn must be speech", "word")


@scorer("courtesy", "The agent says a courtesy word at least a number of times.",
        params=CourtesyParams)
def score_courtesy(ctx, p):
    said = sum(u.transcript.lower().count(p.word) for u in ctx.timeline.utterances())
    status = "pass" if said >= p.at_least else "fail"
    return Outcome(status, f"{p.word!r} said {said} time(s), wanted {p.at_least}",
                   {"count": said})
'''


def _install_plugin(root: Path, body: str = PLUGIN) -> Path:
    """A package with its distribution metadata, as ``pip install`` leaves it in site-packages."""
    root.mkdir()
    (root / "courtesy_kind.py").write_text(textwrap.dedent(body), encoding="utf-8")
    dist = root / "courtesy_kind-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: courtesy-kind\nVersion: 0.1\n",
                                   encoding="utf-8")
    (dist / "entry_points.txt").write_text("[harness.scorers]\ncourtesy = courtesy_kind\n",
                                           encoding="utf-8")
    return root


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The plugin on sys.path for this test only; the registries are restored afterwards."""
    saved_kinds, saved_scorers = dict(kinds._KINDS), dict(_registry._REGISTRY)
    root = _install_plugin(tmp_path / "site")
    monkeypatch.syspath_prepend(str(root))
    kinds.rediscover()
    yield root
    sys.modules.pop("courtesy_kind", None)
    kinds._KINDS.clear()
    kinds._KINDS.update(saved_kinds)
    _registry._REGISTRY.clear()
    _registry._REGISTRY.update(saved_scorers)
    kinds.rediscover()


SCENARIO = f"""name: courteous
agent: {REPO / "agents" / "support.yaml"}
turns:
  - say: "Hello, can you help me?"
expect:
  - courtesy: {{word: thanks, at_least: 2}}
"""


def test_a_plugin_kind_validates_scores_and_is_documented(plugin: Path, tmp_path: Path) -> None:
    path = tmp_path / "courteous.yaml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    assert scenario.expect[0].kind == "courtesy"
    assert scenario.expect[0].params.model_dump() == {"word": "thanks", "at_least": 2}

    assert registry()["courtesy"].description.startswith("The agent says a courtesy word")
    b = CallBuilder(expect=[{"courtesy": {"word": "thanks", "at_least": 2}}])
    b.caller(100.0, "Hello, can you help me?")
    b.respond(2000.0, "Thanks for calling, thanks for waiting.")
    assert [(v.kind, v.status, v.measured) for v in score(b.recording())] == [
        ("courtesy", "pass", {"count": 2})]
    b2 = CallBuilder(expect=[{"courtesy": {"word": "thanks", "at_least": 2}}])
    b2.caller(100.0, "Hello, can you help me?")
    b2.respond(2000.0, "Hello.")
    assert [v.status for v in score(b2.recording())] == ["fail"]

    schema = json_schema("scenario")
    assert "CourtesyParams" in schema["$defs"]
    variants = schema["$defs"]["Expectation"]["anyOf"]
    assert any("courtesy" in v.get("properties", {}) for v in variants)
    assert "| `courtesy` |" in expectation_reference_markdown()
    assert "### `courtesy`" in scenario_reference_markdown()


def test_a_plugin_kind_reports_located_errors(plugin: Path, tmp_path: Path) -> None:
    path = tmp_path / "courteous.yaml"
    path.write_text(SCENARIO.replace("at_least: 2", "at_least: 0"))
    with pytest.raises(Exception) as raised:
        load_scenario(path)
    assert "expect[0].courtesy.at_least" in str(raised.value)
    assert "greater than or equal to 1" in str(raised.value)

    path.write_text(SCENARIO.replace('say: "Hello, can you help me?"', "silence_ms: 500"))
    with pytest.raises(Exception) as raised:
        load_scenario(path)
    assert f"{path}:6:" in str(raised.value)
    assert "expect[0].courtesy.word: the first turn must be speech" in str(raised.value)


def test_without_the_entry_point_the_kind_is_unknown(tmp_path: Path) -> None:
    path = tmp_path / "courteous.yaml"
    path.write_text(SCENARIO)
    with pytest.raises(Exception) as raised:
        load_scenario(path)
    assert "unknown expectation kind 'courtesy'" in str(raised.value)


def test_a_broken_plugin_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                            ) -> None:
    saved_kinds = dict(kinds._KINDS)
    root = _install_plugin(tmp_path / "site", "raise ImportError('no module named gizmo')\n")
    monkeypatch.syspath_prepend(str(root))
    kinds.rediscover()
    try:
        with pytest.raises(InputError) as raised:
            kinds.expectation_kinds()
        assert raised.value.message == (
            "expectation-kind plugin 'courtesy' (courtesy_kind, entry point group "
            "'harness.scorers') failed to load: ImportError: no module named gizmo")
    finally:
        sys.modules.pop("courtesy_kind", None)
        monkeypatch.undo()
        kinds._KINDS.clear()
        kinds._KINDS.update(saved_kinds)
        kinds.rediscover()


def test_the_command_line_sees_an_installed_plugin(tmp_path: Path) -> None:
    """A fresh process finds the plugin through its installed metadata alone."""
    root = _install_plugin(tmp_path / "site")
    env = {**os.environ,
           "PYTHONPATH": os.pathsep.join([str(root), str(REPO), os.environ.get("PYTHONPATH", "")])}
    path = tmp_path / "courteous.yaml"
    path.write_text(SCENARIO)
    ok = subprocess.run([HARNESS, "validate", str(path)], capture_output=True, text=True,
                        env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr
    schema = subprocess.run([HARNESS, "schema"], capture_output=True, text=True, env=env,
                            timeout=120)
    assert '"CourtesyParams"' in schema.stdout
    path.write_text(SCENARIO.replace("at_least: 2", "at_lest: 2"))
    bad = subprocess.run([HARNESS, "validate", str(path)], capture_output=True, text=True,
                         env=env, timeout=120)
    assert bad.returncode != 0
    assert bad.stderr.splitlines()[0] == (
        f"{path}:6:30: expect[0].courtesy.at_lest: unknown key; did you mean 'at_least'? "
        "(expected one of: word, at_least)")


def test_the_built_in_kinds_register_through_the_same_entry_point_group() -> None:
    from importlib.metadata import entry_points  # noqa: PLC0415

    [builtin] = [ep for ep in entry_points(group=kinds.ENTRY_POINT_GROUP)
                 if ep.name == kinds.BUILTIN_ENTRY_POINT]
    assert builtin.value == "harness.scoring.scorers"
    # The scenario layer imports no scorer: no import of the scoring layer, by name or string.
    source = (REPO / "harness" / "scenario" / "kinds.py").read_text(encoding="utf-8")
    assert "import_module" not in source and "from harness.scoring" not in source


def test_without_the_harness_entry_point_the_kinds_say_how_to_reinstall(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kinds, "entry_points", lambda group: [])
    kinds.rediscover()
    try:
        with pytest.raises(InputError, match=r"not installed .*pip install -e \."):
            kinds.expectation_kinds()
    finally:
        monkeypatch.undo()
        kinds.rediscover()
    assert "latency" in kinds.expectation_kinds()
