"""``harness nightly --network``: a bad spec or a WebSocket target is refused before any call
(exit 2, located), and a WebRTC night's calls run under the conditions, which their recordings
and RTP statistics show."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(sys.executable).with_name("harness")
SCENARIO = ROOT / "scenarios" / "human-request.yaml"


def _nightly(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(HARNESS), "nightly", str(SCENARIO), "--trials", "1", "--store",
         str(tmp_path / "history.db"), "-o", str(tmp_path / "out"), *extra],
        cwd=ROOT, capture_output=True, text=True, timeout=240)


@pytest.mark.parametrize(("extra", "says"), [
    (["--target", "local-webrtc", "--network", "loss=150%"], "loss must be a share below 100%"),
    (["--network", "delay=50ms"], "imposes conditions on a WebRTC call's path"),
])
def test_nightly_refuses_bad_network_conditions_before_any_call(tmp_path, extra, says):
    done = _nightly(tmp_path, *extra)
    assert done.returncode == 2, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert says in output and "--network" in output and "Traceback" not in output
    assert not (tmp_path / "history.db").exists() and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_webrtc_night_runs_under_the_network_conditions(tmp_path):
    done = _nightly(tmp_path, "--target", "local-webrtc", "--network", "delay=60ms,loss=5%")
    assert done.returncode in (0, 1), done.stdout + done.stderr  # graded and stored
    assert "Traceback" not in done.stdout + done.stderr
    [meta_path] = (tmp_path / "out").glob("*/human-request/trial-0/meta.json")
    meta = json.loads(meta_path.read_text())
    assert (meta["transport"], meta["network"]) == ("webrtc", "delay=60ms,jitter=0ms,loss=5%")
    assert meta["rtp"]["rtt_ms"] >= 120.0 and meta["rtp"]["received"]["lost"] > 0
    assert (tmp_path / "history.db").is_file()
