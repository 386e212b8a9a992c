"""The terminal side of a run: a rich progress bar while calls run, a summary table at the end.

Public API: :class:`RunProgress` (a context manager whose instance is the runner's
``on_progress`` callback), :func:`print_summary` ``(outcome, console=None)`` and
:func:`print_error` ``(exc, console=None)`` (one clear line per problem, no traceback).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from harness.errors import HarnessError, InputError, InputErrors
from harness.report import RunOutcome

_STYLE = {"passed": "green", "failed": "red", "errored": "magenta", "completed": "green",
          "incomplete": "yellow"}


class RunProgress:
    """A progress bar over the run's trials, fed with the runner's ``ProgressEvent``s.

    Retries and errored calls are printed above the bar as they happen."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]{task.description}"), BarColumn(),
            MofNCompleteColumn(), TextColumn("{task.fields[running]}"), TimeElapsedColumn(),
            console=self.console, transient=False)
        self.task = self.progress.add_task("calls", total=None, running="")
        self.running: dict[tuple[Any, ...], str] = {}

    def __enter__(self) -> RunProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: Any) -> None:
        # The bar appears with the run's first event, so a run refused before it starts
        # (bad options, unknown target) prints only its message.
        if not self.progress.live.is_started:
            self.progress.start()
        key = (event.scenario, event.variant, event.trial)
        label = escape(f"{event.scenario}{f'[{event.variant}]' if event.variant else ''}"
                       f"[trial-{event.trial}]")
        if event.kind == "trial_started":
            self.running[key] = label
        elif event.kind == "trial_finished":
            self.running.pop(key, None)
            if event.status != "completed":
                style = _STYLE.get(event.status or "", "bold")
                message = escape(str(event.message))
                self.console.print(f"[{style}]{event.status}[/] {label}: {message}")
        elif event.kind == "trial_retry":
            self.console.print(f"[yellow]retry[/] {label}: {escape(str(event.message))}")
        names = sorted(self.running.values())
        running = ", ".join(names[:3]) + (f" +{len(names) - 3}" if len(names) > 3 else "")
        self.progress.update(self.task, total=event.total, completed=event.done,
                             running=f"[dim]{running}[/]" if running else "")


def _ms(value: float | None) -> str:
    return f"{value:,.0f} ms" if value is not None else "—"


def print_summary(outcome: RunOutcome, console: Console | None = None) -> None:
    """The summary table (scenario, status, latency p50/max, failing expectations), the totals
    and where the reports are."""
    console = console or Console()
    table = Table(title="Run summary (latency: voice-to-voice)", title_justify="left")
    # The failing expectations by kind (their evidence is in the HTML report and the JUnit
    # file); an errored trial's reason, cut short, comes first.
    table.add_column("scenario", overflow="fold", min_width=16)
    table.add_column("status", no_wrap=True)
    table.add_column("p50", justify="right", no_wrap=True)
    table.add_column("max", justify="right", no_wrap=True)
    table.add_column("failing expectations", overflow="fold", min_width=16)
    for t in outcome.trials:
        failing = ", ".join(dict.fromkeys(v.kind for v in t.failing))
        if t.outcome == "errored" and t.error:
            reason = t.error if len(t.error) <= 80 else t.error[:79] + "…"
            failing = reason + (f"; {failing}" if failing else "")
        table.add_row(escape(t.label), f"[{_STYLE[t.outcome]}]{t.outcome}[/]",
                      _ms(t.latency_p50_ms), _ms(t.latency_max_ms), escape(failing))
    console.print(table)
    totals = outcome.totals
    if outcome.stopped:
        console.print("[yellow]the run was stopped; unfinished trials count as errored[/]")
    rate = f" ({totals['pass_rate']:.0%} pass rate)" if totals["pass_rate"] is not None else ""
    console.print(f"{totals['trials']} trials: [green]{totals['passed']} passed[/], "
                  f"[red]{totals['failed']} failed[/], "
                  f"[magenta]{totals['errored']} errored[/]{rate}")
    console.print(f"report: {outcome.index_html}\njunit:  {outcome.junit_xml}\n"
                  f"summary: {outcome.summary_json}", soft_wrap=True, highlight=False)


def print_error(exc: HarnessError, console: Console | None = None) -> None:
    """A harness error as the user should see it: each input problem on its own line."""
    console = console or Console(stderr=True)
    if isinstance(exc, InputErrors):
        lines = [e.format() for e in exc.errors] + [f"{len(exc.errors)} problem(s) found"]
    elif isinstance(exc, InputError):
        lines = [exc.format()]
    else:
        lines = [f"error: {exc}"]
    for line in lines:
        console.print(line, style="red", highlight=False, markup=False, emoji=False,
                      soft_wrap=True)
