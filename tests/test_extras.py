"""Optional parts of the install: a command that needs a missing extra names it (one line, exit 2)
before it starts a call; re-scoring without the recogniser is an error, never a verdict.

"Missing" is simulated by hiding the extra's modules from ``importlib.util.find_spec``; the
package test (tests/test_package.py) checks the same messages on a real core-only install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from harness import api, extras
from harness.cli import main
from harness.errors import InputError
from harness.scenario import load_scenario
from harness.scoring import require_extras, score
from harness.store import open_store
from tests.scoring.builder import CallBuilder

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def without(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``without("faster_whisper", ...)``: those modules cannot be found from here on."""
    real = importlib.util.find_spec

    def hide(*modules: str) -> None:
        def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
            return None if name in modules else real(name, *args, **kwargs)

        monkeypatch.setattr(importlib.util, "find_spec", find_spec)

    return hide


def _run_stops_naming(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: str,
                      *options: str) -> None:
    """``harness run`` exits 2 with one line naming ``extra``, before any call (no run folder)."""
    with pytest.raises(SystemExit) as exited:
        main(["run", str(REPO / "scenarios" / "order-status.yaml"), *options,
              "-o", str(tmp_path / "out")])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert f"pip install 'realtime-voice-harness[{extra}]'" in err
    assert len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_installed_extras_are_not_reported() -> None:
    for name in ("agent", "asr", "postgres", "ray", "webrtc"):
        assert extras.missing_modules(name) == []
        extras.require(name, "this test")


def test_a_missing_extra_is_named_with_its_install_command(without: Any) -> None:
    without("webrtcvad")
    assert extras.missing_modules("agent") == ["webrtcvad"]
    assert extras.missing_modules("asr") == []
    with pytest.raises(InputError) as raised:
        extras.require("agent", "the local reference agent", field="--target")
    assert raised.value.format() == (
        "--target: the local reference agent needs the 'agent' extra, which is not installed "
        "(no module webrtcvad): pip install 'realtime-voice-harness[agent]'")


def test_the_local_target_needs_the_agent_extra_and_a_url_does_not(without: Any) -> None:
    without("webrtcvad", "faster_whisper")
    with pytest.raises(InputError, match=r"realtime-voice-harness\[agent\]"):
        api.check_target("local")
    api.check_target("ws://127.0.0.1:9/v1/realtime")


def test_harness_run_against_the_local_agent_stops_before_any_call(
        without: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    without("webrtcvad")
    _run_stops_naming(tmp_path, capsys, "agent")


def test_a_webrtc_target_needs_the_webrtc_extra_before_any_call(
        without: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    without("aiortc")
    for spec in ("local-webrtc", "openai-webrtc", "azure-webrtc",
                 "webrtc+https://example.com/v1/realtime/calls"):
        with pytest.raises(InputError, match=r"realtime-voice-harness\[webrtc\]"):
            api.check_target(spec)
    api.check_target("ws://127.0.0.1:9/v1/realtime")
    _run_stops_naming(tmp_path, capsys, "webrtc",
                      "--target", "webrtc+http://127.0.0.1:9/v1/realtime/calls")


def test_a_scenario_expecting_a_kind_whose_scorer_needs_an_extra_is_refused(
        without: Any, tmp_path: Path) -> None:
    listens = tmp_path / "listens.yaml"
    listens.write_text("name: listens\nturns:\n  - say: Hello.\n"
                       "expect:\n  - speech_matches_transcript: {}\n")
    (tmp_path / "plain.yaml").write_text("name: plain\nturns:\n  - say: Hello.\n"
                                         "expect:\n  - turn_answered: {}\n")
    plain = load_scenario(tmp_path / "plain.yaml")
    require_extras([plain, load_scenario(listens)])
    without("faster_whisper")
    require_extras([plain])
    with pytest.raises(InputError) as raised:
        require_extras([plain, load_scenario(listens)])
    message = raised.value.format()
    assert "'speech_matches_transcript'" in message and "listens.yaml" in message
    assert "pip install 'realtime-voice-harness[asr]'" in message
    with pytest.raises(InputError, match=r"\[asr\]"):
        api.load_scenarios([listens])


def test_rescoring_without_the_recogniser_is_an_error_not_a_verdict(without: Any) -> None:
    b = CallBuilder()
    turn = b.caller(1000.0, "Hi.")
    b.respond(b.speech_end(turn) + 500, "Hello.")
    without("faster_whisper")
    [verdict] = score(b.recording(), [{"speech_matches_transcript": {}}])
    assert verdict.status == "error"
    assert "pip install 'realtime-voice-harness[asr]'" in verdict.summary


def test_a_postgresql_store_needs_the_postgres_extra(without: Any) -> None:
    without("psycopg")
    with pytest.raises(InputError, match=r"realtime-voice-harness\[postgres\]"):
        open_store("postgresql+psycopg://harness@127.0.0.1:9/history")
