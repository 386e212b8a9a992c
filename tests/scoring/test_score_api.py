"""score / score_trial / score_run, the registry, errors as verdicts, determinism."""

from __future__ import annotations

import json

import pytest

from harness.errors import InputError
from harness.recording import VERDICTS_FILE, Recording
from harness.scenario.kinds import expectation_kinds
from harness.scoring import (
    _registry,
    expectation_reference_markdown,
    load_verdicts,
    registry,
    score,
    score_run,
    score_trial,
)
from tests.scoring.calls import EXPECT, FAULT_FAILS, FAULTS, order_call


def test_registry_covers_every_expectation_kind():
    reg = registry()
    kinds = expectation_kinds()
    assert set(reg) == set(kinds)
    for kind, info in reg.items():
        assert info.params_model is kinds[kind].params_model
        assert info.description and "\n" not in info.description


def test_expectation_reference_lists_every_kind_and_parameter():
    md = expectation_reference_markdown()
    for kind, entry in expectation_kinds().items():
        assert f"| `{kind}` |" in md
        for name in entry.params_model.model_fields:
            assert f"`{name}`" in md


def test_defaults_come_from_the_recording_meta():
    rec = order_call().recording()
    verdicts = score(rec)
    assert [v.kind for v in verdicts] == [next(iter(e)) for e in EXPECT]
    assert all(v.status == "pass" for v in verdicts), [v.summary for v in verdicts]
    assert verdicts[0].params["max_ms"] == 1500 and verdicts[0].params["turns"] == "plain"


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_fails_exactly_its_own_expectation(fault):
    verdicts = score(order_call(fault).recording())
    failing = [v.kind for v in verdicts if v.status != "pass"]
    assert failing == [FAULT_FAILS[fault]], [(v.kind, v.summary) for v in verdicts]


def test_a_broken_scorer_becomes_an_error_verdict(monkeypatch):
    info = registry()["dead_air"]

    def broken(ctx, params):
        raise RuntimeError("boom")

    monkeypatch.setitem(_registry._REGISTRY, "dead_air",
                        _registry.ScorerInfo(info.kind, info.description, info.params_model,
                                             broken))
    verdicts = score(order_call().recording(), [{"dead_air": {"max_ms": 10}},
                                                {"turn_answered": {}}])
    assert verdicts[0].status == "error" and "RuntimeError: boom" in verdicts[0].summary
    assert verdicts[1].status == "pass"


def test_invalid_expectation_becomes_an_error_verdict():
    verdicts = score(order_call().recording(), [{"latency": {}}, {"nonsense": {}}])
    assert [v.status for v in verdicts] == ["error", "error"]
    assert "max_ms" in verdicts[0].summary and "nonsense" in verdicts[1].summary


def test_scoring_is_deterministic_twice_and_after_a_reload(tmp_path):
    b = order_call("misread_digit")
    first = [v.model_dump(mode="json") for v in score(b.recording())]
    second = [v.model_dump(mode="json") for v in score(b.recording())]
    loaded = Recording.load(b.write(tmp_path / "trial").path)
    third = [v.model_dump(mode="json") for v in score(loaded)]
    assert first == second == third


def test_score_trial_and_score_run_write_verdicts(tmp_path):
    run = tmp_path / "run"
    order_call().write(run / "ok" / "trial-0")
    order_call("never_escalate").write(run / "bad" / "trial-0")
    (run / "run.json").write_text(json.dumps({"schema_version": 1, "trials": [
        {"path": "ok/trial-0", "status": "completed"},
        {"path": "bad/trial-0", "status": "completed"},
        {"path": "gone/trial-0", "status": "errored"}]}))
    results = score_run(run)
    assert set(results) == {"ok/trial-0", "bad/trial-0"}
    bad = load_verdicts(run / "bad" / "trial-0")
    assert [v.kind for v in bad if v.status == "fail"] == ["escalation"]
    doc = json.loads((run / "ok" / "trial-0" / VERDICTS_FILE).read_text())
    assert doc["schema_version"] == 1 and len(doc["verdicts"]) == len(EXPECT)
    # Re-scoring rewrites the same verdicts.
    before = (run / "ok" / "trial-0" / VERDICTS_FILE).read_text()
    assert [v.model_dump() for v in score_trial(run / "ok" / "trial-0")] == \
        [v.model_dump() for v in load_verdicts(run / "ok" / "trial-0")]
    assert (run / "ok" / "trial-0" / VERDICTS_FILE).read_text() == before


def test_score_run_on_a_folder_without_run_json(tmp_path):
    with pytest.raises(InputError, match="no run.json"):
        score_run(tmp_path)


def test_incomplete_recording_scores_without_crashing(tmp_path):
    b = order_call()
    rec = b.write(tmp_path / "t", ended=False)
    lines = (tmp_path / "t" / "events.jsonl").read_text().splitlines()
    # Cut the call in the middle and tear the last line, as a killed run leaves it.
    (tmp_path / "t" / "events.jsonl").write_text("\n".join(lines[: len(lines) // 2])
                                                 + "\n" + lines[len(lines) // 2][:30])
    rec = Recording.load(tmp_path / "t")
    verdicts = score(rec)
    assert len(verdicts) == len(EXPECT)
    assert not any(v.status == "error" for v in verdicts), [v.summary for v in verdicts]


def test_score_trial_skips_caller_audio_frames_without_changing_verdicts(tmp_path):
    b = order_call("talk_over_noise")
    for k in range(200):
        b.add(70.0 + 20.0 * k, "sent", "input_audio_buffer.append",
              {"audio": {"audio_ref": {"track": "caller", "start_sample": 480 * k,
                                       "samples": 480, "sample_rate": 24000}}})
    full = b.write(tmp_path / "t")
    lean = Recording.load(tmp_path / "t", skip_types=("input_audio_buffer.append",))
    assert len(lean.frames) == len(full.frames) - 200
    assert [f.seq for f in lean.frames] == [f.seq for f in full.frames
                                            if f.type != "input_audio_buffer.append"]
    expected = [v.model_dump() for v in score(full)]
    assert [v.model_dump() for v in score_trial(tmp_path / "t")] == expected


def test_score_run_in_worker_processes_matches_scoring_in_process(tmp_path):
    run = tmp_path / "run"
    entries = []
    for i, fault in enumerate([None, "misread_digit", "talk_over_noise", "never_escalate"]):
        rel = f"{fault or 'clean'}/trial-{i}"
        order_call(fault).write(run / rel)
        entries.append({"path": rel, "status": "completed"})
    (run / "run.json").write_text(json.dumps({"schema_version": 1, "trials": entries}))
    alone = {k: [v.model_dump() for v in vs] for k, vs in score_run(run, workers=1).items()}
    pooled = {k: [v.model_dump() for v in vs] for k, vs in score_run(run, workers=2).items()}
    assert pooled == alone and list(pooled) == [e["path"] for e in entries]
