"""The slow tests' call budget (``tests/conftest.py``): what a test holds while it runs.

A test marked ``shared_calls`` holds its declared calls only while it sets up a shared fixture
(module or session scope) that this process has not set up yet; once the fixture is there it
holds none, and so never waits for calls it would not make. Any other slow test holds its
declared calls, a ``solo`` one the whole budget.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parent / "conftest.py"

MODULE = '''
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.calls(6)]


@pytest.fixture(scope="module")
def recorded():
    return "calls made once for the module"


@pytest.mark.shared_calls
def test_first_reader(recorded):
    pass


@pytest.mark.shared_calls
def test_second_reader(recorded):
    pass


def test_makes_calls_of_its_own(recorded):
    pass


@pytest.mark.shared_calls
@pytest.mark.solo
def test_solo_reader(recorded):
    pass


@pytest.mark.solo
def test_solo_caller(tmp_path):
    pass
'''

RECORDER = f'''
import importlib.util

import pytest

spec = importlib.util.spec_from_file_location("budget_under_test", {str(CONFTEST)!r})
budget = importlib.util.module_from_spec(spec)
spec.loader.exec_module(budget)


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: slow")
    config.addinivalue_line("markers", "solo: solo")
    config.addinivalue_line("markers", "calls(n): calls")
    config.addinivalue_line("markers", "shared_calls: shared")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    with open("held.txt", "a") as out:
        out.write(f"{{item.name}} {{budget.calls_now(item)}} {{budget.CALL_BUDGET}}\\n")
'''


def test_a_shared_calls_test_holds_calls_only_while_it_sets_a_shared_fixture_up(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(test_readers=MODULE)
    result = pytester.runpytest("-p", "no:realtime_harness", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)
    rows = [line.split() for line in (pytester.path / "held.txt").read_text().splitlines()]
    budget = int(rows[0][2])
    held = {name: int(calls) for name, calls, _ in rows}
    assert held == {
        "test_first_reader": 6,  # sets the module's fixture up
        "test_second_reader": 0,  # reads it
        "test_makes_calls_of_its_own": 6,
        "test_solo_reader": 0,
        "test_solo_caller": budget,
    }


def test_a_reader_run_alone_still_holds_the_calls_its_fixture_makes(
        pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(test_readers=MODULE)
    result = pytester.runpytest("-p", "no:realtime_harness", "-p", "no:cacheprovider",
                                "-k", "solo_reader")
    result.assert_outcomes(passed=1, deselected=4)
    [(name, calls, budget)] = [line.split() for line in
                               (pytester.path / "held.txt").read_text().splitlines()]
    assert (name, int(calls)) == ("test_solo_reader", int(budget))


def _conftest():
    """This directory's conftest as a module of its own (``import conftest`` may find another
    directory's)."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.spec_from_file_location("budget_under_test", CONFTEST)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_budget_and_the_suites_calls_shrink_on_a_slower_machine(
        monkeypatch: pytest.MonkeyPatch) -> None:
    budget = _conftest()
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert [budget.scaled_budget(s) for s in (1.0, 1.25, 1.5, 1.64, 2.0, 4.0)] == [
        16, 13, 11, 10, 8, 8]
    monkeypatch.setattr(os, "cpu_count", lambda: 2)  # two cores carry ten calls at most
    assert [budget.scaled_budget(s) for s in (1.0, 1.46, 1.64, 1.8, 2.0)] == [10, 10, 10, 9, 8]
    monkeypatch.delenv("PYTEST_XDIST_TESTRUNUID", raising=False)
    calls = {}
    for slowdown in (1.0, 1.5, 2.0, 3.0):
        monkeypatch.setattr(budget, "_local_slowdown", lambda s=slowdown: s)
        calls[slowdown] = budget.suite_calls()
    assert calls == {1.0: 4, 1.5: 3, 2.0: 2, 3.0: 2}


def test_the_machine_is_timed_on_a_turn_the_recogniser_hears() -> None:
    """The timing is of a real hearing: against a reference a hundred times quicker than any
    machine, the slowdown is large; it is never under 1."""
    budget = _conftest()
    slowdown = budget.machine_slowdown()
    assert slowdown >= 1.0
    reference = budget.REFERENCE_TURN_S
    try:
        budget.REFERENCE_TURN_S = reference / 100
        assert budget.machine_slowdown() > 5
    finally:
        budget.REFERENCE_TURN_S = reference
