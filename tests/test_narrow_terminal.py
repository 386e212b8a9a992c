"""The command line at 80 columns (a small terminal, a CI log): every command's help fits, reflows
its paragraphs and shows what was written (no emoji for ``:end:``); every table keeps each word
of its headers and values whole."""

from __future__ import annotations

import io
import re
import sys
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest
import typer.main
from rich.console import Console

from harness.cli import app, main

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "report"), str(ROOT / "tests" / "store")]

from history_factory import synthetic_run  # noqa: E402
from report_factory import (  # noqa: E402
    errored_trial,
    failing_trial,
    passing_trial,
    three_trial_run,
    write_run,
)

WIDTH = 80
SECTIONS = ("Usage:", "Arguments:", "Options:", "Commands:")


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += _commands(command, (*prefix, name))
        else:
            out.append((*prefix, name))
    return out


COMMANDS = _commands(typer.main.get_command(app))  # type: ignore[arg-type]


def _help(args: tuple[str, ...], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        main([*args, "--help"])
    assert stopped.value.code in (0, None)
    return capsys.readouterr().out


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a) or "harness")
def test_help_fits_80_columns_and_reflows(args: tuple[str, ...],
                                          capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    text = _help(args, capsys)
    lines = text.splitlines()
    assert all(len(line) <= WIDTH for line in lines), text
    # What was written, nothing else: no emoji, no box drawing, no cut-short summaries.
    assert all(ch.isascii() or ch in "µ×–—·…" for ch in text), text
    cut = [line for line in lines if line.rstrip().endswith("...")
           and not line.strip().endswith("]...") and not line.startswith("Usage:")]
    # click cuts a command's first sentence to fit the list: @app.command(short_help=...) fits
    assert not cut, f"cut short (give the command a short_help of at most 60 characters): {cut}"
    # Reflowed: a line is broken only where the next word would not have fitted.
    in_description = False
    for a, b in zip(lines, lines[1:], strict=False):
        if a.startswith("Usage:"):
            in_description = True
        if b.rstrip().endswith(":") and _indent(b) == 0:
            in_description = False
        if not a.strip() or not b.strip() or a.rstrip().endswith(":"):
            continue
        # b goes on with a's text when a has text in b's column (an option whose name is too
        # long for the first column starts its description on the next line).
        at = _indent(b)
        aligned = len(a) > at and a[at] != " " and a[at - 1] == " "
        continued = (at > _indent(a) and aligned) or (in_description and at == _indent(a))
        if continued:
            # click wraps 2 columns short of the terminal's width
            assert len(a.rstrip()) + 1 + len(b.split()[0]) > WIDTH - 2, f"{a!r} then {b!r}"


def test_the_ramp_grammar_is_shown_as_written(capsys: pytest.CaptureFixture[str],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    assert "START:END:DURATION[:STEPS]" in _help(("load",), capsys)
    nightly = " ".join(_help(("nightly",), capsys).split())
    assert "Exit codes: 0 no regression, 1 a gate regressed, 2 usage or invalid input" in nightly


def _console() -> Console:
    return Console(file=io.StringIO(), record=True, width=WIDTH)


def _words_whole(text: str, headers: list[str]) -> None:
    """Each table line fits; nothing is cut with an ellipsis; every header word is whole.

    (Lines printed soft-wrapped, such as a report's path, are left to the terminal to wrap.)"""
    table_lines = [line for line in text.splitlines()
                   if set(line) & set("│┃━─") or line.startswith("  ")]
    assert table_lines and all(len(line) <= WIDTH for line in table_lines), text
    assert "…" not in text.replace("(n=…)", ""), text
    tokens = set(re.split(r"[\s│┃]+", text))
    for header in headers:
        for word in header.split():
            assert word in tokens, (word, text)


def test_run_summary_and_flakiness_tables(tmp_path: Path) -> None:
    from harness.report import render_report
    from harness.report.console import print_summary

    console = _console()
    print_summary(render_report(three_trial_run(tmp_path / "run")), console)
    entries = [passing_trial(tmp_path / "k3", f"order-status/trial-{k}", k) for k in range(2)]
    entries += [failing_trial(tmp_path / "k3", f"cancel-order/trial-{k}", k) for k in range(3)]
    entries.append(errored_trial(tmp_path / "k3", "unreachable-target/trial-0", 0))
    print_summary(render_report(write_run(tmp_path / "k3", entries)), console)
    text = console.export_text()
    _words_whole(text, ["scenario", "status", "voice-to-voice", "failing expectations",
                        "passed", "pass rate", "pass^k", "flaky", "voice-to-voice p50"])
    assert "confirmation_before_write," in text.split()


def test_load_table(tmp_path: Path) -> None:
    from harness.load.console import print_load

    def est(value: float | None, n: int = 24) -> dict:
        return {"value": value, "n": n}

    level = {"concurrency": 100, "calls": 240, "error_rate": est(0.0),
             "answered_rate": est(1.0), "voice_to_voice_ms": {"p50": est(1234.0),
                                                              "p95": est(None, 12)},
             "first_audio_ms": {"p50": est(812.0)}, "jitter_ms": {"p99": est(1.4)},
             "trustworthy": False, "note": "pacing jitter too high"}
    console = _console()
    print_load(types.SimpleNamespace(levels=[level, {**level, "concurrency": 8}],
                                     folder=tmp_path), console)  # type: ignore[arg-type]
    _words_whole(console.export_text(), [
        "at once", "calls", "errored", "answered", "v2v p50", "v2v p95", "1st audio p50",
        "jitter p99", "trusted"])


def test_gates_table_from_harness_trend(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.store import open_store

    with open_store(tmp_path / "history.db") as store:
        for i in range(3):
            folder = synthetic_run(tmp_path / "reports" / f"run-{i}", seed=i, scenarios=6,
                                   trials=3, latency_ms=1500.0 if i == 2 else 900.0,
                                   started=datetime(2025, 6, 1, tzinfo=UTC) + timedelta(days=i))
            store.record_run(folder, label="nightly")
    monkeypatch.setenv("COLUMNS", str(WIDTH))
    with pytest.raises(SystemExit) as stopped:
        main(["trend", "--store", str(tmp_path / "history.db"), "-o", str(tmp_path / "out"),
              "--fail-on", "latency.p50:+10%", "--fail-on", "pass_rate:-5%"])
    assert stopped.value.code == 1
    text = capsys.readouterr().out
    _words_whole(text, ["gate", "baseline run", "baseline", "now", "change", "threshold",
                        "95 % interval (paired diff.)", "n", "p", "verdict"])
    assert {"latency.p50:+10%", "REGRESSED", "run-1"} <= set(text.split())


def test_comparison_table(tmp_path: Path) -> None:
    from harness.compare import compare_runs
    from harness.compare.console import print_comparison

    run_dir = tmp_path / "ab"
    entries = []
    for scenario in ("flip", "steady"):
        for variant in ("A", "B"):
            for k in range(2):
                make = failing_trial if (scenario, variant) == ("flip", "B") else passing_trial
                entry = make(run_dir, f"{scenario}/{variant}/trial-{k}", k)
                entries.append({**entry, "scenario": scenario, "variant": variant})
    write_run(run_dir, entries)
    console = _console()
    print_comparison(compare_runs([f"{run_dir}#A", f"{run_dir}#B"], out_dir=tmp_path / "cmp"),
                     console)
    text = console.export_text()
    _words_whole(text, ["metric", "scenarios/pairs", "A", "B", "difference (95% CI)", "family",
                        "p adj.", "verdict", "detectable"])
    assert "voice_to_voice_ms" in text.split()


def test_a_metric_the_gatekeeper_keeps_unread_is_said_so_with_its_note(tmp_path: Path) -> None:
    """An exploratory metric whose own test rejects while no primary differs is printed "not
    read" with its summary line (its adjusted p), never "no detectable difference"."""
    from harness.compare import compare_runs
    from harness.compare.console import print_comparison

    run_dir = tmp_path / "ab"
    entries = [{**passing_trial(run_dir, f"s{i}/{v}/trial-{k}", k), "scenario": f"s{i}",
                "variant": v} for i in range(3) for v in ("A", "B") for k in range(2)]
    write_run(run_dir, entries)
    outcome = compare_runs([f"{run_dir}#A", f"{run_dir}#B"], out_dir=tmp_path / "cmp")
    metric = outcome.document["comparisons"][0]["metrics"][-1]
    assert metric["family"] != "primary"
    metric.update(family="secondary", verdict="not read",
                  summary="dead air (exploratory): not read — adjusted p 0.01")
    console = _console()
    print_comparison(outcome, console)
    text = console.export_text()
    assert "not read — adjusted p 0.01" in text
    # the verdict cell itself (tables too wide for 80 columns print one field a line)
    assert re.search(r"^\s*verdict\s+not read\s*$", text, re.M), text
