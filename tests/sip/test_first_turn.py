"""When a SIP caller's first turn starts: as over a WebSocket, after the lead-in of bed, and
after the reaction gap only when the agent greeted first."""

from __future__ import annotations

from pathlib import Path

from harness.runner.session import LEAD_IN_MS
from harness.runner.sip_session import QUIET_MS, SipConnection, SipTrialSession
from harness.scenario import load_scenario

SCENARIO = Path(__file__).resolve().parents[2] / "scenarios" / "noisy-caller.yaml"
START = 10.0


def _trial() -> SipTrialSession:
    scenario = load_scenario(SCENARIO)
    trial = SipTrialSession(scenario=scenario, config=scenario.agent_config, script=None,
                            connection=SipConnection(None),  # type: ignore[arg-type]
                            writer=None, t0_ns=0)  # type: ignore[arg-type]
    trial.stream_start_ms = START
    return trial


def test_the_first_turn_starts_after_the_lead_in_when_the_agent_does_not_greet() -> None:
    """Over a WebSocket the first words come after 500 ms of bed; over SIP they came after the
    700 ms reaction gap, so the same scenario put other noise under the same words."""
    trial = _trial()
    assert trial._trigger(START + LEAD_IN_MS - 1, None) is None
    assert trial._trigger(START + LEAD_IN_MS, None) == "first"


def test_after_a_greeting_the_first_turn_waits_for_quiet_and_the_reaction_gap() -> None:
    trial = _trial()
    gap = max(trial.scenario.reaction_gap_ms, QUIET_MS)
    greeting_ended = START + 2000.0
    trial.last_audible_ms = greeting_ended
    trial.onsets.append(START + 300.0)
    assert trial._trigger(greeting_ended + gap - 1, None) is None
    assert trial._trigger(greeting_ended + gap, None) == "first"
