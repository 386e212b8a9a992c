"""Fixtures shared across test files."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def example_suite_run(tmp_path_factory: pytest.TempPathFactory):
    """The example suite, once, against the fault-free local agent: real-time calls, six at
    once (``harness run``'s default is four; the fault tables run eight). Its verdicts are
    graded in ``test_e2e_suite.py`` and compared with a run over two worker processes in
    ``runner/test_workers.py``; its recordings are read construct by construct in
    ``runner/test_local_agent.py``."""
    from harness import api  # noqa: PLC0415 - the agent's ASR stack loads with it

    return api.run([ROOT / "scenarios"], out_dir=tmp_path_factory.mktemp("example-suite"),
                   concurrency=6)


# --------------------------------------------------------------------------- slow tests at once
# CI runs the slow tests on two xdist workers (``-m slow -n 2 --dist loadgroup``). A module's
# tests stay on one worker (its module and session fixtures run once), and so do all tests of
# the example-suite run. The end-to-end tests grade the local agent, whose answers are only as
# quick as the CPU it gets, so they run one at a time (an exclusive lock between the workers);
# a test marked ``light`` loads the CPU little (it waits out timeouts, or installs packages)
# and runs beside them.


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups into the test ids
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    shared = {item.module.__name__ for item in items
              if "example_suite_run" in getattr(item, "fixturenames", ())}
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("xdist_group"):
            module = item.module.__name__
            if item.get_closest_marker("light"):  # its own group: free to run beside the rest
                group = f"{module}-light"
            else:
                group = "example-suite" if module in shared else module
            item.add_marker(pytest.mark.xdist_group(group))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None or not item.get_closest_marker("slow") or item.get_closest_marker("light"):
        yield
        return
    with open(Path(tempfile.gettempdir()) / f"harness-slow-{run}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
