"""The nightly benchmark as a library: run the suite k times, store it, draw the trend, apply gates.

``harness nightly``, ``harness run --store`` and ``harness trend`` call these; they hold no logic
of their own.

Public API:

- :func:`store_outcome` ``(outcome, store, label)``: record a finished run; a store that cannot
  be used is reported, never raised, so the run's files stand and its exit code says *errored*.
- :func:`trend` ``(store, out_dir, label, last, fail_on, baseline, consecutive)``: the trend
  page and, with gate expressions, the gates applied to the newest stored run.
- :func:`nightly` ``(paths, trials=5, label="nightly", store=None, fail_on=…, …)``: all of it.
- :class:`NightlyOutcome` with :attr:`~NightlyOutcome.exit_code`: 0 no regression, 1 a gate
  regressed, 2 bad input, 3 trials errored or the store could not be used. Failed trials alone do
  not fail the night: the gates decide what got worse.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.report import EXIT_ERRORED, EXIT_FAILED, EXIT_OK, RunOutcome
from harness.store import RunInfo, StoreError, open_store
from harness.store.gates import GateReport, evaluate_gates, parse_baseline, parse_gates

if TYPE_CHECKING:
    from harness.api import RunOptions

DEFAULT_NIGHTLY_TRIALS = 5
DEFAULT_GATES = ("pass_rate:-5%", "latency.p95:+10%")
"""What ``harness nightly`` checks when no ``--fail-on`` is given."""


@dataclass
class StoredOutcome:
    """Where a run went in the store, or why it could not go there."""

    info: RunInfo | None
    error: StoreError | None


def store_outcome(outcome: RunOutcome, store: str | Path | None, label: str | None
                  ) -> StoredOutcome:
    """Record ``outcome``'s run folder in ``store`` under ``label``."""
    try:
        with open_store(store) as history:
            return StoredOutcome(history.record_run(outcome.run_dir, label=label), None)
    except StoreError as exc:
        return StoredOutcome(None, exc)


@dataclass
class TrendOutcome:
    """The trend page and, when gates were given, their report."""

    trend_html: Path
    gates: GateReport | None

    @property
    def exit_code(self) -> int:
        return self.gates.exit_code if self.gates else EXIT_OK


def trend(store: str | Path | None, out_dir: str | Path, *, label: str | None = None,
          last: int | None = 30, fail_on: Sequence[str] | None = None,
          baseline: str = "previous", consecutive: int = 1, run: str | None = None
          ) -> TrendOutcome:
    """Render ``OUT_DIR/trend.html`` over the stored runs; with ``fail_on``, apply the gates to
    ``run`` (default: the newest run with ``label``, or the newest of all)."""
    from harness.store.trend import render_trend  # noqa: PLC0415

    gates = parse_gates(list(fail_on or []))
    parse_baseline(baseline)
    with open_store(store, create=False) as history:
        report = None
        if gates:
            newest = history.runs(label=label, last=1)
            target = run or (newest[0].run_id if newest else label or "")
            report = evaluate_gates(history, gates, target, baseline=baseline,
                                    consecutive=consecutive)
        path = render_trend(history, out_dir, label=label, last=last, gates=report)
    return TrendOutcome(path, report)


@dataclass
class NightlyOutcome:
    """A night: the run, where it was stored, the trend page and the gates."""

    run: RunOutcome
    stored: StoredOutcome
    trend: TrendOutcome | None

    @property
    def exit_code(self) -> int:
        if self.stored.error is not None or any(t.outcome == "errored" for t in self.run.trials):
            return EXIT_ERRORED
        if self.trend is not None and self.trend.exit_code:
            return EXIT_FAILED
        return EXIT_OK


def nightly(paths: Sequence[str | Path] | None = None, options: RunOptions | None = None, *,
            label: str = "nightly", store: str | Path | None = None,
            fail_on: Sequence[str] | None = None, baseline: str = "previous",
            consecutive: int = 1, last: int | None = 30, out_dir: Path = Path("reports"),
            on_progress: Callable[[Any], None] | None = None, **changes: Any) -> NightlyOutcome:
    """Run the suite as ``options`` say (``DEFAULT_NIGHTLY_TRIALS`` trials per scenario unless
    they say otherwise; keyword ``changes`` are fields of :class:`~harness.api.RunOptions` over
    them), store the run under ``label``, render ``OUT_DIR/trend.html`` and apply the gates
    (``DEFAULT_GATES`` when none are given) against ``baseline``. Bad gate expressions and
    options are refused before anything runs."""
    from harness import api  # noqa: PLC0415

    run_options = (options or api.RunOptions(trials=DEFAULT_NIGHTLY_TRIALS)).replace(**changes)
    gates = list(fail_on) if fail_on else list(DEFAULT_GATES)
    parse_gates(gates)
    parse_baseline(baseline)
    outcome = api.run(list(paths) if paths else None, run_options.check(), out_dir=out_dir,
                      on_progress=on_progress)
    stored = store_outcome(outcome, store, label)
    report = None
    if stored.info is not None:
        try:
            report = trend(store, out_dir, label=label, last=last, fail_on=gates,
                           baseline=baseline, consecutive=consecutive, run=stored.info.run_id)
        except StoreError as exc:
            stored = StoredOutcome(stored.info, exc)
    return NightlyOutcome(outcome, stored, report)
