"""Run history: a SQL database of stored runs for trends, regression gates and A/B comparison.

A SQLite file by default (``reports/history.db``), or any SQLAlchemy URL
(``postgresql+psycopg://user:password@host/db``). The schema is versioned and migrated by the
Alembic scripts shipped in this package when the store is opened; a database whose schema is
newer than this harness knows, or one that cannot be reached, raises :class:`StoreError` with one
clear message (the URL's password never appears). Audio and events stay in the run folders; the
database holds their paths, never an API key.

Public API::

    from harness.store import open_store

    with open_store("reports/history.db") as store:        # or a URL, or None for the default
        info = store.record_run("reports/run-…", label="nightly")   # -> RunInfo
        store.runs(label="nightly", last=10)               # -> [RunInfo], oldest first
        run = store.load_run(info.run_id)                  # by id, or the newest with a label
        run.trials[0].verdicts, run.trials[0].turns        # StoredVerdict, StoredTurn
        run.pass_outcomes()                                # scenario -> [passed per trial]
        run.kind_outcomes("preamble")                      # scenario -> [kind passed per trial]
        run.turn_values("voice_to_voice_ms")               # scenario -> [ms per answered turn]
        run.statistics()                                   # the run's repeated-trial figures

What is stored: **runs** (id, label, UTC start and finish, harness version, suite git commit,
machine, target, faults, agent-config hash per variant, report path, run.json version, headline
figures), **trials** (scenario name and content hash, variant, trial index, passed / failed /
errored, error, duration, recording path), **verdicts** (kind, parameters and their hash, status,
summary, scalar measurements) and **turn metrics** (turn index, tool turn or not, voice-to-voice,
first audio, endpointing, dead air, in ms).
"""

from harness.store._db import DEFAULT_STORE, StoreError, head_revision, safe_url, store_url
from harness.store._history import HistoryStore, open_store
from harness.store._runs import (
    TURN_METRICS,
    RunInfo,
    StoredRun,
    StoredTrial,
    StoredTurn,
    StoredVerdict,
)

__all__ = [
    "DEFAULT_STORE",
    "TURN_METRICS",
    "HistoryStore",
    "RunInfo",
    "StoreError",
    "StoredRun",
    "StoredTrial",
    "StoredTurn",
    "StoredVerdict",
    "head_revision",
    "open_store",
    "safe_url",
    "store_url",
]
