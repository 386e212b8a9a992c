"""Connecting to the history database and bringing its schema to this harness's version.

A bare path (or nothing) means a SQLite file; anything with ``://`` is a SQLAlchemy URL
(``postgresql+psycopg://user@host/db``). The schema is migrated with the Alembic scripts shipped
in ``harness/store/migrations``; a database whose schema is newer than those scripts is refused,
never written to. Errors never show a URL's password.
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from harness.errors import HarnessError, InputError
from harness.extras import require

DEFAULT_STORE = Path("reports") / "history.db"
"""Where runs are stored when no ``--store`` is given (relative to the working folder)."""

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(HarnessError):
    """The history store cannot be used: unreachable, refused, or of a newer schema."""


def store_url(spec: str | Path | None) -> str:
    """A SQLAlchemy URL for a ``--store`` value: a URL as is, a path as a SQLite file."""
    if spec is None or str(spec) == "":
        spec = DEFAULT_STORE
    text = str(spec)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).expanduser().resolve()}"


def safe_url(url: str) -> str:
    """The URL as it may be printed: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable store URL>"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest schema revision this harness knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


NO_STORE_HINT = "a command that reads the history creates none: store a run first (harness " \
                "run --store, harness nightly)"


def create_store_engine(url: str, *, create: bool = True) -> Engine:
    """An engine for ``url`` (a SQLite file's folder is created), or a clear error. Without
    ``create``, a SQLite file that does not exist is "no such store" and nothing is made."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError("not a database URL or a file path", field="--store") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        file = Path(parsed.database)
        if create:
            file.parent.mkdir(parents=True, exist_ok=True)
        elif not file.is_file():
            # SQLite would create the file (and the harness its folder) on the first connect.
            raise InputError(f"no such store: {file} does not exist; {NO_STORE_HINT}",
                             field="--store")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg":
        require("postgres", "a PostgreSQL history store", field="--store")
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ImportError) as exc:
        raise InputError(f"no database driver for {safe_url(url)}: {exc}",
                         field="--store") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    # Deleting a run deletes its trials, verdicts and turn metrics.
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def migrate(engine: Engine, url: str, revision: str | None = None, *, create: bool = True
            ) -> str:
    """Bring the schema up to ``revision`` (default: the newest); returns the revision now in
    the database. A schema newer than this harness knows is a :class:`StoreError`. Without
    ``create``, a database that is missing or holds no history is "no such store"
    (:class:`InputError`): its schema is not written."""
    config = alembic_config()
    scripts = ScriptDirectory.from_config(config)
    target = revision or head_revision()
    try:
        with engine.begin() as conn:
            _lock_for_migration(conn)
            current = MigrationContext.configure(conn).get_current_revision()
            known = {s.revision for s in scripts.walk_revisions()}
            if current is None and not create:
                raise InputError(f"no such store: {safe_url(url)} holds no run history; "
                                 f"{NO_STORE_HINT}", field="--store")
            if current is not None and current not in known:
                raise StoreError(
                    f"the history store {safe_url(url)} has schema version {current}, newer than "
                    f"this harness knows (up to {head_revision()}); upgrade the harness to use it")
            if current != target:
                config.attributes["connection"] = conn
                command.upgrade(config, target)
            return target
    except SQLAlchemyError as exc:
        if not create and _no_such_database(exc):
            raise InputError(f"no such store: database {make_url(url).database!r} does not "
                             f"exist at {safe_url(url)}; {NO_STORE_HINT}",
                             field="--store") from None
        raise StoreError(f"the history store {safe_url(url)} cannot be used: "
                         f"{_reason(exc)}") from None


INVALID_CATALOG_NAME = "3D000"
"""PostgreSQL's code for a database that does not exist."""


def _no_such_database(exc: SQLAlchemyError) -> bool:
    orig = getattr(exc, "orig", None)
    if (getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)) == INVALID_CATALOG_NAME:
        return True
    # A server refuses the connection itself before any SQL state exists: only its words say it.
    return re.search(r'FATAL: +database ".*" does not exist', str(orig or exc)) is not None


MIGRATION_LOCK_KEY = 0x76_6F_69_63  # one PostgreSQL advisory lock for this store's migrations


def _lock_for_migration(conn: Connection) -> None:
    """Hold the store's write lock until the transaction ends, so that harness processes opening
    one new store at the same moment (two CI jobs, two nights) migrate it one after the other;
    the second then reads the revision the first wrote, instead of creating its tables again."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")  # the driver opened no transaction yet
    elif conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")


def _reason(exc: SQLAlchemyError) -> str:
    """The first line of the driver's message, without SQLAlchemy's background links."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
