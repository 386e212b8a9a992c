"""End to end over SIP: the faults of the fault table (``tests/test_e2e_suite.py``) are caught
when the local agent is dialled over SIP, from what a phone line carries (the agent's audio,
heard by the offline recogniser, and its tool calls through the webhook endpoint), on the same
scenarios as over WebRTC (``tests/test_e2e_webrtc_faults.py``).

Over a WebSocket or WebRTC each fault fails exactly its own kinds; over SIP it fails at least
them ("caught"), because the grader hears the local agent's espeak-ng voice through a recogniser
on a G.711 line and misses read-backs and dates that were said (``docs/sip.md``). What a SIP call
cannot show is stated, never passed over in silence:

- ``input_heard`` and ``speech_matches_transcript`` need transcripts the call does not carry
  (``not_applicable``);
- the faults that break only the Realtime events (a malformed frame, an error event) have no
  events to break on a telephone line: their calls fail nothing beyond what the fault-free call
  fails and what the recogniser misses in a fault-free call (:data:`MISHEARD`);
- :data:`NOT_GRADED`: what the offline recogniser cannot hear, and whose check is therefore
  ``not_applicable`` with the reason (a transcription endpoint grades it:
  ``tests/test_e2e_sip.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fault_table import TIMED_KINDS, failures, kinds, run_faults, shares, table
from test_e2e_webrtc_faults import WEBRTC_TABLE

from harness import api
from harness.runner.sip_session import NOT_OVER_SIP

# two SIP calls at once, each transcribed on both sides: 0.49 of a core over the table (250 CPU-s
# user time in 566 s beside the suite's fault table), as much as four WebSocket calls
pytestmark = [pytest.mark.slow, pytest.mark.calls(4)]

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
EVENTS_ONLY = {"malformed_event", "error_event"}
"""Faults that break only the Realtime events, which a SIP call does not carry."""
MISHEARD = {"entity_confirmed", "preamble", "transcript"}
"""Kinds graded from the agent's voice as the recogniser hears it on a G.711 line, which the
fault-free order-status call over SIP fails in some calls and passes in others (two fault-free
calls of one run failed ``entity_confirmed`` and ``transcript``, one of them ``preamble`` too):
an events-only fault's call is held to the fault-free call's failures up to these, and up to
:data:`fault_table.TIMED_KINDS`: over a WebSocket a late transcript in the recording shows that
a latency failure was the machine's load, and a SIP call carries none of the agent's VAD
events. On a slower two-core machine's CI run, ``malformed_event``'s order-status answered
its number turn in 4,275 ms (limit 3,000) with a read-back the recogniser missed, and
``error_event``'s in 8.6 s in another: the two-breath number turn, the agent's slowest, beside
three other fault runs' calls. Neither fault reaches the line, so neither slowed it."""
NOT_GRADED = {
    "wrong_language": ("language", "writes only en whatever was spoken"),
}
"""Faults a SIP call heard by the offline recogniser cannot show: the kind their row fails
elsewhere is ``not_applicable`` here, with the reason quoted (the recogniser decodes as English:
the agent's Spanish came out as "Thank you very much.", which had passed the check)."""
RUNS_AT_ONCE = 2

SIP_TABLE = {fault: {name: set() if fault in EVENTS_ONLY else kinds_ - set(NOT_OVER_SIP)
                     for name, kinds_ in names.items()}
             for fault, names in WEBRTC_TABLE.items()}
"""WebRTC's rows, with what a SIP call cannot show taken out (``talk_over_noise`` runs on
:data:`fault_table.LONG_NOISE`'s scenario there too: long-silence's TV, through a G.711 line,
was not a turn to the local agent's VAD in 3 of 9 calls, and the agent had nothing to talk
over)."""


SHARES = shares(SIP_TABLE, 2)
"""The table in two shares, run at once in two worker processes (:data:`RUNS_AT_ONCE` SIP
calls at a time in each)."""


class _Share:
    share: int

    def test_every_fault_of_the_share_is_caught_over_sip(self, tmp_path: Path) -> None:
        mutations = SHARES[self.share]
        results = run_faults(SCENARIOS, mutations, tmp_path, target="local-sip",
                             runs_at_once=RUNS_AT_ONCE)
        print("\nover SIP: fault × expectation kind (failed/graded)\n" + table(results))
        baseline: set[str] = set()
        if EVENTS_ONLY & set(mutations):
            clean = api.run([SCENARIOS / "order-status.yaml"], target="local-sip",
                            out_dir=tmp_path / "fault-free")
            baseline = kinds(clean, {"fail", "error"})["order-status"]
            print(f"order-status without a fault fails over SIP: {sorted(baseline)}")
        for fault, outcome in results.items():
            report = f"{fault}:\n" + "\n".join(failures(outcome))
            assert all(t.run_status == "completed" for t in outcome.trials), report
            failed = kinds(outcome, {"fail", "error"})
            if fault in EVENTS_ONLY:
                assert set(failed) == {"order-status"}, report
                if timed := (failed["order-status"] & TIMED_KINDS) - baseline:
                    print(f"{fault}: {', '.join(sorted(timed))} failed under load (no events "
                          "on a SIP line for the fault to break)")
                assert failed["order-status"] <= baseline | MISHEARD | TIMED_KINDS, report
            elif fault in NOT_GRADED:
                kind, reason = NOT_GRADED[fault]
                for trial in outcome.trials:
                    [verdict] = [v for v in trial.verdicts if v.kind == kind]
                    assert verdict.status == "not_applicable", f"{verdict.summary}\n{report}"
                    assert reason in verdict.summary, report
            else:
                assert all(want and want <= failed[name]
                           for name, want in SIP_TABLE[fault].items()), report


class TestFirstShare(_Share):
    share = 0


class TestSecondShare(_Share):
    share = 1
