"""The calibration bench's promises at the smallest sizes people run, pinned: A/A comparisons of
simulated suites rarely declare anything, 95 % intervals of a known shift cover it, and a real
shift of the stated detectable difference is declared worse. ``bench/stats_calibration.py``
prints the whole table; these cells are re-run here with fewer replicates."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "stats_calibration.py"
REPS = 160


def _bench():
    spec = importlib.util.spec_from_file_location("stats_calibration", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _slack(p: float, n: int) -> float:
    """Two and a half standard errors of a rate p estimated from n replicates."""
    return 2.5 * math.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize(("scenarios", "trials"), [(3, 2), (5, 2), (5, 5)])
def test_small_suites_are_calibrated(scenarios: int, trials: int) -> None:
    cell = _bench()._cell((scenarios, trials, REPS, 4242 + scenarios * 10 + trials))
    assert cell["aa"] <= 0.05 + _slack(0.05, REPS), cell
    assert cell["cov_v2v"] >= 0.93 - _slack(0.93, REPS), cell
    assert cell["cov_pass"] >= 0.93 - _slack(0.93, REPS), cell
    for metric, power in cell["power"].items():
        n = cell["power_n"][metric]
        if power is None:
            # the size cannot detect it, and the report says so (3 × 2 pass/fail pairs)
            assert cell["mdd"][metric] is None
        else:
            assert power >= 0.75 - _slack(0.75, n), (metric, cell)
