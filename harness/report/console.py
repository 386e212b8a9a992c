"""The terminal side of a run: a rich progress bar while calls run, a summary table at the end.

Public API: :class:`RunProgress` (a context manager whose instance is the runner's
``on_progress`` callback), :func:`print_summary` ``(outcome, console=None)``,
:func:`print_error` ``(exc, console=None)`` (one clear line per problem, no traceback) and
:func:`print_table` ``(table, console)`` (any table of the harness, whole at any width).
"""

from __future__ import annotations

from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.padding import Padding
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from harness.errors import HarnessError, error_lines
from harness.report import RunOutcome, latency_text

_STYLE = {"passed": "green", "failed": "red", "errored": "magenta", "completed": "green",
          "incomplete": "yellow"}


def print_table(table: Table, console: Console) -> None:
    """Print ``table`` at the console's width without cutting a word of its headers short.

    Rich shares out too narrow a width evenly, so a header is cut ("answe…") while another
    column has room to spare. Here each column gets its header's longest word first, then its
    values' longest word, then room in proportion to what it would use; a value longer than its
    column folds onto the next line. When even the headers' words cannot stand side by side
    (many columns on an 80-column terminal or CI log), each row is printed as a block instead:
    one ``header  value`` line per column."""
    columns = table.columns
    if not columns:
        console.print(table)
        return
    options = console.options

    def measure(renderable: RenderableType) -> Measurement:
        return Measurement.get(console, options, renderable)

    heads, words, fulls = [], [], []
    for column in columns:
        cells = [measure(cell) for cell in column.cells]
        header = measure(column.header)
        head = header.minimum
        if column.no_wrap:
            head = max([header.maximum, *(c.maximum for c in cells)])
        heads.append(head)
        words.append(max([head, *(c.minimum for c in cells)]))
        fulls.append(max([header.maximum, *(c.maximum for c in cells)]))
    _, right, _, left = Padding.unpack(table.padding)
    borders = (2 if table.box and table.show_edge else 0) + (len(columns) - 1 if table.box else 0)
    room = console.width - borders - len(columns) * (left + right)
    if sum(fulls) <= room:
        console.print(table)
    elif sum(heads) > room:
        _print_rows(table, console)
    else:
        widths = list(heads)
        spare = room - sum(widths)
        # Whole words: the columns that need least first, so most of them show every value whole.
        for i in sorted(range(len(columns)), key=lambda i: words[i] - widths[i]):
            grant = min(words[i] - widths[i], spare)
            widths[i] += grant
            spare -= grant
        need = [f - w for f, w in zip(fulls, widths, strict=True)]
        if spare > 0 and sum(need) > 0:
            widths = [w + n * spare // sum(need) for w, n in zip(widths, need, strict=True)]
        for column, width in zip(columns, widths, strict=True):
            column.width = width
            if not column.no_wrap:
                column.overflow = "fold"
        console.print(table)


def _print_rows(table: Table, console: Console) -> None:
    """``table`` as one block per row (see :func:`print_table`), blocks apart by a blank line."""
    if table.title:
        console.print(table.title, style="table.title")
    for n, row in enumerate(zip(*(list(c.cells) for c in table.columns), strict=True)):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="dim")
        grid.add_column(overflow="fold")
        for i, (column, value) in enumerate(zip(table.columns, row, strict=True)):
            grid.add_row(column.header, value, style="bold" if i == 0 else None)
        console.print(Padding(grid, (1 if n else 0, 0, 0, 2)))
    if table.caption:
        console.print(table.caption, style="table.caption")


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


def _estimate(est: dict[str, Any], *, percent: bool = False) -> str:
    if est.get("value") is None:
        return f"— (n={est.get('n', 0)} too small)" if est.get("n") else "—"

    def f(x: float) -> str:
        return f"{100 * x:.0f}%" if percent else f"{x:,.0f} ms"
    band = (f" [{f(est['low'])}, {f(est['high'])}]" if est.get("low") is not None
            else f" [{est['note']}]" if est.get("note") else "")
    return f"{f(est['value'])}{band} n={est['n']}"


def print_statistics(statistics: dict[str, Any], console: Console) -> None:
    """Repeated-trial figures: only when some scenario ran more than once."""
    suite = statistics["suite"]
    if suite["k"] < 2:
        return
    table = Table(title=f"Flakiness over k={suite['k']} trials per scenario (95 % intervals)",
                  title_justify="left")
    for col, justify in (("scenario", "left"), ("passed", "right"), ("pass rate", "left"),
                         ("pass^k", "right"), ("flaky", "left"), ("voice-to-voice p50", "left")):
        table.add_column(col, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for s in statistics["scenarios"]:
        table.add_row(escape(s["scenario"]), f"{s['passed']}/{s['n']}",
                      _estimate(s["pass_rate"], percent=True),
                      "—" if s["pass_hat_k"] is None else f"{100 * s['pass_hat_k']:.0f}%",
                      "[yellow]flaky[/]" if s["flaky"] else "",
                      _estimate(s["latency"]["voice_to_voice_ms"]["p50"]))
    print_table(table, console)
    v2v = statistics["latency"]["voice_to_voice_ms"]
    flaky_kinds = [k["kind"] for k in statistics["kinds"] if k["flaky_scenarios"]]
    console.print(
        f"suite pass rate {_estimate(suite['pass_rate'], percent=True)} scenarios, "
        f"pass^k {_estimate(suite['pass_hat_k'], percent=True)}; "
        f"{len(suite['flaky_scenarios'])} flaky scenario(s)"
        + (f", flaky expectation kinds: {', '.join(flaky_kinds)}" if flaky_kinds else ""),
        highlight=False, soft_wrap=True)
    console.print("voice-to-voice " + ", ".join(
        f"p{q} {_estimate(v2v[f'p{q}'])}" for q in (50, 90, 95)), highlight=False, soft_wrap=True)


def print_summary(outcome: RunOutcome, console: Console | None = None) -> None:
    """The summary table (scenario, status, voice-to-voice latency, failing expectations), the
    flakiness figures of a repeated-trial run, the totals and where the reports are."""
    console = console or Console()
    table = Table(title="Run summary (latency: voice-to-voice)", title_justify="left")
    # The failing expectations by kind (their evidence is in the HTML report and the JUnit
    # file); an errored trial's reason, cut short, comes first.
    table.add_column("scenario", overflow="fold", min_width=16)
    table.add_column("status", no_wrap=True)
    table.add_column("voice-to-voice", justify="right")
    table.add_column("failing expectations", overflow="fold", min_width=16)
    for t in outcome.trials:
        failing = ", ".join(dict.fromkeys(v.kind for v in t.failing))
        if t.outcome == "errored" and t.error:
            reason = t.error if len(t.error) <= 80 else t.error[:79] + "…"
            failing = reason + (f"; {failing}" if failing else "")
        table.add_row(escape(t.label), f"[{_STYLE[t.outcome]}]{t.outcome}[/]",
                      latency_text(t.voice_to_voice_ms), escape(failing))
    print_table(table, console)
    if outcome.statistics:
        print_statistics(outcome.statistics, console)
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
    for line in error_lines(exc):
        console.print(line, style="red", highlight=False, markup=False, emoji=False,
                      soft_wrap=True)
