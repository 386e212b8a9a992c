"""Keypad turns (``dtmf: "83521#"``): loaded and checked with located messages, rendered as the
keys' in-band tones with their first and last tone as the turn's edges, and heard by the local
agent as the digits, while speech holds no key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest

from harness.agent.hearing import keys_pressed
from harness.audio import dtmf_tones, render_scenario, synthesize
from harness.errors import InputErrors
from harness.scenario import load_scenario
from harness.sip.dtmf import detect

REPO = Path(__file__).resolve().parents[2]
AGENT = REPO / "agents" / "support.yaml"


def _scenario(tmp_path: Path, keys: str) -> Path:
    path = tmp_path / "keys.yaml"
    path.write_text(textwrap.dedent(f"""\
        name: keys
        agent: {AGENT}
        turns:
          - say: "My order number is"
          - dtmf: "{keys}"
            entity: {{order_id: "83521"}}
        expect:
          - turn_answered: {{}}
        """))
    return path


def test_a_keypad_turn_is_addressed_and_rendered_as_its_tones(tmp_path: Path) -> None:
    scenario = load_scenario(_scenario(tmp_path, "83521#"))
    turn = scenario.turns[1]
    assert (turn.kind, turn.addressed, turn.spoken_text) == ("dtmf", True, "8 3 5 2 1 #")
    rendered = render_scenario(scenario).turns[1]
    assert rendered.kind == "dtmf" and rendered.addressed
    assert detect(rendered.samples, 24_000) == "83521#"
    # the turn's edges are its first and last tone sample: 150 ms in, six keys of 100 ms
    # with 80 ms between them
    assert rendered.speech_onset_ms == 150.0
    assert rendered.speech_end_ms == pytest.approx(150 + 6 * 100 + 5 * 80, abs=0.1)
    assert not rendered.samples[: rendered.speech_onset_sample].any()


def test_a_key_that_is_no_key_is_refused_where_it_is_written(tmp_path: Path) -> None:
    with pytest.raises(InputErrors) as caught:
        load_scenario(_scenario(tmp_path, "12x"))
    message = "\n".join(e.format() for e in caught.value.errors)
    assert "keys.yaml" in message and "turns[1].dtmf" in message, message


def test_the_agent_hears_keys_as_digits_and_speech_as_no_keys() -> None:
    tones = dtmf_tones("9#0*1", 8000)
    assert keys_pressed(tones, 8000) == "9 0 1"
    speech = synthesize("Nine, zero, one. My number is nine oh one.", voice="en-us",
                        words_per_minute=160, sample_rate=24_000)
    assert keys_pressed(speech, 24_000) == ""
    assert keys_pressed(np.zeros(8000, np.int16), 8000) == ""
