"""Reports of a run folder: the HTML report (index + a page per trial), JUnit XML, summary.json.

Public API:

- :func:`render_report` ``(run_dir) -> RunOutcome``: reads ``run.json`` and the trial folders
  (recordings and ``verdicts.json``), writes ``index.html``, ``pages/*.html``, ``assets/``,
  ``junit.xml`` and ``summary.json`` into the run folder, and returns the outcome of every trial.
- :class:`RunOutcome` / :class:`TrialOutcome`: passed / failed / errored per trial, the verdicts,
  per-turn latencies, the run's repeated-trial :attr:`RunOutcome.statistics`, and
  :attr:`RunOutcome.exit_code` (0 all passed, 1 some failed, 3 some errored).
- :func:`run_statistics` ``(trials)``: pass rates with Wilson intervals, pass@k, pass^k, flaky
  scenarios and expectation kinds, latency percentiles with n and cluster-bootstrap intervals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.exit_codes import EXIT_ERRORED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, exit_code
from harness.recording import read_run_file
from harness.report._html import (
    PAGES_DIR,
    copy_assets,
    page_name,
    render_index,
    render_trial_page,
)
from harness.report._junit import write_junit
from harness.report._statistics import latency_text, run_statistics
from harness.report._summary import totals_of, write_summary
from harness.report._trial import Outcome, TrialOutcome, load_trial

__all__ = ["EXIT_ERRORED", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "Outcome", "RunOutcome",
           "TrialOutcome", "latency_text", "read_run", "render_report", "run_statistics"]

RUN_FILE = "run.json"


@dataclass
class RunOutcome:
    """A scored run and where its reports are."""

    run_dir: Path
    run: dict[str, Any]
    trials: list[TrialOutcome]
    index_html: Path
    junit_xml: Path
    summary_json: Path
    pages: list[Path] = field(default_factory=list)
    stopped: bool = False
    """The run was stopped before every trial finished (the reports show what was recorded)."""
    statistics: dict[str, Any] = field(default_factory=dict)
    """Repeated-trial figures (pass rates with intervals, pass@k, pass^k, flaky scenarios and
    expectation kinds, latency percentiles with n and intervals), as in ``summary.json``."""

    @property
    def totals(self) -> dict[str, Any]:
        """trials, passed, failed, errored, pass_rate."""
        return totals_of(self.trials)

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 some failed, 3 some errored (``harness.exit_codes``)."""
        return exit_code(t.outcome for t in self.trials)


def read_run(run_dir: Path) -> dict[str, Any]:
    """``RUN_DIR/run.json``, or a clear InputError."""
    return read_run_file(run_dir)


def render_report(run_dir: Path) -> RunOutcome:
    """Render every report of ``run_dir`` from what is on disk (run.json, trials, verdicts)."""
    run_dir = Path(run_dir)
    run = read_run(run_dir)
    copy_assets(run_dir)
    (run_dir / PAGES_DIR).mkdir(exist_ok=True)
    run_id = str(run.get("run_id", run_dir.name))
    trials: list[TrialOutcome] = []
    names: list[str] = []
    pages: list[Path] = []
    taken: set[str] = set()
    for entry in run["trials"]:
        trial = load_trial(run_dir, entry, with_timeline=True)
        name = page_name(trial, taken)
        pages.append(render_trial_page(run_dir, trial, name, run_id))
        # The timeline is only needed for the trial's own page; dropping it keeps a large
        # run's memory flat.
        trial.timeline = None
        trials.append(trial)
        names.append(name)
    figures = run_statistics(trials)
    index = render_index(run_dir, run, trials, names, totals_of(trials), figures)
    junit = write_junit(run_dir, run, trials, names)
    summary = write_summary(run_dir, run, trials, names, figures)
    return RunOutcome(run_dir=run_dir, run=run, trials=trials, index_html=index, junit_xml=junit,
                      summary_json=summary, pages=pages, statistics=figures)
