"""Commands that only read the history (``harness trend``, ``harness compare --store``) never
create a store: a SQLite file, a PostgreSQL database or a history schema that is not there is
"no such store", exit code 2, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from harness.cli import main


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    return int(stopped.value.code or 0), out + err


def test_trend_on_a_sqlite_file_that_is_not_there(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, text = run_cli(["trend", "--store", "sqlite:///no/such/dir/x.db"], capsys)
    assert code == 2, text
    assert "--store: no such store: no/such/dir/x.db does not exist" in text
    assert "Traceback" not in text
    # neither the folder nor the database nor an (empty) page
    assert list(tmp_path.iterdir()) == []


def test_trend_and_compare_without_the_default_store(tmp_path: Path, capsys,
                                                     monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, text = run_cli(["trend"], capsys)
    assert code == 2 and "no such store" in text and "reports/history.db" in text, text
    code, text = run_cli(["compare", "a", "b", "--store", str(tmp_path / "history.db"),
                          "-o", str(tmp_path / "cmp")], capsys)
    assert code == 2 and "no such store" in text, text
    assert list(tmp_path.iterdir()) == []


def test_a_writer_still_creates_the_store(tmp_path: Path) -> None:
    from harness.store import open_store

    with open_store(tmp_path / "new" / "history.db") as store:
        assert store.runs() == []
    assert (tmp_path / "new" / "history.db").is_file()


def test_trend_on_a_postgresql_database_that_does_not_exist(postgres_url: str, tmp_path: Path,
                                                            capsys) -> None:
    missing = postgres_url.rsplit("/", 1)[0] + "/no_such_database"
    code, text = run_cli(["trend", "--store", missing, "-o", str(tmp_path)], capsys)
    assert code == 2, text
    assert "no such store: database 'no_such_database' does not exist at postgresql" in text
    assert not (tmp_path / "trend.html").exists()


def test_trend_on_an_empty_postgresql_database_writes_no_schema(fresh_postgres: str,
                                                                tmp_path: Path, capsys) -> None:
    code, text = run_cli(["trend", "--store", fresh_postgres, "-o", str(tmp_path)], capsys)
    assert code == 2, text
    assert "no such store" in text and "holds no run history" in text
    engine = sa.create_engine(fresh_postgres)
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()
