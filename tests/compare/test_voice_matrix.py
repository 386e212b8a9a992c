"""The robustness matrix: ``harness run --voices`` runs the suite once per caller voice as a
comparison whose variants differ only in who calls; its options checked before any call, and
(slow) two Kokoro voices on two example scenarios against the local agent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.compare._spec import load_comparison, parse_variant_options, voice_variants
from harness.errors import InputError, InputErrors
from harness.stats import wilson

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(sys.executable).with_name("harness")


def _run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(HARNESS), "run", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_each_voice_is_a_variant_that_changes_only_the_caller():
    variants = voice_variants(["af_heart,espeak:en-gb+f3", "bm_george"], faults=["no_preamble"])
    assert list(variants) == ["af_heart", "en-gb-f3", "bm_george"]
    assert [(v.caller.engine_name, v.caller.voice) for v in variants.values()] == [
        ("kokoro", "af_heart"), ("espeak", "en-gb+f3"), ("kokoro", "bm_george")]
    assert [v.caller.model_fields_set for v in variants.values()] == [
        {"voice"}, {"engine", "voice"}, {"voice"}]
    assert all(v.faults == ["no_preamble"] and v.agent is None for v in variants.values())
    assert parse_variant_options([], ["b.caller={voice: bf_emma}"])["b"].caller.voice == "bf_emma"


@pytest.mark.parametrize(("voices", "message"), [
    ("af_heart", "at least two caller voices"),
    ("af_heart,bm_nobody", "unknown voice 'bm_nobody'"),
    ("af_heart,af_heart", "given twice"),
    ("af_heart,klingon:qapla", "ENGINE:VOICE"),
])
def test_bad_voices_are_refused(voices, message):
    with pytest.raises(InputError, match=message) as info:
        voice_variants([voices])
    assert info.value.field == "--voices"


def test_the_command_refuses_before_any_call(tmp_path):
    proc = _run("scenarios/order-status.yaml", "--voices", "af_heart,bm_nobody",
                "-o", str(tmp_path))
    assert proc.returncode == 2 and "--voices: unknown voice 'bm_nobody'" in proc.stderr
    proc = _run("scenarios/order-status.yaml", "--voices", "af_heart,bm_george",
                "--store", str(tmp_path / "h.db"), "-o", str(tmp_path))
    assert proc.returncode == 2 and "--store cannot be combined with --voices" in proc.stderr
    proc = _run("scenarios/order-status.yaml", "--voices", "af_heart,bm_george",
                "--executor", "ray", "-o", str(tmp_path))
    assert proc.returncode == 2 and "--executor cannot be combined with --voices" in proc.stderr
    assert not list(tmp_path.iterdir())


def test_a_comparison_file_variant_caller_is_located(tmp_path):
    path = tmp_path / "cmp.yaml"
    path.write_text("variants:\n  a: {}\n  b:\n    caller: {voice: bm_nobody}\n")
    with pytest.raises(InputErrors) as info:
        load_comparison(path)
    assert f"{path}:4:21: variants.b.caller.voice: unknown voice 'bm_nobody'" in str(info.value)


@pytest.mark.slow
@pytest.mark.calls(4)
def test_two_voices_on_two_scenarios_show_pass_rate_and_latency_per_voice(tmp_path):
    proc = _run("scenarios/human-request.yaml", "scenarios/cancel-declined.yaml",
                "--voices", "af_heart,bm_george", "--concurrency", "4", "-o", str(tmp_path),
                timeout=240)
    run_dir = next(tmp_path.rglob("run.json")).parent
    metas = {p.parent: json.loads(p.read_text()) for p in run_dir.rglob("meta.json")}
    assert sorted((m["scenario"], m["variant"], m["caller_voice"]["voice"])
                  for m in metas.values()) == [
        ("cancel-declined", "af_heart", "af_heart"), ("cancel-declined", "bm_george", "bm_george"),
        ("human-request", "af_heart", "af_heart"), ("human-request", "bm_george", "bm_george")]
    passed = {"af_heart": 0, "bm_george": 0}
    for folder, meta in metas.items():
        verdicts = json.loads((folder / "verdicts.json").read_text())["verdicts"]
        assert meta["status"] == "completed" and verdicts
        passed[meta["variant"]] += all(v["status"] == "pass" for v in verdicts)
    # 1 when some call failed (the agent's doing), as harness run exits
    assert proc.returncode == (0 if sum(passed.values()) == 4 else 1), proc.stdout + proc.stderr
    document, = [json.loads(p.read_text()) for p in tmp_path.rglob("compare.json")]
    variants = {v["name"]: v for v in document["variants"]}
    assert list(variants) == ["af_heart", "bm_george"]
    for name, v in variants.items():
        assert v["caller_voice"] == f"{name} (kokoro)"
        rate = v["figures"]["pass_rate"]
        assert (rate["value"], rate["n"]) == (passed[name] / 2, 2)
        expected = wilson(passed[name], 2).interval
        assert (rate["interval"]["low"], rate["interval"]["high"]) == (expected.low, expected.high)
        v2v = v["figures"]["voice_to_voice_ms"]
        assert v2v["n"] == 2 and 100 < v2v["value"] < 10_000
        shown = f"{passed[name] / 2:.0%} ({expected.low:.0%}–{expected.high:.0%}, n=2)"
        assert shown in proc.stdout
    assert "bm_george (kokoro)" in (run_dir / "compare.html").read_text()
