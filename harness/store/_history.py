"""The history store: records run folders into the database and reads stored runs back."""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, selectinload

from harness.errors import InputError
from harness.report import read_run
from harness.store._db import (
    StoreError,
    _reason,
    create_store_engine,
    migrate,
    safe_url,
    store_url,
)
from harness.store._runs import RunInfo, StoredRun, StoredTrial, StoredTurn, StoredVerdict
from harness.store._schema import RunRow, TrialRow, TurnMetricRow, VerdictRow

SUMMARY_FILE = "summary.json"
SUMMARY_VERSION = 2
"""The ``summary.json`` version whose per-trial turn metrics and statistics are stored."""


def _hash(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes: every stored time is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, bool | int | float) or (
        isinstance(value, str) and len(value) <= 200)


def key_numbers(measured: dict[str, Any]) -> dict[str, Any]:
    """A verdict's scalar measurements; nested mappings one level deep as ``outer.inner``
    (lists such as per-turn rows stay in the run folder's verdicts.json)."""
    out: dict[str, Any] = {}
    for key, value in measured.items():
        if _scalar(value):
            out[key] = value
        elif isinstance(value, dict):
            out.update({f"{key}.{k}": v for k, v in value.items() if _scalar(v)})
    return out


def suite_commit(scenario_files: Iterable[str | None]) -> str | None:
    """The git commit of the folder of the suite's first scenario file when it is in a
    repository (``+dirty`` when it has uncommitted changes), else None."""
    folder = next((Path(f).parent for f in scenario_files if f), None)
    if folder is None or not folder.is_dir():
        return None
    try:
        head = subprocess.run(["git", "-C", str(folder), "rev-parse", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(folder), "status", "--porcelain", "--", "."],
                               capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The run's ``summary.json``, rendered first when missing or of an older version."""
    path = run_dir / SUMMARY_FILE
    doc: dict[str, Any] = {}
    if path.is_file():
        doc = json.loads(path.read_text(encoding="utf-8"))
    if doc.get("schema_version") != SUMMARY_VERSION:
        from harness.report import render_report  # noqa: PLC0415

        render_report(run_dir)
        doc = json.loads(path.read_text(encoding="utf-8"))
    return doc


class HistoryStore:
    """A history database (see the package docstring); open it with ``open_store``."""

    def __init__(self, engine: Engine, url: str):
        self.engine = engine
        self.url = url

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def _session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    def _fail(self, exc: SQLAlchemyError) -> StoreError:
        return StoreError(f"the history store {safe_url(self.url)} failed: {_reason(exc)}")

    # ------------------------------------------------------------------ writing

    def record_run(self, run_dir: str | Path, *, label: str | None = None,
                   commit: str | None = None) -> RunInfo:
        """Store the run folder ``run_dir`` (scored and reported; it is rendered first when its
        summary is missing) under ``label``. ``commit`` defaults to the suite's git commit.
        Storing the same folder again replaces its rows."""
        run_dir = Path(run_dir).resolve()
        run = read_run(run_dir)
        summary = read_summary(run_dir)
        trials = summary.get("trials", [])
        started = _when(run.get("started_at")) or datetime.now(UTC)
        hashes = {t.get("variant") or "": t.get("agent_config_hash") for t in trials
                  if t.get("agent_config_hash")}
        row = RunRow(
            id=str(run.get("run_id") or run_dir.name), label=label, started_at=started,
            finished_at=_when(run.get("finished_at")), stored_at=datetime.now(UTC),
            harness_version=run.get("harness_version"),
            suite_commit=commit or suite_commit(t.get("scenario_file") for t in trials),
            machine=run.get("machine") or {}, target=run.get("target"),
            faults=list(run.get("faults") or []), agent_config_hashes=hashes,
            report_path=str(run_dir / "index.html"),
            run_schema_version=run.get("schema_version"), trial_count=len(trials),
            figures=summary.get("statistics"))
        try:
            with self._session() as session, session.begin():
                row.id = self._free_id(session, row.id, row.report_path)
                session.add(row)
                session.flush()
                self._insert_trials(session, row.id, run_dir, trials)
        except SQLAlchemyError as exc:
            raise self._fail(exc) from None
        return _info(row)

    @staticmethod
    def _insert_trials(session: Session, run_id: str, run_dir: Path,
                       trials: list[dict[str, Any]]) -> None:
        """Trials, verdicts and turn metrics as bulk inserts: a thousand trials in one round
        trip per table rather than one object each."""
        if not trials:
            return
        ids = session.scalars(
            insert(TrialRow).returning(TrialRow.id, sort_by_parameter_order=True),
            [{"run_id": run_id, "scenario": t["scenario"], "scenario_hash": t.get("scenario_hash"),
              "variant": t.get("variant"), "trial_index": int(t.get("trial") or 0),
              "status": t["status"], "error": t.get("error"), "duration_s": t.get("duration_s"),
              "recording_path": str(run_dir / t["path"]) if t.get("path") else None}
             for t in trials]).all()
        verdicts = [{"trial_id": tid, "kind": v["kind"], "params": v.get("params") or {},
                     "params_hash": _hash(v.get("params") or {}), "status": v["status"],
                     "summary": v.get("summary") or "",
                     "measured": key_numbers(v.get("measured") or {})}
                    for tid, t in zip(ids, trials, strict=True) for v in t.get("verdicts", [])]
        turns = [{"trial_id": tid, "turn_index": m["turn"], "tool_turn": bool(m.get("tool_turn")),
                  **{k: m.get(k) for k in ("voice_to_voice_ms", "first_audio_ms",
                                           "endpointing_ms", "dead_air_ms")}}
                 for tid, t in zip(ids, trials, strict=True) for m in t.get("turns", [])]
        if verdicts:
            session.execute(insert(VerdictRow), verdicts)
        if turns:
            session.execute(insert(TurnMetricRow), turns)

    @staticmethod
    def _free_id(session: Session, run_id: str, report_path: str | None) -> str:
        """The run's own id; the same folder stored again replaces its old rows; another run
        with the same id (e.g. merged pytest-xdist runs) gets a suffix."""
        candidate, n = run_id, 1
        while (existing := session.get(RunRow, candidate)) is not None:
            if existing.report_path == report_path:
                session.execute(delete(RunRow).where(RunRow.id == candidate))
                session.expunge(existing)
                return candidate
            n += 1
            candidate = f"{run_id}-{n}"
        return candidate

    # ------------------------------------------------------------------ reading

    def runs(self, *, label: str | None = None, last: int | None = None) -> list[RunInfo]:
        """Stored runs (with ``label`` when given), oldest first; the newest ``last`` only."""
        query = select(RunRow).order_by(RunRow.started_at.desc(), RunRow.stored_at.desc())
        if label is not None:
            query = query.where(RunRow.label == label)
        if last is not None:
            query = query.limit(last)
        try:
            with self._session() as session:
                rows = list(session.scalars(query))
        except SQLAlchemyError as exc:
            raise self._fail(exc) from None
        return [_info(r) for r in reversed(rows)]

    def find_run(self, ref: str) -> RunInfo:
        """A run by id, or the newest run labelled ``ref``; an InputError names what is stored."""
        try:
            with self._session() as session:
                row = session.get(RunRow, ref)
        except SQLAlchemyError as exc:
            raise self._fail(exc) from None
        if row is not None:
            return _info(row)
        labelled = self.runs(label=ref, last=1)
        if labelled:
            return labelled[0]
        raise InputError(f"no stored run with id or label {ref!r} in {safe_url(self.url)}",
                         field="run")

    def load_run(self, ref: str) -> StoredRun:
        """A stored run (by id, or the newest with that label) with its trials, verdicts and
        turn metrics."""
        return self.load_runs([self.find_run(ref).run_id])[0]

    def load_runs(self, run_ids: list[str]) -> list[StoredRun]:
        """Several stored runs by id, in the order asked, each with everything stored."""
        query = (select(RunRow).where(RunRow.id.in_(run_ids))
                 .options(selectinload(RunRow.trials).selectinload(TrialRow.verdicts),
                          selectinload(RunRow.trials).selectinload(TrialRow.turns)))
        try:
            with self._session() as session:
                rows = {r.id: r for r in session.scalars(query)}
                loaded = {rid: _stored(r) for rid, r in rows.items()}
        except SQLAlchemyError as exc:
            raise self._fail(exc) from None
        missing = [r for r in run_ids if r not in loaded]
        if missing:
            raise InputError(f"no stored run {', '.join(missing)} in {safe_url(self.url)}",
                             field="run")
        return [loaded[r] for r in run_ids]


def _info(row: RunRow) -> RunInfo:
    return RunInfo(
        run_id=row.id, label=row.label, started_at=_utc(row.started_at),  # type: ignore[arg-type]
        finished_at=_utc(row.finished_at), harness_version=row.harness_version,
        suite_commit=row.suite_commit, machine=row.machine or {}, target=row.target,
        faults=row.faults or [], agent_config_hashes=row.agent_config_hashes or {},
        report_path=row.report_path, trial_count=row.trial_count, figures=row.figures)


def _stored(row: RunRow) -> StoredRun:
    info = _info(row)
    trials = [StoredTrial(
        scenario=t.scenario, scenario_hash=t.scenario_hash, variant=t.variant,
        trial=t.trial_index, status=t.status, error=t.error, duration_s=t.duration_s,
        recording_path=t.recording_path,
        verdicts=[StoredVerdict(v.kind, v.params, v.params_hash, v.status, v.summary, v.measured)
                  for v in t.verdicts],
        turns=[StoredTurn(m.turn_index, m.tool_turn, m.voice_to_voice_ms, m.first_audio_ms,
                          m.endpointing_ms, m.dead_air_ms) for m in t.turns])
        for t in row.trials]
    return StoredRun(**vars(info), trials=trials)


def open_store(spec: str | Path | None = None, *, create: bool = True) -> HistoryStore:
    """Open (creating or migrating as needed) the history store at ``spec``: a SQLAlchemy URL,
    a SQLite file path, or None for ``reports/history.db``.

    A command that only reads the history passes ``create=False``: a store that does not exist
    (no SQLite file, no such PostgreSQL database, a database without the history's tables) is
    then an :class:`~harness.errors.InputError` ("no such store") and nothing is created."""
    url = store_url(spec)
    engine = create_store_engine(url, create=create)
    try:
        migrate(engine, url, create=create)
    except BaseException:
        engine.dispose()
        raise
    return HistoryStore(engine, url)
