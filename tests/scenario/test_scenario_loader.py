"""Loader behaviour: extends merging, agent configs, file discovery, and the located messages of
cross-field checks and union-typed fields."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from harness.errors import InputError, InputErrors
from harness.scenario import (
    is_scenario_file,
    load_agent_config,
    load_scenario,
    load_suite,
    scenario_files,
)
from harness.scenario.models import NoiseSpec, ToolResult, ToolSequence

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "agents" / "support.yaml"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def problems(path: Path) -> list[str]:
    """Every message ``load_scenario`` raises for ``path``, formatted."""
    with pytest.raises(InputErrors) as caught:
        load_scenario(path)
    return [e.format() for e in caught.value.errors]


@pytest.fixture
def defaults(tmp_path: Path) -> Path:
    """A defaults file in its own folder, pointing at the repo's agent through a relative path
    that only resolves from that folder."""
    shared = tmp_path / "shared"
    (shared / "agents").mkdir(parents=True)
    (shared / "agents" / "desk.yaml").write_text(AGENT.read_text().replace(
        "instructions_file: support.instructions.md",
        f"instructions_file: {AGENT.parent / 'support.instructions.md'}"))
    return write(shared / "_defaults.yaml", """
        agent: agents/desk.yaml
        caller: {voice: en-gb, words_per_minute: 150}
        noise: {kind: pink, snr_db: 30}
        tools:
          lookup_order: {returns: {status: shipped}}
          cancel_order: {returns: {cancelled: true}}
        """)


def test_extends_merges_defaults_under_the_scenario(tmp_path: Path, defaults: Path) -> None:
    path = write(tmp_path / "suite" / "s.yaml", """
        name: merged
        extends: ../shared/_defaults.yaml
        caller: {words_per_minute: 120}
        noise: {file: ../clip.wav, snr_db: 12}
        turns: [{say: "Hello there."}]
        tools:
          lookup_order:
            sequence: [{error: down}, {returns: {status: shipped}}]
        expect: [turn_answered]
        """)
    (tmp_path / "clip.wav").write_bytes((REPO / "audio_fixtures" / "clips" /
                                         "side_talk_8k_mono.wav").read_bytes())
    s = load_scenario(path)
    # caller and tools merge key by key; noise is replaced whole
    assert (s.caller.voice, s.caller.words_per_minute) == ("en-gb", 120)
    assert isinstance(s.tools["lookup_order"], ToolSequence)
    assert isinstance(s.tools["cancel_order"], ToolResult)
    assert s.noise == NoiseSpec(file=tmp_path / "clip.wav", snr_db=12)
    # paths resolve against the file that wrote them
    assert s.agent == defaults.parent / "agents" / "desk.yaml"
    assert s.agent_config is not None and s.agent_config.name == "support-desk"
    assert s.source == path


def test_errors_in_defaults_point_into_the_defaults_file(tmp_path: Path, defaults: Path) -> None:
    defaults.write_text(defaults.read_text().replace("snr_db: 30", "snr_db: 90"))
    path = write(tmp_path / "s.yaml", """
        name: uses-bad-defaults
        extends: shared/_defaults.yaml
        turns: [{say: "Hello there."}]
        expect: [turn_answered]
        """)
    assert problems(path) == [
        f"{tmp_path / 'shared' / '_defaults.yaml'}:3:29: noise.snr_db: "
        "Input should be less than or equal to 60"]


def test_extends_problems(tmp_path: Path) -> None:
    missing = write(tmp_path / "a.yaml", """
        name: a
        extends: nowhere.yaml
        turns: [{say: hi}]
        expect: [turn_answered]
        """)
    assert problems(missing) == [
        f"{missing}:2:10: extends: defaults file 'nowhere.yaml' not found"]
    write(tmp_path / "_loop.yaml", "extends: b.yaml\n")
    loop = write(tmp_path / "b.yaml", """
        name: b
        extends: _loop.yaml
        turns: [{say: hi}]
        expect: [turn_answered]
        """)
    assert problems(loop) == [
        f"{tmp_path / '_loop.yaml'}:1:10: extends: extends loops back to a file already being "
        "extended"]


def test_agent_config_problems_are_located_in_the_agent_file(tmp_path: Path) -> None:
    agent = write(tmp_path / "agent.yaml", """
        instructions_file: missing.md
        tools:
          - name: lookup_order
            write: maybe
        """)
    with pytest.raises(InputErrors) as caught:
        load_agent_config(agent)
    assert [e.format() for e in caught.value.errors] == [
        f"{agent}:4:12: tools[0].write: Input should be a valid boolean, unable to interpret "
        "input (got 'maybe')"]
    agent.write_text("instructions_file: missing.md\n")
    with pytest.raises(InputErrors) as caught:
        load_agent_config(agent)
    assert [e.format() for e in caught.value.errors] == [
        f"{agent}:1:20: instructions_file: file 'missing.md' not found (looked for "
        f"{tmp_path / 'missing.md'})"]
    scenario = write(tmp_path / "s.yaml", """
        name: s
        agent: agent.yaml
        turns: [{say: hi}]
        expect: [turn_answered]
        """)
    assert problems(scenario) == [
        f"{agent}:1:20: instructions_file: file 'missing.md' not found (looked for "
        f"{tmp_path / 'missing.md'})"]


def test_cross_field_checks(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", f"""
        name: cross
        agent: {AGENT}
        turns:
          - say: "Sorry to interrupt."
            barge_in: {{at_agent_ms: 300}}
          - say: ["It is eight, three,", {{pause_ms: 800}}, "five, two, one."]
            cut_off: {{fraction: 0.5}}
          - say: "It is eight, three, five, one, two."
            entity: {{order_id: "83521"}}
          - silence_ms: 3000
          - say: "Hello?"
            barge_in: {{at_agent_ms: 300}}
        tools:
          refund_order: {{returns: {{ok: true}}}}
        expect:
          - turn_answered: {{turns: [4]}}
          - escalation: {{mode: required, by_turn: 9}}
          - confirmation_before_write: {{tool: cancel_order, key_arguments: [amount]}}
          - entity_confirmed: {{entity: email}}
        """)
    assert problems(path) == [
        f"{path}:5:15: turns[0].barge_in: the first turn has no agent reply to interrupt",
        f"{path}:7:14: turns[1].cut_off: cut_off applies to a plain say text, not to a say with "
        "pauses; split the turn and cut the last part",
        f"{path}:9:24: turns[2].entity.order_id: '83521' is not what the turn says ('It is "
        "eight, three, five, one, two.' gives 83512)",
        f"{path}:12:15: turns[4].barge_in: the turn before is a silence turn, so the agent has "
        "no reply to interrupt; barge_in needs a say or audio turn before it",
        f"{path}:14:3: tools.refund_order: 'refund_order' is not a tool of agent 'support-desk' "
        "(tools: lookup_order, cancel_order, update_email, escalate_to_human, wait_for_user)",
        f"{path}:16:29: expect[0].turn_answered.turns[0]: turn 4 is a silence turn; only say "
        "and audio turns get answers",
        f"{path}:17:43: expect[1].escalation.by_turn: turn 9 does not exist (turns are numbered "
        "1-5, 1 being the first)",
        f"{path}:18:69: expect[2].confirmation_before_write.key_arguments[0]: 'cancel_order' "
        "has no argument 'amount' (arguments: order_id)",
        f"{path}:19:32: expect[3].entity_confirmed.entity: no turn labels an entity 'email' "
        "(entities: order_id)",
    ]


def test_a_date_label_is_iso_and_the_turn_may_say_it_as_words(tmp_path: Path) -> None:
    turns = """
        turns:
          - say: "I was born March fourteenth, nineteen eighty-five."
            entity: {born: "%s"}
        expect:
          - no_tool_call: {name: cancel_order}
        """
    said = write(tmp_path / "said.yaml", f"name: said\nagent: {AGENT}\n"
                 + textwrap.dedent(turns % "1985-03-14"))
    assert load_scenario(said).turns[0].entity == {"born": "1985-03-14"}
    wrong = write(tmp_path / "wrong.yaml", f"name: wrong\nagent: {AGENT}\n"
                  + textwrap.dedent(turns % "1985-03-15"))
    [problem] = problems(wrong)
    assert "turns[0].entity.born: '1985-03-15' is not what the turn says" in problem


def test_union_fields_report_the_branch_the_user_meant(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", """
        name: unions
        turns:
          - say: 5
          - say: ["My number is", {pause: 300}, "eight."]
          - say: hi
            noise: loud
        tools:
          lookup_order: {returns: {ok: true}, latncy_ms: 40}
          cancel_order: {sequence: [{retrns: 1}]}
        expect:
          - escalation: forbiden
          - latency: {max_ms: soon}
        """)
    assert problems(path) == [
        f"{path}:3:10: turns[0].say: Input should be a valid string or a valid list (got 5)",
        f"{path}:4:27: turns[1].say[1].pause_ms: required key is missing",
        f"{path}:4:28: turns[1].say[1].pause: unknown key; did you mean 'pause_ms'? "
        "(expected one of: pause_ms)",
        f"{path}:6:12: turns[2].noise: Input should be a mapping or 'none' (got 'loud')",
        f"{path}:8:39: tools.lookup_order.latncy_ms: unknown key; did you mean 'latency_ms'? "
        "(expected one of: when, returns, error, latency_ms)",
        f"{path}:9:30: tools.cancel_order.sequence[0].retrns: unknown key; did you mean "
        "'returns'? (expected one of: when, returns, error, latency_ms)",
        f"{path}:11:17: expect[0].escalation: Input should be 'required' or 'forbidden' "
        "(got 'forbiden')",
        f"{path}:12:23: expect[1].latency.max_ms: Input should be a valid number, unable to "
        "parse string as a number (got 'soon')",
    ]


def test_yaml_details(tmp_path: Path) -> None:
    # YAML 1.2 scalars: "no" stays text, dates stay strings (tool output is JSON).
    path = write(tmp_path / "s.yaml", """
        name: scalars
        turns: [{say: no}]
        tools: {}
        expect: [turn_answered]
        """)
    assert load_scenario(path).turns[0].say == "no"
    dup = write(tmp_path / "d.yaml", """
        name: dup
        turns: [{say: hi}]
        expect: [turn_answered]
        turns: [{say: bye}]
        """)
    assert problems(dup) == [f"{dup}:4:1: turns: duplicate key (each key may appear once)"]
    hidden = write(tmp_path / "h.yaml", """
        name: hidden
        agent_config: {}
        turns: [{say: hi}]
        expect: [turn_answered]
        """)
    assert problems(hidden)[0].startswith(f"{hidden}:2:1: agent_config: unknown key")


def test_suite_discovery_and_unique_names(tmp_path: Path) -> None:
    body = "turns: [{say: hi}]\nexpect: [turn_answered]\n"
    one = write(tmp_path / "one.yaml", "name: same\n" + body)
    write(tmp_path / "nested" / "two.yaml", "name: same\n" + body)
    write(tmp_path / "_defaults.yaml", body)
    write(tmp_path / "agent.yaml", "tools: []\n")
    broken = write(tmp_path / "broken.yaml", "name: [\nturns:\nexpect:\n")
    assert is_scenario_file(one) and is_scenario_file(broken)
    assert not is_scenario_file(tmp_path / "agent.yaml")
    assert scenario_files([tmp_path]) == [broken, tmp_path / "nested" / "two.yaml", one]
    broken.unlink()
    with pytest.raises(InputErrors) as caught:
        load_suite([tmp_path])
    assert [e.format() for e in caught.value.errors] == [
        f"{one}:1:7: name: name 'same' is also used by {tmp_path / 'nested' / 'two.yaml'}; "
        "names are unique in a suite"]
    empty = write(tmp_path / "empty" / "notes.txt", "").parent
    with pytest.raises(InputError, match="no scenario files"):
        scenario_files([empty])


def test_expectations_the_scenario_itself_makes_ungradable(tmp_path: Path) -> None:
    agent = write(tmp_path / "deaf.yaml", """
        name: deaf
        input_transcription: null
        tools: [{name: lookup_order}]
        """)
    path = write(tmp_path / "s.yaml", f"""
        name: ungradable
        agent: {agent}
        turns:
          - silence_ms: 3000
        expect:
          - input_heard: {{max_wer: 0.3}}
          - latency: {{max_ms: 1500}}
        """)
    assert problems(path) == [
        f"{path}:6:18: expect[0].input_heard: no say or audio turn, so the agent has nothing to "
        "answer and this cannot be graded",
        f"{path}:6:18: expect[0].input_heard: agent 'deaf' turns input transcription off "
        "(`input_transcription: null`), so what it heard cannot be compared",
        f"{path}:7:14: expect[1].latency: no say or audio turn, so the agent has nothing to "
        "answer and this cannot be graded",
    ]
