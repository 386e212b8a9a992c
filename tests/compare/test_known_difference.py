"""A known latency difference, end to end: two loopback servers that answer exactly 300 ms apart,
the same scenarios run against each over real sockets, the two runs compared. The measured
difference and its interval must find the 300 ms the servers put there, to within the harness's
latency measurement error. (Against the local agent
the added_latency fault's 300 ms is measured a little smaller: the delayed variant leaves the
agent's shared recogniser less busy; see test_compare_e2e.py.)

A measurement to within 5 ms needs the event loop on time: beside the other fast tests on two
busy cores the difference came out 7 and 18 ms off, so this test runs with the slow tests, one at
a time."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))

from scripted import Behaviour, FakeScript, ScriptedServer, scenario  # noqa: E402

from harness.compare import compare_runs  # noqa: E402
from harness.runner import run_suite  # noqa: E402
from harness.runner import suite as suite_module  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.solo]

ADDED_MS = 300.0
MEASUREMENT_ERROR_MS = 5.0


def test_a_known_latency_difference_is_measured_with_an_interval_that_contains_it(
        tmp_path: Path, monkeypatch) -> None:
    async def render(sc):
        return FakeScript(sc, speech_ms=250 + 40 * len(sc.name))

    monkeypatch.setattr(suite_module, "render_script", render)
    scenarios = [scenario([{"say": "one"}, {"say": "two"}], name=f"s{i:02d}")
                 for i in range(10)]

    async def both() -> None:
        async with ScriptedServer(Behaviour(reply_ms=300, reply_delay_ms=150)) as fast, \
                ScriptedServer(Behaviour(reply_ms=300, reply_delay_ms=150 + ADDED_MS)) as slow:
            await asyncio.gather(
                run_suite(scenarios, out_dir=tmp_path / "A", target=fast.url, trials=2,
                          concurrency=5),
                run_suite(scenarios, out_dir=tmp_path / "B", target=slow.url, trials=2,
                          concurrency=5))

    asyncio.run(both())
    outcome = compare_runs([str(tmp_path / "A"), str(tmp_path / "B")], out_dir=tmp_path / "cmp")
    metrics = {m.metric: m for m in outcome.pairs[0].metrics}
    for name in ("voice_to_voice_ms", "first_audio_ms"):
        m = metrics[name]
        assert m.n_scenarios == 10 and m.verdict == "worse", (name, m)
        # Found to within the harness's latency measurement error (a few ms; bench/runner.py
        # measures it), which is also what the servers' own timers add: the interval is that
        # narrow here, so it is checked against 300 ms give or take that error.
        assert abs(m.difference - ADDED_MS) <= MEASUREMENT_ERROR_MS, (name, m.difference)
        assert m.interval.low - MEASUREMENT_ERROR_MS <= ADDED_MS \
            <= m.interval.high + MEASUREMENT_ERROR_MS, (name, m.interval)
        assert m.interval.high - m.interval.low < 4 * MEASUREMENT_ERROR_MS
    # the outcomes themselves did not move
    assert metrics["passed"].verdict == "no detectable difference"
