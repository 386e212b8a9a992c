"""Fixtures shared across test files."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def example_suite_run(tmp_path_factory: pytest.TempPathFactory):
    """The example suite, once per test run, against the fault-free local agent: real-time
    calls, six at once (``harness run``'s default is four; the fault tables run eight). Its
    verdicts are graded in ``test_e2e_suite.py`` and compared with a run over two worker
    processes in ``runner/test_workers.py``; its recordings are read construct by construct in
    ``runner/test_local_agent.py``. Under xdist the first worker to need it runs it (under a
    lock, in the folder the workers share) and the others read its run folder."""
    from harness import api  # noqa: PLC0415 - the agent's ASR stack loads with it

    if os.environ.get("PYTEST_XDIST_WORKER") is None:
        return api.run([ROOT / "scenarios"], out_dir=tmp_path_factory.mktemp("example-suite"),
                       concurrency=6)
    shared = tmp_path_factory.getbasetemp().parent
    with open(shared / "example-suite.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = shared / "example-suite.json"
        if done.is_file():
            return api.report(json.loads(done.read_text())["run_dir"])
        outcome = api.run([ROOT / "scenarios"], out_dir=shared / "example-suite", concurrency=6)
        done.write_text(json.dumps({"run_dir": str(outcome.run_dir)}))
        return outcome


# --------------------------------------------------------------------------- slow tests at once
# CI runs the slow tests in one process, one after another (``-m slow``): beside each other the
# end-to-end calls of one test pushed another's past their latency limits on two cores (the
# package, plugin and RTP-statistics tests failed so). Under xdist (``-m slow -n 3 --dist
# loadscope``, a module's tests on one worker) a test marked ``solo`` still runs with nothing
# beside it: it measures latency to within milliseconds, or compares the local agent's latency
# between runs made one after another, which other calls on the machine would move.


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Solo tests last (a stable sort): a worker whose next test waits for the machine to
    itself sits idle, so solo tests run after the others, one after another."""
    items.sort(key=lambda item: item.get_closest_marker("solo") is not None)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run is None or not item.get_closest_marker("slow"):
        yield
        return
    solo = item.get_closest_marker("solo") is not None
    with open(Path(tempfile.gettempdir()) / f"harness-slow-{run}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if solo else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
