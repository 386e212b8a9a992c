"""The load and run commands' scale options: bad values are one clear message and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _harness(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from harness.cli import main; main()", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=120)


def test_a_bad_ramp_is_a_usage_error(tmp_path):
    done = _harness("load", str(REPO / "scenarios" / "order-status.yaml"), "--ramp", "lots",
                    "-o", str(tmp_path), cwd=REPO)
    assert done.returncode == 2, done.stderr
    assert "--ramp" in done.stderr and "START:END:DURATION" in done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


def test_bad_worker_options_of_run_are_usage_errors(tmp_path):
    for args, field in [(["--workers", "0"], "--workers"), (["--executor", "spark"], "--executor"),
                        (["--ship-recordings"], "--ship-recordings")]:
        done = _harness("run", str(REPO / "scenarios" / "order-status.yaml"), *args,
                        "-o", str(tmp_path), cwd=REPO)
        assert done.returncode == 2, done.stderr
        assert field in done.stderr and "Traceback" not in done.stderr
