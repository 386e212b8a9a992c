"""A load test's per-level table on the terminal."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from harness.load import PAGE_FILE, LoadOutcome
from harness.report.console import print_table


def _ms(est: dict[str, Any]) -> str:
    return f"(n={est['n']})" if est["value"] is None else f"{est['value']:.0f}"


def _rate(est: dict[str, Any]) -> str:
    return "-" if est["value"] is None else f"{100 * est['value']:.0f}% n={est['n']}"


def print_load(outcome: LoadOutcome, console: Console | None = None) -> None:
    """Latency, answered and error rates and the harness's jitter per level; the page's path."""
    console = console or Console()
    table = Table("at once", "calls", "errored", "answered", "v2v p50", "v2v p95",
                  "1st audio p50", "jitter p99", "trusted",
                  caption="latencies and the harness's own jitter in ms; (n=…): too few values "
                          "for that percentile")
    for lv in outcome.levels:
        jitter = lv["jitter_ms"]["p99"]["value"]
        table.add_row(str(lv["concurrency"]), str(lv["calls"]), _rate(lv["error_rate"]),
                      _rate(lv["answered_rate"]), _ms(lv["voice_to_voice_ms"]["p50"]),
                      _ms(lv["voice_to_voice_ms"]["p95"]), _ms(lv["first_audio_ms"]["p50"]),
                      "-" if jitter is None else f"{jitter:.1f}",
                      "yes" if lv["trustworthy"] else "[red]no[/]")
    print_table(table, console)
    for lv in outcome.levels:
        if lv["note"]:
            console.print(f"{lv['concurrency']} calls: {lv['note']}", style="red",
                          highlight=False, markup=False)
    console.print(f"report: {outcome.folder / PAGE_FILE}", soft_wrap=True, highlight=False)
