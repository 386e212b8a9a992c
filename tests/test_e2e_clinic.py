"""End to end on a second domain written in YAML only (``examples/clinic``: a clinic's
appointment line with its own profile, tools and seven-digit patient numbers): its scenarios pass
against the fault-free local agent, and each fault the domain exercises makes exactly the matching
expectations fail, as on the example suite."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fault_table import failed_beyond_load, failures, kinds, run_faults_async, table

from harness import api
from harness.report import RunOutcome

# the clinic hears with `base`, the slowest recogniser: the whole call budget (beside four to
# eight other calls a turn's transcript came after the call had ended)
pytestmark = [pytest.mark.slow, pytest.mark.calls(8), pytest.mark.shared_calls]

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "clinic" / "scenarios"

MUTATIONS: dict[str, dict[str, set[str]]] = {
    "no_preamble": {
        "appointment-check": {"preamble"},
        "book-confirmed": {"preamble"},
        "nurse-request": {"preamble"},
    },
    "misread_digit": {
        "appointment-check": {"entity_confirmed"},
        "digit-correction": {"entity_confirmed"},
        "book-confirmed": {"entity_confirmed"},
    },
    "skip_confirmation": {
        "book-confirmed": {"confirmation_before_write"},
        # booked before the caller could say no
        "book-declined": {"confirmation_before_write", "no_tool_call", "transcript"},
    },
    "never_escalate": {
        # no hand-off call: the preamble before it cannot be graded, which fails
        "nurse-request": {"escalation", "preamble"},
    },
    # on a fixture: hold music, then silence before the caller's yes (see its description)
    "talk_over_noise": {
        "long-hold-music-clinic": {"no_response"},
    },
}
"""fault → scenario file → the expectation kinds that must fail; every other one passes."""

NOT_APPLICABLE: dict[str, dict[str, set[str]]] = {}
RUNS_AT_ONCE = 2
"""Fault runs at a time, after the fault-free run (4 calls): 4 calls at most. The clinic hears
with ``base``: with 8 calls at once a caller's first turn waited 7.7 s for its transcript, and
with 6 a "Yes." was still untranscribed when the call ended 5 s later."""


@pytest.fixture(scope="module")
def clinic_runs(tmp_path_factory: pytest.TempPathFactory, shared_run_calls: int
                ) -> tuple[RunOutcome, dict[str, RunOutcome]]:
    """The fault-free run (as many calls at once as the example suite's shared run: four on
    the reference machine, fewer on a slower one; the ``shared_run_calls`` fixture), then the
    fault runs of the clinic. On two cores of a 2 GHz EPYC, with four at once, ``nurse-request``'s
    one turn was still untranscribed by ``base`` when the call ended 5 s after it."""
    out = tmp_path_factory.mktemp("clinic")

    async def one_after_the_other() -> tuple[RunOutcome, dict[str, RunOutcome]]:
        clean = await api.run_async([SCENARIOS], out_dir=out / "fault-free",
                                    concurrency=shared_run_calls)
        faults = await run_faults_async(SCENARIOS, MUTATIONS, out / "faults",
                                        runs_at_once=RUNS_AT_ONCE)
        return clean, faults

    return asyncio.run(one_after_the_other())


def test_the_clinic_passes_against_the_fault_free_agent(clinic_runs) -> None:
    outcome, _ = clinic_runs
    assert len(outcome.trials) == len(list(SCENARIOS.glob("[!_]*.yaml"))) >= 8
    assert outcome.exit_code == api.EXIT_OK, "\n".join(failures(outcome))
    assert all(v.status == "pass" for t in outcome.trials for v in t.verdicts)


def test_each_fault_fails_exactly_the_matching_expectations_on_the_clinic(clinic_runs) -> None:
    _, results = clinic_runs
    print("\nfault × expectation kind (failed/graded), clinic\n" + table(results))
    for fault, outcome in results.items():
        errored = [f for f in failures(outcome) if "errored" in f]
        assert errored == [], f"{fault}: {errored}"
        # scenario names carry the domain's prefix; the table is keyed by file
        failed = failed_beyond_load(outcome, MUTATIONS[fault], prefix="clinic-")
        not_applicable = {k.removeprefix("clinic-"): v
                          for k, v in kinds(outcome, {"not_applicable"}).items()}
        report = f"{fault}:\n" + "\n".join(failures(outcome))
        assert failed == MUTATIONS[fault], report
        expected_na = NOT_APPLICABLE.get(fault, {})
        assert not_applicable == {s: expected_na.get(s, set()) for s in MUTATIONS[fault]}, report
