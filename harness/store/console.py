"""The terminal side of the history: where a run was stored, and the regression gates' table.

Public API: :func:`print_stored` ``(info, error, console=None)`` and :func:`print_gates`
``(report, console=None)``.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.report.console import print_table
from harness.store._db import StoreError
from harness.store._runs import RunInfo
from harness.store.gates import GateReport
from harness.store.trend import gate_rows


def print_stored(info: RunInfo | None, error: StoreError | None,
                 console: Console | None = None) -> None:
    """One line: the stored run's id and label, or the store's error (the run's files stand)."""
    console = console or Console()
    if error is not None:
        console.print(f"error: {error} (the run's files are written; it was not stored)",
                      style="red", markup=False, highlight=False, soft_wrap=True)
    elif info is not None:
        label = f" (label {info.label})" if info.label else ""
        console.print(f"stored run {info.run_id}{label}", markup=False, highlight=False,
                      soft_wrap=True)


def print_gates(report: GateReport, console: Console | None = None) -> None:
    """The gates' table: baseline, now, change, threshold, interval, n, p and verdict; then the
    regressions by name, or that there were none."""
    console = console or Console()
    table = Table(title=f"Regression gates for run {report.run_id} (baseline {report.baseline}"
                  + (f", {report.consecutive} runs in a row" if report.consecutive > 1 else "")
                  + f", α={report.alpha:g}, one-sided paired tests, Holm)", title_justify="left")
    for col in ("gate", "baseline run", "baseline", "now", "change", "threshold",
                "95 % interval (paired diff.)", "n", "p", "verdict"):
        table.add_column(col, overflow="fold")
    for row in gate_rows(report):
        verdict = f"[red bold]{row['verdict']}[/]" if row["regressed"] else escape(row["verdict"])
        table.add_row(*(escape(str(row[k])) for k in (
            "gate", "baseline", "baseline_value", "value", "change", "threshold", "interval",
            "n", "p")), verdict)
    print_table(table, console)
    regressed = report.regressions
    if regressed:
        console.print("[red bold]regressed:[/] " + ", ".join(
            escape(r.gate.metric) for r in regressed), soft_wrap=True)
    else:
        console.print("no regression", style="green")
