"""End to end through ``harness.api``: the example suite passes against the fault-free local agent,
and each fault of the agent makes exactly the matching expectations fail (mutation tests).

Real calls: caller audio streamed in real time, the agent's VAD, ASR, dialogue policy and TTS,
scoring and reports. A mutation test runs, with one fault switched on, the example scenarios that
exercise that fault, and checks every verdict: the expectation kinds (and call-integrity checks,
``integrity.*``) the fault is about fail, all the others pass. The degenerate agents go further:
the ``mute`` agent runs the whole suite and may pass only what a silent agent legitimately
satisfies; ``lead_silence_ms`` shifts what the caller hears and nothing else. The fault runs go
concurrently, one ``harness.api.run_async`` per fault, so the file takes minutes.
"""

from __future__ import annotations

import statistics
from collections import Counter
from pathlib import Path

import pytest
from fault_table import (
    LONG_NOISE,
    SILENT_AGENT_MAY_PASS,
    failed_beyond_load,
    failures,
    run_faults,
    shares,
    table,
)

from harness import api
from harness.report import RunOutcome

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"

# With 3 s more before every response, voice-to-voice latency and dead air are far beyond the
# suite's limits (3 s at most), and no turn waits long enough to time out.
ADDED_LATENCY = "added_latency_ms=3000"

MUTATIONS: dict[str, dict[str, set[str]]] = {
    "no_preamble": {
        "order-status": {"preamble"},
        "cancel-confirmed": {"preamble"},
        "update-email-spelled": {"preamble"},
        "human-request": {"preamble"},
        "cut-off-order-id": {"preamble"},
        "dropped-line": {"preamble"},
    },
    "misread_digit": {
        "order-status": {"entity_confirmed"},
        "digit-correction": {"entity_confirmed"},
        "spelled-id-with-dash": {"entity_confirmed"},
        # The confirmation question names the misread ID; entity_confirmed grades the value.
        "cancel-confirmed": {"entity_confirmed"},
    },
    "skip_confirmation": {
        "cancel-confirmed": {"confirmation_before_write"},
        "cancel-declined": {"no_tool_call", "transcript"},
        # The email's read-back is part of the confirmation question.
        "update-email-spelled": {"confirmation_before_write", "entity_confirmed"},
    },
    ADDED_LATENCY: {
        "order-status": {"latency"},
        "spelled-id-with-dash": {"latency"},
        "cancel-confirmed": {"dead_air"},
    },
    "never_escalate": {
        # No escalation call, so no preamble before one: that fails too, saying why.
        "human-request": {"escalation", "preamble"},
        "frustrated-escalation": {"escalation"},
    },
    # hold-music's stretches come 700 ms apart: a loaded machine's answer to one was cancelled
    # by the next before a word played (a CI run), so the row runs on LONG_NOISE's scenario
    "talk_over_noise": {
        **LONG_NOISE["talk_over_noise"],
        "long-silence": {"no_response"},
    },
    "ignore_barge_in": {
        "barge-in": {"barge_in"},
    },
    "tool_on_partial_id": {
        "cut-off-order-id": {"preamble", "entity_confirmed", "transcript"},
    },
    "false_success": {
        "cancel-fails": {"claims_backed"},
    },
    "retry_loop": {
        # Four calls where the caller agreed to two.
        "lookup-fails-twice": {"tool_failure_recovery", "tool_called"},
    },
    "pretend_action": {
        "cancel-unavailable": {"tools_honest"},
    },
    "two_questions": {
        "email-step-by-step": {"one_question"},
    },
    "filler_on_noise": {
        "caller-steps-away": {"no_filler_on_noise"},
    },
    "wrong_language": {
        "spanish-greeting": {"language"},
    },
    "malformed_event": {
        "order-status": {"integrity.malformed_frame"},
    },
    "error_event": {
        "order-status": {"integrity.server_error"},
        "cancel-declined": {"integrity.server_error"},
    },
    "invent_tool": {
        "order-status": {"integrity.undeclared_tool"},
        "cancel-confirmed": {"integrity.undeclared_tool"},
    },
    "silent_audio": {
        # Transcripts and tool calls are intact; what the caller hears is not.
        "order-status": {"latency", "turn_answered", "speech_matches_transcript"},
        "barge-in": {"barge_in", "turn_answered"},
    },
}
"""fault → scenario → the expectation kinds that must fail; every other expectation passes."""

RUNS_AT_ONCE = 2
"""Fault runs at a time, each two calls at a time: 4 calls at once. With 8 (four runs of two) the
recogniser fell behind on two cores ('Yes, that's right.' transcribed 2.9 s after the caller
stopped) and cancel-confirmed went past its dead-air limit under four different faults; with 4,
before the recogniser's window fitted the turn, order-status without its preamble (the tool's
800 ms before the tool turn's first audio) measured a voice-to-voice p50 of 2,012 ms against its
2,000 ms limit. One call a run (2 at once) kept the machine at a load of 0.5 with the window."""
CALLS_PER_RUN = 2


@pytest.mark.shared_calls
@pytest.mark.calls(6)  # four calls at once, one light test at most beside them
def test_the_example_suite_passes_against_the_fault_free_agent(example_suite_run) -> None:
    outcome = example_suite_run
    names = {p.stem for p in SCENARIOS.glob("[!_]*.yaml")}
    assert {t.scenario for t in outcome.trials} == names
    assert outcome.exit_code == api.EXIT_OK, "\n".join(failures(outcome))
    assert all(v.status == "pass" for t in outcome.trials for v in t.verdicts)
    assert (outcome.run_dir / "index.html").is_file() and outcome.junit_xml.is_file()


SHARES = shares(MUTATIONS, 2)
"""The table in two shares, run at once in two worker processes (four calls at a time in
each)."""


class _Share:
    share: int

    @pytest.mark.calls(6)  # four calls at once, their latencies graded
    def test_each_fault_of_the_share_fails_exactly_the_matching_expectations(
            self, tmp_path: Path) -> None:
        results = run_faults(SCENARIOS, SHARES[self.share], tmp_path,
                             runs_at_once=RUNS_AT_ONCE, calls_per_run=CALLS_PER_RUN)
        print("\nfault × expectation kind (failed/graded)\n" + table(results))
        for fault, outcome in results.items():
            errored = [f for f in failures(outcome) if "errored" in f]
            assert errored == [], f"{fault}: {errored}"
            failed = failed_beyond_load(outcome, MUTATIONS[fault])
            report = f"{fault}:\n" + "\n".join(failures(outcome))
            assert failed == MUTATIONS[fault], report


class TestFirstShare(_Share):
    share = 0


class TestSecondShare(_Share):
    share = 1


@pytest.mark.calls(8)
def test_a_mute_agent_fails_every_trial_and_passes_nothing_it_had_to_do(tmp_path: Path) -> None:
    # A mute agent never speaks: its calls wait out turn timeouts and cost little CPU, so they
    # all run at once; every verdict it must fail fails however late the recogniser hears the
    # caller.
    calls = len(list(SCENARIOS.glob("[!_]*.yaml")))
    outcome = api.run([SCENARIOS], faults=["mute"], out_dir=tmp_path, concurrency=calls)
    by_kind: dict[str, Counter[str]] = {}
    for t in outcome.trials:
        for v in t.verdicts:
            by_kind.setdefault(v.kind, Counter())[v.status] += 1
    print("\nmute: verdicts by kind\n" + "\n".join(
        f"{kind:28} " + ", ".join(f"{n} {s}" for s, n in sorted(c.items()))
        for kind, c in sorted(by_kind.items())))
    assert {t.outcome for t in outcome.trials} == {"failed"}, "\n".join(failures(outcome))
    assert outcome.exit_code == api.EXIT_FAILED
    acted = [f"{t.scenario}: {v.kind} {v.params}" for t in outcome.trials for v in t.verdicts
             if v.status == "pass" and not SILENT_AGENT_MAY_PASS.get(v.kind, lambda p: False)(
                 v.params)]
    assert acted == []
    # Scenarios longer than the agent's silence allows end at their time limit and say so.
    assert any(v.kind == "integrity.time_limit" for t in outcome.trials for v in t.verdicts)


LEAD_SILENCE_MS = 400


@pytest.mark.solo  # the first audio of two runs, compared to within 100 ms
def test_lead_silence_delays_what_the_caller_hears_not_the_first_audio(tmp_path: Path) -> None:
    scenario = SCENARIOS / "order-status.yaml"

    # one after the other: run at once, the two calls' turns ended together and the recogniser
    # heard one of them first, its first audio 356 and 622 ms before the other's on two turns
    # (a median of 190 ms against 100)
    clean = api.run([scenario], out_dir=tmp_path / "clean")
    lead = api.run([scenario], faults=[f"lead_silence_ms={LEAD_SILENCE_MS}"],
                   out_dir=tmp_path / "lead")

    def per_turn(outcome: RunOutcome) -> dict[int, dict[str, float]]:
        [trial] = outcome.trials
        [latency] = [v for v in trial.verdicts if v.kind == "latency"]
        return {row["turn"]: row for row in latency.measured["per_turn"]}

    a, b = per_turn(clean), per_turn(lead)
    turns = sorted(set(a) & set(b))
    assert len(turns) >= 3, (a, b)
    # Audible onset − first delta is the leading silence of the reply's audio: it grows by N.
    hold = {t: (b[t]["voice_to_voice_ms"] - b[t]["first_audio_ms"])
            - (a[t]["voice_to_voice_ms"] - a[t]["first_audio_ms"]) for t in turns}
    print(f"\nlead_silence_ms={LEAD_SILENCE_MS}: added to voice-to-voice per turn {hold}")
    assert all(abs(d - LEAD_SILENCE_MS) <= 5 for d in hold.values()), hold
    # The first audio delta is not held back: it arrives as early as without the fault.
    first = [b[t]["first_audio_ms"] - a[t]["first_audio_ms"] for t in turns]
    assert statistics.median(first) < LEAD_SILENCE_MS / 4, first
    # Voice-to-voice of the faulty run minus the clean one is exactly hold + first: the two
    # checks above bound it; compared directly it would only add the two runs' ASR timing noise.
