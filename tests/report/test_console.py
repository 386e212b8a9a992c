"""The terminal output of a run: the progress bar follows the runner's events, the summary table
shows every trial with its status, latency and failing expectations."""

from __future__ import annotations

from pathlib import Path

from report_factory import three_trial_run
from rich.console import Console
from rich.text import Text

from harness.report import render_report
from harness.report.console import RunProgress, print_summary
from harness.runner import ProgressEvent


def test_summary_table(tmp_path: Path) -> None:
    outcome = render_report(three_trial_run(tmp_path / "run"))
    console = Console(record=True, width=200)
    print_summary(outcome, console)
    text = console.export_text()
    lines = {line.split("│")[1].strip(): line for line in text.splitlines()
             if line.startswith("│") and "trial-0" in line}
    assert set(lines) == {"order-status[trial-0]", "cancel-order[trial-0]",
                          "unreachable-target[trial-0]"}
    assert "passed" in lines["order-status[trial-0]"]
    assert "740 · 640 ms" in lines["order-status[trial-0]"]  # every value: n too small for p50
    assert "failed" in lines["cancel-order[trial-0]"]
    assert "confirmation_before_write, barge_in" in lines["cancel-order[trial-0]"]
    assert "errored" in lines["unreachable-target[trial-0]"]
    assert "connection refused" in text
    assert "3 trials: 1 passed, 1 failed, 1 errored (33% pass rate)" in text
    assert str(outcome.index_html) in text


def test_progress_follows_runner_events() -> None:
    console = Console(record=True, width=160, force_terminal=False)
    with RunProgress(console) as progress:
        progress(ProgressEvent("run_started", 0, 3))
        progress(ProgressEvent("trial_started", 0, 3, scenario="a", trial=0))
        progress(ProgressEvent("trial_started", 0, 3, scenario="b", trial=0))
        task = progress.progress.tasks[0]
        assert (task.total, task.completed) == (3, 0)
        assert Text.from_markup(task.fields["running"]).plain == "a[trial-0], b[trial-0]"
        progress(ProgressEvent("trial_retry", 0, 3, scenario="b", trial=0,
                               message="attempt 1 failed; retrying"))
        progress(ProgressEvent("trial_finished", 1, 3, scenario="a", trial=0,
                               status="completed"))
        progress(ProgressEvent("trial_finished", 2, 3, scenario="b", trial=0,
                               status="errored", message="connection refused"))
        assert task.completed == 2 and task.fields["running"] == ""
    text = console.export_text()
    assert "retry b[trial-0]: attempt 1 failed; retrying" in text
    assert "errored b[trial-0]: connection refused" in text
    assert "a[trial-0]:" not in text
