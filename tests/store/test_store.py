"""The history store on a SQLite file and on a real PostgreSQL server: round trips of real run
folders, re-recording, migration from the first schema, and the errors a user can meet."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from history_factory import synthetic_run

from harness.errors import InputError
from harness.report import render_report
from harness.store import StoreError, head_revision, open_store
from harness.store._db import alembic_config, create_store_engine, store_url

sys.path.insert(0, str(Path(__file__).parents[1] / "report"))
from report_factory import three_trial_run  # noqa: E402


def test_round_trip_of_a_real_run_folder(store_url: str, tmp_path: Path) -> None:
    outcome = render_report(three_trial_run(tmp_path / "run"))
    with open_store(store_url) as store:
        info = store.record_run(outcome.run_dir, label="nightly", commit="abc123")
        assert (info.run_id, info.label, info.trial_count) == ("run", "nightly", 3)
        run = store.load_run("nightly")
    assert run.started_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert run.suite_commit == "abc123" and run.target == "local"
    assert run.report_path == str(outcome.index_html.resolve())
    assert run.agent_config_hashes == {"": "1" * 16}
    by = {t.scenario: t for t in run.trials}
    assert {s: t.status for s, t in by.items()} == {
        "order-status": "passed", "cancel-order": "failed", "unreachable-target": "errored"}
    cancel = by["cancel-order"]
    assert [v.kind for v in cancel.verdicts] == [v.kind for v in outcome.trials[1].verdicts]
    assert [v.status for v in cancel.verdicts] == ["fail", "fail", "pass"]
    assert Path(cancel.recording_path or "").is_dir()
    # turns numbered as people count them, as in verdicts and reports
    assert [(m.turn_index, m.voice_to_voice_ms) for m in cancel.turns] == [(1, 840.0),
                                                                            (2, 1140.0)]
    assert run.pass_outcomes() == {"cancel-order": [False], "order-status": [True]}
    assert run.kind_outcomes("barge_in") == {"cancel-order": [False]}
    assert run.turn_values() == {"cancel-order": [840.0, 1140.0],
                                 "order-status": [740.0, 640.0]}
    assert run.statistics() == outcome.statistics


def test_recording_again_replaces_and_runs_come_oldest_first(store_url: str,
                                                             tmp_path: Path) -> None:
    folders = [synthetic_run(tmp_path / f"night-{i}", seed=i, scenarios=3, trials=2,
                             started=datetime(2025, 6, 1 + i, 2, tzinfo=UTC)) for i in range(3)]
    with open_store(store_url) as store:
        for folder in reversed(folders):
            store.record_run(folder, label="nightly")
        store.record_run(folders[0], label="nightly")
        store.record_run(folders[1], label="main")
        assert [r.run_id for r in store.runs(label="nightly")] == ["night-0", "night-2"]
        assert [r.run_id for r in store.runs(last=2)] == ["night-1", "night-2"]
        run = store.load_run("night-0")
        assert len(run.trials) == 6 and all(len(t.turns) == 3 for t in run.trials)
        with pytest.raises(InputError, match="no stored run with id or label 'nope'"):
            store.load_run("nope")


def test_migrates_a_store_of_the_first_schema(tmp_path: Path) -> None:
    url = store_url(tmp_path / "old.db")
    engine = create_store_engine(url)
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(sa.text(
            "INSERT INTO runs (id, label, started_at, stored_at, machine, faults, "
            "agent_config_hashes, trial_count) VALUES ('old-run', 'nightly', "
            "'2025-05-01 02:00:00', '2025-05-01 03:00:00', '{}', '[]', '{}', 1)"))
        conn.execute(sa.text(
            "INSERT INTO trials (run_id, scenario, trial_index, status) "
            "VALUES ('old-run', 'order-status', 0, 'passed')"))
        conn.execute(sa.text(
            "INSERT INTO verdicts (trial_id, kind, params, params_hash, status, summary, "
            "measured) VALUES (1, 'preamble', '{}', 'h', 'pass', 'ok', '{}')"))
    engine.dispose()
    with open_store(tmp_path / "old.db") as store:
        run = store.load_run("old-run")
        assert run.figures is None  # stored before runs kept their figures …
        figures = run.statistics()  # … so they are computed from the stored trials
        assert figures["suite"]["pass_rate"]["value"] == 1.0
        assert figures["kinds"][0]["kind"] == "preamble"
        with store.engine.connect() as conn:
            revision = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert revision == head_revision()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    open_store(tmp_path / "h.db").close()
    engine = sa.create_engine(store_url(tmp_path / "h.db"))
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(StoreError, match="schema version 9999, newer than this harness knows"):
        open_store(tmp_path / "h.db")


def test_an_unreachable_store_names_it_without_its_password() -> None:
    with pytest.raises(StoreError) as err:
        open_store("postgresql+psycopg://nightly:s3cret@127.0.0.1:9/history")
    assert "cannot be used" in str(err.value) and "127.0.0.1:9" in str(err.value)
    assert "s3cret" not in str(err.value)
    with pytest.raises(InputError, match="no database driver"):
        open_store("nosuchdb://x/y")
