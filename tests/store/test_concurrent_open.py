"""Harness processes that open one new history store at the same moment all get a usable store:
the first migrates it, the others wait and find it migrated (two CI jobs or two nights at once)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, text

from harness.store import open_store
from harness.store._db import head_revision

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
    ctx = mp.get_context("fork")
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


def test_processes_opening_a_new_sqlite_store_together_all_succeed(tmp_path: Path) -> None:
    for i in range(ROUNDS):
        path = tmp_path / f"history-{i}.db"
        assert _open_together(str(path)) == ["ok"] * PROCESSES
        assert _revision(f"sqlite:///{path}") == head_revision()


def test_processes_opening_a_new_postgresql_store_together_all_succeed(postgres_url: str) -> None:
    for _ in range(ROUNDS):
        assert _open_together(postgres_url) == ["ok"] * PROCESSES
        assert _revision(postgres_url) == head_revision()
        with create_engine(postgres_url).begin() as conn:  # a new, empty store for the next round
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))

