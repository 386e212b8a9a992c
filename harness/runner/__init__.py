"""Runs scenarios against realtime targets and records them: stream, playback, tools, capture.

Public API: :func:`run_suite` / :func:`run_suite_sync` (a whole suite into a run folder with
``run.json``), :func:`run_trial` / :func:`run_trial_sync` (one trial folder), and the
:class:`ProgressEvent`, :class:`TrialResult`, :class:`RunResult` they report with. The recording
format is in :mod:`harness.recording`.
"""

from harness.runner.results import RUN_FILE, ProgressEvent, RunResult, TrialResult
from harness.runner.session import SessionOptions, TrialSession
from harness.runner.suite import (
    run_suite,
    run_suite_sync,
    run_trial,
    run_trial_sync,
)

__all__ = [
    "RUN_FILE",
    "ProgressEvent",
    "RunResult",
    "SessionOptions",
    "TrialResult",
    "TrialSession",
    "run_suite",
    "run_suite_sync",
    "run_trial",
    "run_trial_sync",
]
