"""Re-scoring a stored run of the example suite gives the verdicts the harness gave when it ran.

The archive (made by ``tests/fixtures/stored-run/stored_run.py``) holds real recordings of the
example suite against the local agent, clean and with faults, with the ``verdicts.json`` written
at run time. Scoring them again with this code must reach the same verdict on every expectation,
resting on the same evidence (the same moments and ``events.jsonl`` lines): a change to how
recordings are read or the timeline is built cannot move a verdict unnoticed. Wording and the
names of measured figures are left free. After a deliberate change of what a scorer decides,
``stored_run.py rescore`` records the new verdicts.
"""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from harness.recording import Recording
from harness.scoring import score
from harness.scoring._score import SKIPPED_FRAME_TYPES

SCRIPT = Path(__file__).resolve().parents[1] / "fixtures" / "stored-run" / "stored_run.py"


def _stored_run_module():
    spec = importlib.util.spec_from_file_location("stored_run", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def trials(tmp_path_factory) -> list[Path]:
    return _stored_run_module().extract(tmp_path_factory.mktemp("stored-run"))


def test_the_stored_run_covers_the_example_suite_clean_and_with_faults(trials):
    runs = Counter(t.parents[1].name for t in trials)
    assert set(runs) == {"clean", "faults"} and min(runs.values()) >= 10
    statuses = Counter(v["status"] for t in trials
                       for v in json.loads((t / "verdicts.json").read_text())["verdicts"])
    # passes and failures both: a re-scoring that flipped either would show
    assert statuses["pass"] > 20 and statuses["fail"] > 10


def _verdict(v: dict[str, Any]) -> tuple[Any, ...]:
    moments = [(e["t_ms"], e["end_ms"], e["turn_index"], e["event_seq"]) for e in v["evidence"]]
    return v["kind"], v["status"], moments


def test_rescoring_every_recording_gives_the_verdicts_of_the_run(trials):
    changed = []
    for trial in trials:
        stored = json.loads((trial / "verdicts.json").read_text())["verdicts"]
        rescored = score(Recording.load(trial, skip_types=SKIPPED_FRAME_TYPES))
        for before, after in zip(stored, rescored, strict=True):
            now = after.model_dump(mode="json")
            if _verdict(before) != _verdict(now):
                changed.append(f"{trial.parents[1].name}/{trial.parent.name} {before['kind']}: "
                               f"{before['status']} -> {now['status']} ({now['summary']})")
    assert changed == []
