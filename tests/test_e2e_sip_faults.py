"""End to end over SIP: every fault of the fault table (``tests/test_e2e_suite.py``) is caught
when the local agent is dialled over SIP, from what a phone line carries (the agent's audio,
heard by the offline recogniser, and its tool calls through the webhook endpoint), on the same
scenarios as over WebRTC (``tests/test_e2e_webrtc_faults.py``).

What a SIP call cannot show is stated, never passed over in silence: expectations that need a
transcript of what the agent heard or one of its own (``input_heard``,
``speech_matches_transcript``) are ``not_applicable`` there, and the faults that break only the
Realtime events (a malformed frame, an error event) have no events to break on a telephone line:
their trials must pass whole, which shows the fault changed nothing a caller can hear."""

from __future__ import annotations

from pathlib import Path

import pytest

from fault_table import failures, kinds, run_faults, table
from harness.runner.sip_session import NOT_OVER_SIP
from test_e2e_webrtc_faults import WEBRTC_TABLE

pytestmark = [pytest.mark.slow, pytest.mark.solo]

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
EVENTS_ONLY = {"malformed_event", "error_event"}
"""Faults that break only the Realtime events, which a SIP call does not carry."""
RUNS_AT_ONCE = 2

SIP_TABLE = {fault: {name: set() if fault in EVENTS_ONLY else kinds_ - set(NOT_OVER_SIP)
                     for name, kinds_ in names.items()}
             for fault, names in WEBRTC_TABLE.items()}


def test_every_fault_of_the_table_is_caught_over_sip(tmp_path: Path) -> None:
    results = run_faults(SCENARIOS, SIP_TABLE, tmp_path, target="local-sip",
                         runs_at_once=RUNS_AT_ONCE)
    print("\nover SIP: fault × expectation kind (failed/graded)\n" + table(results))
    for fault, outcome in results.items():
        report = f"{fault}:\n" + "\n".join(failures(outcome))
        assert all(t.run_status == "completed" for t in outcome.trials), report
        assert kinds(outcome, {"fail", "error"}) == SIP_TABLE[fault], report
        if fault not in EVENTS_ONLY:
            assert any(SIP_TABLE[fault].values()), f"{fault}: nothing to catch over SIP"
