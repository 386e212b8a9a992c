"""End to end over WebRTC: the faults whose effect the transport carries (what the caller hears,
when, how the agent's audio stops, what arrives on the data channel) make exactly the matching
expectations fail when the local agent is reached over WebRTC, as they do over a WebSocket."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

pytest.importorskip("aiortc")

from fault_table import failures, kinds  # noqa: E402

from harness import api  # noqa: E402

pytestmark = pytest.mark.slow

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"

MUTATIONS: dict[str, dict[str, set[str]]] = {
    # the server keeps playing its buffer: no truncation, the caller hears it to its end
    "ignore_barge_in": {"barge-in": {"barge_in"}},
    # what arrives on the agent's RTP track is silence
    "silent_audio": {"order-status": {"latency", "turn_answered", "speech_matches_transcript"}},
    # a frame cut in two on the data channel
    "malformed_event": {"order-status": {"integrity.malformed_frame"}},
    "added_latency_ms=3000": {"order-status": {"latency"}},
}


async def _run_all(out: Path) -> dict[str, api.RunOutcome]:
    slots = asyncio.Semaphore(2)

    async def run(fault: str, names: dict[str, set[str]]) -> api.RunOutcome:
        async with slots:
            return await api.run_async([SCENARIOS / f"{name}.yaml" for name in names],
                                       target="local-webrtc", faults=[fault],
                                       out_dir=out / fault.split("=")[0])

    outcomes = await asyncio.gather(*(run(f, n) for f, n in MUTATIONS.items()))
    return dict(zip(MUTATIONS, outcomes, strict=True))


def test_faults_fail_the_matching_expectations_over_webrtc(tmp_path: Path) -> None:
    results = asyncio.run(_run_all(tmp_path))
    for fault, names in MUTATIONS.items():
        outcome = results[fault]
        assert all(t.run_status == "completed" for t in outcome.trials), failures(outcome)
        assert kinds(outcome, {"fail"}) == names, (fault, failures(outcome))
        assert not any(kinds(outcome, {"error"}).values()), failures(outcome)
