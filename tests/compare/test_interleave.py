"""The runner's comparison options against a scripted loopback server: trials start interleaved
across variants, their order rotated from one (scenario, trial) block to the next and recorded,
and faults per variant are refused for a target that is not local."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))

from scripted import Behaviour, FakeScript, ScriptedServer, scenario  # noqa: E402

from harness.errors import InputError  # noqa: E402
from harness.runner import ProgressEvent, run_suite  # noqa: E402
from harness.runner import suite as suite_module  # noqa: E402


def test_trials_start_interleaved_across_variants(tmp_path: Path, monkeypatch) -> None:
    async def render(sc):
        return FakeScript(sc, speech_ms=200)

    monkeypatch.setattr(suite_module, "render_script", render)
    a = scenario([{"say": "hello"}], name="alpha")
    b = scenario([{"say": "hello"}], name="beta")
    base = a.agent_config
    variants = {"A": base, "B": base.model_copy(update={"voice": "cedar"})}
    events: list[ProgressEvent] = []

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=200)) as srv:
            return await run_suite([a, b], out_dir=tmp_path, target=srv.url, trials=3,
                                   concurrency=1, variants=variants, interleave=True,
                                   on_progress=events.append)

    run = asyncio.run(go())
    started = [(e.scenario, e.variant, e.trial) for e in events if e.kind == "trial_started"]
    # blocks 0..5 (alpha 0-2, beta 0-2) rotate the variants: A B, B A, A B, B A, A B, B A
    assert started == [("alpha", "A", 0), ("alpha", "B", 0), ("alpha", "B", 1),
                       ("alpha", "A", 1), ("alpha", "A", 2), ("alpha", "B", 2),
                       ("beta", "B", 0), ("beta", "A", 0), ("beta", "A", 1),
                       ("beta", "B", 1), ("beta", "B", 2), ("beta", "A", 2)]
    recorded = json.loads((tmp_path / "order.json").read_text())["blocks"]
    assert [(b["scenario"], b["trial"], b["order"]) for b in recorded] == [
        (sc, k, list(order)) for (sc, _, k), order in zip(
            started[::2], ["AB", "BA", "AB", "BA", "AB", "BA"], strict=True)]
    # run.json keeps its usual order
    assert [t.path for t in run.trials[:3]] == ["alpha/A/trial-0", "alpha/A/trial-1",
                                                "alpha/A/trial-2"]
    assert all(t.status == "completed" for t in run.trials)


def test_faults_of_a_variant_need_the_local_agent(tmp_path: Path) -> None:
    sc = scenario([{"say": "hello"}], name="alpha")
    with pytest.raises(InputError, match="local agent"):
        asyncio.run(run_suite([sc], out_dir=tmp_path, target="ws://127.0.0.1:9/v1",
                              variants={"A": sc.agent_config},
                              variant_faults={"A": ["no_preamble"]}))


def test_every_variant_and_trial_hears_the_same_rendered_caller_audio(tmp_path: Path,
                                                                       monkeypatch) -> None:
    import numpy as np
    import soundfile as sf

    renders: list[str] = []

    async def render(sc):
        # every render of a scenario differs (random speech), so equal caller audio in two
        # trials means one render served both
        script = FakeScript(sc, speech_ms=300)
        rng = np.random.default_rng(len(renders) + 1)
        for turn in script.turns:
            if turn.speech_onset_sample is not None:
                span = slice(turn.speech_onset_sample, turn.speech_end_sample + 1)
                turn.samples[span] = rng.integers(-8000, 8000, span.stop - span.start)
        renders.append(sc.name)
        return script

    monkeypatch.setattr(suite_module, "render_script", render)
    sc = scenario([{"say": "hello"}], name="alpha")
    variants = {"A": sc.agent_config, "B": sc.agent_config.model_copy(update={"voice": "cedar"})}

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=200)) as srv:
            return await run_suite([sc], out_dir=tmp_path, target=srv.url, trials=2,
                                   concurrency=2, variants=variants, interleave=True)

    run = asyncio.run(go())
    assert all(t.status == "completed" for t in run.trials)
    assert renders == ["alpha"]

    def speech(path: str) -> np.ndarray:
        samples, _ = sf.read(tmp_path / path / "caller.wav", dtype="int16")
        return samples[np.abs(samples) > 0]

    heard = {t.path: speech(t.path) for t in run.trials}
    assert len(heard) == 4
    first = heard["alpha/A/trial-0"]
    assert first.size > 4000
    for path, samples in heard.items():
        assert np.array_equal(samples, first), path


def test_three_variants_start_first_equally_often() -> None:
    names = [scenario([{"say": "hello"}], name=f"s{i}") for i in range(2)]
    positions, blocks = suite_module.interleaved_order(names, ["A", "B", "C"], 3)
    assert len(blocks) == 6 and sorted(positions) == list(range(18))
    for place in range(3):
        assert sorted(b["order"][place] for b in blocks) == ["A", "A", "B", "B", "C", "C"]
