"""Fixtures shared across test files."""

from __future__ import annotations

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
