"""Variants that differ only in transport: a variant's ``target`` (a comparison file's or
``--set NAME.target=…``), checked where it is written, and a live comparison of the same agent
config over a WebSocket and over WebRTC whose report shows each variant's transport."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.compare import load_comparison
from harness.compare._spec import parse_variant_options
from harness.errors import InputError, InputErrors

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(sys.executable).with_name("harness")


def test_the_example_comparison_differs_only_in_target():
    spec = load_comparison(ROOT / "comparisons" / "transport.yaml")
    assert {n: v.target for n, v in spec.variants.items()} == {"websocket": "local",
                                                               "webrtc": "local-webrtc"}
    fields = [{k: v for k, v in variant.model_dump().items() if k != "target"}
              for variant in spec.variants.values()]
    assert fields[0] == fields[1]


def test_a_variant_target_is_checked_where_it_is_written(tmp_path):
    path = tmp_path / "cmp.yaml"
    path.write_text("variants:\n  a: {}\n  b:\n    target: carrier-pigeon\n", encoding="utf-8")
    with pytest.raises(InputErrors) as info:
        load_comparison(path)
    text = str(info.value)
    assert f"{path}:4:" in text and "variants.b.target" in text and "unknown target" in text
    assert parse_variant_options([], ["b.target=local-webrtc"])["b"].target == "local-webrtc"
    with pytest.raises(InputError, match="unknown target"):
        parse_variant_options([], ["b.target=ftp://x"])


@pytest.mark.slow
@pytest.mark.calls(3)  # a WebSocket call and a WebRTC call, which costs about two
def test_websocket_against_webrtc_shows_each_transport(tmp_path):
    proc = subprocess.run(
        [str(HARNESS), "compare", str(ROOT / "scenarios" / "order-status.yaml"),
         "--base", str(ROOT / "agents" / "support.yaml"), "--set", "websocket.target=local",
         "--set", "webrtc.target=local-webrtc", "--trials", "1", "-o", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    document, = [json.loads(p.read_text()) for p in tmp_path.rglob("compare.json")]
    shown = {v["name"]: (v["transport"], v["target"]) for v in document["variants"]}
    assert shown == {"websocket": ("websocket", "local:gpt-realtime"),
                     "webrtc": ("webrtc", "local-webrtc:gpt-realtime")}
    html, = [p.read_text() for p in tmp_path.rglob("compare.html")]
    assert '<td class="transport">webrtc <span class="muted">(local-webrtc:gpt-realtime)' in html
    run = json.loads(next(tmp_path.rglob("run.json")).read_text())
    assert {t["variant"]: t["status"] for t in run["trials"]} == {"websocket": "completed",
                                                                  "webrtc": "completed"}


class _Stopped(Exception):
    """Raised by the stand-in runner once it has its arguments."""


@pytest.mark.parametrize(("name", "over_sip"), [("sip.yaml", True), ("transport.yaml", False)])
def test_a_comparison_with_a_sip_variant_hears_the_agents_words(tmp_path, monkeypatch, name,
                                                                 over_sip):
    """A SIP call carries no transcript: its variant's calls need the recogniser for the agent's
    words (``when_agent_says`` turns and the read-back checks), as a run over SIP has."""
    import harness.runner as runner
    from harness.compare import run_comparison

    given: dict = {}

    async def stand_in(scenarios, **kwargs):
        given.update(kwargs)
        raise _Stopped

    monkeypatch.setattr(runner, "run_suite", stand_in)
    with pytest.raises(_Stopped):
        run_comparison(load_comparison(ROOT / "comparisons" / name), out_dir=tmp_path)
    options = given["options"]
    assert (options is not None and options.transcribe is not None) is over_sip
