"""Hostile YAML: scenario files come from pull requests, so a recursive alias and a nested-alias
bomb ("billion laughs") are refused with one located line and exit code 2 within a second, by
every entry point that reads YAML: scenario files, agent configs, agent profiles, comparison
files, ``--set`` values, folder scans, ``harness validate``, ``harness run``, ``harness compare``
and the pytest collector.

Before the loader refused them, the recursive alias ended in a RecursionError traceback and a
bomb like this one needed more memory than the machine has. Each check here runs under a memory
cap, so a loader that expands aliases again fails the test instead of the machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.cli import main
from harness.errors import InputError, InputErrors
from tests.fuzz_inputs import BOMB_MESSAGE, RECURSIVE_MESSAGE, alias_bomb

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(sys.executable).with_name("harness")
LIMIT_S = 1.0
HEADROOM = 1 << 30
"""Address space a check may add to the process: enough to refuse a file, far too little to
expand a bomb."""

RECURSIVE = "&x [1, *x]"
BOMB = alias_bomb(levels=9, width=10)
"""Nine levels of ten: a billion strings in 423 bytes."""

HOSTILE = {"recursive": (RECURSIVE, RECURSIVE_MESSAGE), "bomb": (BOMB, BOMB_MESSAGE)}


def scenario_text(value: str) -> str:
    return f"name: hostile\nturns:\n  - say: hi\nexpect: {value}\n"


def agent_text(value: str) -> str:
    return f"model: gpt-realtime\ninstructions: Help.\ntools: {value}\n"


def profile_text(value: str) -> str:
    return f"name: hostile\nintents: {value}\n"


def comparison_text(value: str) -> str:
    return f"trials: 1\nvariants: {value}\n"


def _address_space() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def memory_capped() -> Iterator[None]:
    """The process may grow by :data:`HEADROOM` at most while the block runs."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _address_space() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY
                                            else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _cap_child() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.RLIM_INFINITY))


def refused(load: Callable[[], Any], message: str) -> tuple[list[str], float]:
    """Run ``load`` under the memory cap; it must raise the harness's located user error
    saying ``message``. Returns the error lines and the seconds taken."""
    started = time.perf_counter()
    with memory_capped(), pytest.raises((InputError, InputErrors)) as raised:
        load()
    elapsed = time.perf_counter() - started
    errors = raised.value.errors if isinstance(raised.value, InputErrors) else [raised.value]
    lines = [e.format() for e in errors]
    assert len(lines) == 1, lines
    assert message in lines[0], lines[0]
    return lines, elapsed


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_recursive_alias_and_a_bomb_are_refused_where_they_are(hostile: str, tmp_path: Path
                                                                  ) -> None:
    from harness.agent.policy import load_profile
    from harness.compare import load_comparison
    from harness.compare._spec import parse_variant_options
    from harness.scenario.loader import (
        is_scenario_file,
        load_agent_config,
        load_scenario,
        validate_paths,
    )

    value, message = HOSTILE[hostile]
    files = {"scenario": scenario_text, "agent": agent_text, "profile": profile_text,
             "comparison": comparison_text}
    for kind, text in files.items():
        (tmp_path / f"{kind}.yaml").write_text(text(value), encoding="utf-8")
    scenario = tmp_path / "scenario.yaml"
    loads: dict[str, Callable[[], Any]] = {
        "scenario": lambda: load_scenario(scenario),
        "agent": lambda: load_agent_config(tmp_path / "agent.yaml"),
        "profile": lambda: load_profile(tmp_path / "profile.yaml"),
        "comparison": lambda: load_comparison(tmp_path / "comparison.yaml"),
        # a folder scan decides by content which files are scenarios, then loads those
        "folder": lambda: validate_paths([tmp_path]),
    }
    for kind, load in loads.items():
        lines, elapsed = refused(load, message)
        file = "scenario" if kind == "folder" else kind
        assert re.match(rf"{re.escape(str(tmp_path / file))}\.yaml:\d+:\d+: ", lines[0]), lines
        assert elapsed < LIMIT_S, (kind, elapsed)
    with memory_capped():
        assert is_scenario_file(scenario)  # reported, not skipped
    lines, elapsed = refused(lambda: parse_variant_options(["A"], [f"B.tools={value}"]), message)
    assert lines[0].startswith("--set: 'B.tools=") and "the value:1:" in lines[0], lines
    assert elapsed < LIMIT_S


def test_the_recursive_alias_is_located_at_the_alias(tmp_path: Path) -> None:
    from harness.scenario.loader import load_scenario

    file = tmp_path / "recursive.yaml"
    file.write_text(scenario_text(RECURSIVE), encoding="utf-8")
    lines, _ = refused(lambda: load_scenario(file), RECURSIVE_MESSAGE)
    assert lines == [f"{file}:4:16: recursive YAML alias: *x stands for a value that contains "
                     "it; expected an alias to a value written before it, not one it is part of"]


def test_the_bomb_is_located_at_the_alias_that_passes_the_cap(tmp_path: Path) -> None:
    from harness.scenario.loader import load_scenario

    file = tmp_path / "bomb.yaml"
    file.write_text(scenario_text(BOMB), encoding="utf-8")
    assert file.stat().st_size < 500
    lines, _ = refused(lambda: load_scenario(file), BOMB_MESSAGE)
    # level 3 holds aliases of level 2, 1,111 values each: its eighth passes 10,000 in all
    column = len("expect: ") + scenario_text(BOMB).splitlines()[3][len("expect: "):].index(
        "&l3 [") + len("&l3 [") + 7 * len("*l2,") + 1
    assert lines == [f"{file}:4:{column}: YAML aliases nested in aliases (a \"billion "
                     "laughs\"): by here they stand for more than 10,000 values; expected at "
                     "most 10,000 values written through aliases"]


def test_aliases_within_the_cap_still_load(tmp_path: Path) -> None:
    from harness.scenario._yaml import parse_yaml

    text = "base: &b {say: hi}\nturns: [*b, *b, {<<: *b, intent: affirm}]\n"
    assert parse_yaml(text, "f.yaml")["turns"] == [
        {"say": "hi"}, {"say": "hi"}, {"say": "hi", "intent": "affirm"}]
    small = parse_yaml(f"a: {alias_bomb(levels=3, width=10)}\n", "f.yaml")
    assert small["a"][2][9][9] == ["lol"] * 10


def test_nesting_too_deep_is_refused_not_a_recursion_error(tmp_path: Path) -> None:
    from harness.scenario._yaml import parse_yaml

    for text in ("a: " + "[" * 5000 + "]" * 5000,
                 "".join("  " * i + f"k{i}:\n" for i in range(300)) + "  " * 300 + "v\n"):
        with pytest.raises(InputError, match="nested too deep: more than 100 levels"):
            parse_yaml(text, "f.yaml")


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, float]:
    started = time.perf_counter()
    with memory_capped(), pytest.raises(SystemExit) as stopped:
        main(args)
    elapsed = time.perf_counter() - started
    return int(stopped.value.code or 0), capsys.readouterr().err.strip(), elapsed


@pytest.mark.parametrize("hostile", HOSTILE)
def test_validate_run_and_compare_exit_2_within_a_second(hostile: str, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    # The commands' own imports are not the file's doing: they are loaded before timing.
    import harness.agent
    import harness.api
    import harness.compare
    import harness.report.console  # noqa: F401

    value, message = HOSTILE[hostile]
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text(scenario_text(value), encoding="utf-8")
    agent = tmp_path / "agent.yaml"
    agent.write_text(agent_text(value), encoding="utf-8")
    comparison = tmp_path / "comparison.yaml"
    comparison.write_text(comparison_text(value), encoding="utf-8")
    out = tmp_path / "reports"
    commands = {
        "validate": (["validate", str(scenario)], scenario),
        "run": (["run", str(scenario), "-o", str(out)], scenario),
        "run --agent": (["run", str(REPO / "scenarios" / "order-status.yaml"), "--agent",
                         str(agent), "-o", str(out)], agent),
        "compare": (["compare", "-c", str(comparison), "-o", str(out)], comparison),
    }
    for name, (args, file) in commands.items():
        code, err, elapsed = run_cli(args, capsys)
        assert code == 2, (name, err)
        assert re.match(rf"{re.escape(str(file))}:\d+:\d+: .*{re.escape(message)}", err), err
        assert "Traceback" not in err
        assert elapsed < LIMIT_S, (name, elapsed)
    assert not out.exists() or not any(out.iterdir())  # no run was started


def test_the_console_script_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    for hostile, (value, message) in HOSTILE.items():
        file = tmp_path / f"{hostile}.yaml"
        file.write_text(scenario_text(value), encoding="utf-8")
        proc = subprocess.run([HARNESS, "validate", str(file)], capture_output=True, text=True,
                              timeout=60, preexec_fn=_cap_child)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.splitlines()[0].startswith(f"{file}:4:"), proc.stderr
        assert message in proc.stderr and "Traceback" not in proc.stderr


CONFTEST = """
import resource
# a collector that expands the bomb fails here instead of taking the machine's memory
resource.setrlimit(resource.RLIMIT_AS, (4 << 30, resource.RLIM_INFINITY))
"""


def test_the_pytest_collector_reports_each_as_one_located_collection_error(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".yaml", recursive=scenario_text(RECURSIVE), bomb=scenario_text(BOMB))
    started = time.perf_counter()
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=120)
    elapsed = time.perf_counter() - started
    result.assert_outcomes(errors=2)
    assert result.ret == 2  # invalid input
    result.stdout.fnmatch_lines_random([
        f"*recursive.yaml:4:16: {RECURSIVE_MESSAGE}*",
        f"*bomb.yaml:4:*: YAML aliases nested in aliases (a \"{BOMB_MESSAGE}\")*"])
    assert "Traceback" not in result.stdout.str()
    assert "RecursionError" not in result.stdout.str()
    # pytest's own start-up is most of it
    assert elapsed < 60
