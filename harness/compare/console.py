"""The terminal side of a comparison: one table per candidate, its verdict lines, the files."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.compare._compare import CompareOutcome
from harness.compare._report import (
    FAMILY_TEXT,
    _fmt_value,
    _p,
    detectable_text,
    figures_text,
)
from harness.report.console import print_table

_STYLE = {"better": "green", "worse": "bold red", "not read": "yellow"}


def print_comparison(outcome: CompareOutcome, console: Console | None = None) -> None:
    """Print each candidate's metric table against the baseline, then where the reports are."""
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=150)  # a CI log: room for the whole table
    doc = outcome.document
    n_trials = doc["trials_per_scenario"]
    _print_variants(doc, console)
    for pair in doc["comparisons"]:
        table = Table(title=f"{pair['candidate']} vs {pair['baseline']} "
                            f"({len(doc['scenarios'])} scenarios"
                            + (f" × {n_trials} trials" if n_trials else "") + ")",
                      title_justify="left")
        for col, justify in (("metric", "left"), ("scenarios/pairs", "right"),
                             (pair["baseline"], "right"), (pair["candidate"], "right"),
                             ("difference (95% CI)", "right"), ("family", "left"),
                             ("p adj.", "right"), ("verdict", "left"), ("detectable", "right")):
            table.add_column(escape(col), justify=justify,  # type: ignore[arg-type]
                             no_wrap=col in ("metric", "verdict"))
        for m in pair["metrics"]:
            kind, unit = m["kind"], m["unit"]
            diff = _fmt_value(m["difference"], kind, unit, signed=True)
            if m["interval"] is not None:
                diff += (f" ({_fmt_value(m['interval']['low'], kind, unit, True)} to "
                         f"{_fmt_value(m['interval']['high'], kind, unit, True)})")
            style = _STYLE.get(m["verdict"], "")
            table.add_row(
                escape(m["metric"]), f"{m['n_scenarios']}/{m['n_pairs']}",
                _fmt_value(m["mean_a"], kind, unit), _fmt_value(m["mean_b"], kind, unit), diff,
                FAMILY_TEXT[m["family"]], _p(m["p_adjusted"]),
                f"[{style}]{m['verdict']}[/]" if style else m["verdict"], detectable_text(m))
        print_table(table, console)
        for m in pair["metrics"]:
            if m["verdict"] in ("better", "worse", "not read") or (
                    m["family"] == "primary" and m["note"]):
                console.print(f"  {escape(m['summary'])}")
        for plan in pair.get("plans", []):
            console.print(f"  plan: {escape(plan['text'])}")
    if outcome.errored:
        console.print(f"[magenta]{outcome.errored} trial(s) errored: the figures rest on the "
                      "others[/]")
    gate = doc["gate"]
    if gate is not None:
        if gate["passed"]:
            console.print("[green]gate passed[/]: no candidate is significantly worse")
        else:
            worse = ", ".join(f"{w['candidate']} on {w['metric']}" for w in gate["worse"])
            console.print(f"[bold red]gate failed[/]: significantly worse: {escape(worse)}")
    console.print(f"compare: {outcome.compare_html}", soft_wrap=True, highlight=False)
    console.print(f"json:    {outcome.compare_json}", soft_wrap=True, highlight=False)
    if outcome.junit_xml is not None:
        console.print(f"junit:   {outcome.junit_xml}", soft_wrap=True, highlight=False)


def _print_variants(doc: dict, console: Console) -> None:
    """Each variant on its own: who called, its pass rate and its voice-to-voice latency."""
    table = Table(title="variants", title_justify="left")
    for col, justify in (("variant", "left"), ("caller voice", "left"), ("trials", "right"),
                         ("pass rate (95% CI, n)", "right"), ("voice-to-voice", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for v in doc["variants"]:
        text = figures_text(v["figures"])
        table.add_row(escape(v["name"]), escape(v.get("caller_voice") or "—"), str(v["trials"]),
                      text["pass_rate"], text["voice_to_voice"])
    print_table(table, console)
