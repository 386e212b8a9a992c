"""Harness processes that open one new history store at the same moment all get a usable store:
the first migrates it, the others wait and find it migrated (two CI jobs or two nights at once)."""

from __future__ import annotations

import multiprocessing as mp

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from harness.store import open_store
from harness.store._db import head_revision
from harness.store._db import store_url as url_of

PROCESSES = 4
ROUNDS = 3


def _open(spec: str, barrier, results) -> None:
    barrier.wait()
    try:
        with open_store(spec) as history:
            history.runs()
        results.put("ok")
    except Exception as exc:  # noqa: BLE001 - the message is the test's evidence
        results.put(f"{type(exc).__name__}: {exc}")


def _open_together(spec: str) -> list[str]:
    # fresh interpreters: a forked child of a process with threads (an xdist worker that ran the
    # recogniser's tests) can inherit a lock another thread held, and hang
    ctx = mp.get_context("spawn")
    barrier, results = ctx.Barrier(PROCESSES), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(spec, barrier, results)) for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    out = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    return out


def _revision(url: str) -> str | None:
    with create_engine(url).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@pytest.mark.parametrize("attempt", range(ROUNDS))
def test_processes_opening_a_new_store_together_all_succeed(store_url: str, attempt: int) -> None:
    # store_url: a new SQLite file, or a new database on a real PostgreSQL server
    assert _open_together(store_url) == ["ok"] * PROCESSES
    assert _revision(url_of(store_url)) == head_revision()
