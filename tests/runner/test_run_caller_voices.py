"""Who calls, per trial: a caller's rotation of voices and a variant's caller voice, rendered,
recorded in meta.json, and shown in the run report and the comparison."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import numpy as np
from scripted import Behaviour, ScriptedServer, scenario

from harness import api
from harness.compare import compare_runs
from harness.recording import Recording
from harness.runner import run_suite
from harness.runner import suite as suite_module
from harness.scenario.models import CallerVoice


def test_rotation_and_variant_callers_are_rendered_recorded_and_reported(tmp_path: Path,
                                                                         monkeypatch) -> None:
    rendered: dict[str, np.ndarray] = {}
    real_render = suite_module.render_script

    async def render(spoken):
        script = await real_render(spoken)
        rendered[spoken.caller.voice] = script.turns[0].samples
        return script

    monkeypatch.setattr(suite_module, "render_script", render)
    sc = scenario([{"say": "Hello there."}], name="rotating",
                  caller={"voices": ["en-us", "en-gb"]})
    config = sc.agent_config
    variants = {"usual": config, "scot": config}

    async def go():
        async with ScriptedServer(Behaviour(reply_ms=300)) as srv:
            return await run_suite([sc], out_dir=tmp_path, target=srv.url, trials=3,
                                   concurrency=6, variants=variants,
                                   variant_callers={"scot": CallerVoice(voice="en-gb-scotland")})

    run = asyncio.run(go())
    assert [t.status for t in run.trials] == ["completed"] * 6
    spoken = {(t.variant, t.trial): Recording.load(tmp_path / t.path).meta.caller_voice["voice"]
              for t in run.trials}
    assert spoken == {("usual", 0): "en-us", ("usual", 1): "en-gb", ("usual", 2): "en-us",
                      ("scot", 0): "en-gb-scotland", ("scot", 1): "en-gb-scotland",
                      ("scot", 2): "en-gb-scotland"}
    # each voice rendered once, and they are different audio
    assert sorted(rendered) == ["en-gb", "en-gb-scotland", "en-us"]
    assert not np.array_equal(rendered["en-us"][:2000], rendered["en-gb"][:2000])
    # the trials keep the scenario they were written as (one hash for every voice)
    hashes = {Recording.load(tmp_path / t.path).meta.scenario_hash for t in run.trials}
    assert len(hashes) == 1

    api.report(tmp_path)
    index = (tmp_path / "index.html").read_text()
    assert "<th>caller voice</th>" in index and "en-gb-scotland (espeak)" in index
    page = next((tmp_path / "pages").glob("*scot*1*.html")).read_text()
    assert "caller voice en-gb-scotland (espeak)" in page

    outcome = compare_runs([str(tmp_path)])
    doc = json.loads(outcome.compare_json.read_text())
    by_name = {v["name"]: v for v in doc["variants"]}
    assert by_name["usual"]["caller_voice"] == "en-gb (espeak), en-us (espeak)"
    assert by_name["scot"]["caller_voice"] == "en-gb-scotland (espeak)"
    rate = by_name["scot"]["figures"]["pass_rate"]
    assert rate["n"] == 3 and rate["interval"]["low"] <= rate["value"] <= rate["interval"]["high"]
    html = outcome.compare_html.read_text()
    assert "en-gb-scotland (espeak)" in html and "n=3)" in html
