"""``harness score RUN_DIR``: re-scores the recordings, rewrites verdicts, exit code."""

from __future__ import annotations

import json
import subprocess
import sys

from harness.recording import VERDICTS_FILE
from tests.scoring.calls import order_call


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *args],
                          capture_output=True, text=True, timeout=120)


def test_harness_score_rewrites_verdicts_and_exits_by_outcome(tmp_path):
    run = tmp_path / "run"
    order_call().write(run / "clean" / "trial-0")
    order_call("no_preamble").write(run / "no-preamble" / "trial-0")
    (run / "clean" / "trial-0" / VERDICTS_FILE).write_text('{"verdicts": []}')
    (run / "run.json").write_text(json.dumps({"schema_version": 1, "trials": [
        {"path": "clean/trial-0", "status": "completed"},
        {"path": "no-preamble/trial-0", "status": "completed"}]}))
    done = _harness("score", str(run))
    assert done.returncode == 1, done.stderr
    assert "no-preamble/trial-0: 1 fail, 10 pass (preamble)" in done.stdout
    assert "re-scored 2 trial(s): 1 fail, 21 pass" in done.stdout
    rewritten = json.loads((run / "clean" / "trial-0" / VERDICTS_FILE).read_text())
    assert len(rewritten["verdicts"]) == 11

    (run / "run.json").write_text(json.dumps({"schema_version": 1, "trials": [
        {"path": "clean/trial-0", "status": "completed"}]}))
    assert _harness("score", str(run)).returncode == 0


def test_harness_score_on_a_folder_that_is_not_a_run(tmp_path):
    done = _harness("score", str(tmp_path))
    assert done.returncode == 2
    assert "no run.json" in done.stderr and "Traceback" not in done.stderr
