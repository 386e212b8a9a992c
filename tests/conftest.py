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
# CI runs the slow tests on two xdist workers (``-m slow -n 2 --dist loadscope``: a module's
# tests on one worker, so its module fixtures run once). The end-to-end tests grade the local
# agent, whose answers are only as quick as the CPU it gets, so they run one at a time (an
# exclusive lock between the workers). A test marked ``light`` loads the CPU little (it waits
# out timeouts, or installs packages) and runs beside them, except beside a test marked
# ``solo``, which measures latency to within milliseconds and runs with nothing beside it.


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None or not item.get_closest_marker("slow"):
        yield
        return
    folder = Path(tempfile.gettempdir())
    light = item.get_closest_marker("light") is not None
    solo = item.get_closest_marker("solo") is not None
    with open(folder / f"harness-slow-{run}.lock", "a+b") as heavy, \
            open(folder / f"harness-slow-{run}.light", "a+b") as beside:
        held = [beside] if light else [heavy, beside] if solo else [heavy]
        for lock in held:
            fcntl.flock(lock, fcntl.LOCK_SH if light else fcntl.LOCK_EX)
        try:
            yield
        finally:
            for lock in reversed(held):
                fcntl.flock(lock, fcntl.LOCK_UN)
