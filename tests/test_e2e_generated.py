"""End to end on calls nobody tuned for: generated variants of example scenarios (``harness vary``,
a fixed seed: new order numbers and emails, other voices and rates, other noise beds, moved
pauses) against the local agent. The fault-free agent passes them, and each fault of the fault
table still fails exactly its own expectation kinds on them, so the suite's fault table is not a
property of the suite's own words alone.

``bench/generated.py`` measures the same on hundreds of generated calls over three domains; this
test keeps a fixed sample of them in CI.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fault_table import failed_beyond_load, failures, run_faults_async
from test_e2e_suite import MUTATIONS

from harness import api
from harness.scenario.vary import write_variants

# two generated calls at once, then the fault runs two at a time; latency and dead air graded
pytestmark = [pytest.mark.slow, pytest.mark.calls(8)]

ROOT = Path(__file__).resolve().parents[1]
SEED = 1
"""The sample's seed (``harness vary --seed 1 -n 1``)."""

SAMPLE = ("order-status", "cancel-confirmed", "human-request", "caller-steps-away")
"""Source scenarios of the sample: a lookup, a write confirmed first, an escalation, talk not
meant for the agent."""

FAULTS = ("no_preamble", "skip_confirmation", "never_escalate", "filler_on_noise")
"""Faults of the fault table run on the sample, each on the sample's scenarios it is about."""


def _variant(source: str) -> str:
    return f"{source}-s{SEED}-01"


def test_generated_calls_pass_and_each_fault_still_fails_its_own_kinds(tmp_path: Path) -> None:
    files = write_variants([ROOT / "scenarios" / f"{s}.yaml" for s in SAMPLE],
                           tmp_path / "scenarios", n=1, seed=SEED)
    assert [f.stem for f in files] == [_variant(s) for s in SAMPLE]
    mutations = {fault: {_variant(s): expected for s, expected in MUTATIONS[fault].items()
                         if s in SAMPLE} for fault in FAULTS}
    assert all(mutations.values())  # every fault has a scenario of the sample

    # two calls at once: with four, a generated order-status turn took 3,334 ms (its limit 3 s)
    clean = api.run(files, concurrency=2, out_dir=tmp_path / "clean")
    assert clean.exit_code == api.EXIT_OK, "\n".join(failures(clean))
    faulted = asyncio.run(run_faults_async(tmp_path / "scenarios", mutations,
                                           tmp_path / "faults", runs_at_once=2,
                                           calls_per_run=1))
    for fault, outcome in faulted.items():
        failed = failed_beyond_load(outcome, mutations[fault])
        assert failed == mutations[fault], f"{fault}:\n" + "\n".join(failures(outcome))
