"""A caller's list of voices rotated through trials, and the located messages of its mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import InputErrors
from harness.scenario import load_scenario
from harness.scenario.models import CallerVoice

AGENT = Path(__file__).resolve().parents[2] / "agents" / "support.yaml"


def write(path: Path, caller: str, turn_voice: str = "") -> Path:
    path.write_text(f"name: rotating\nagent: {AGENT}\ncaller: {caller}\nturns:\n"
                    '  - say: "Hi, I need help with an order."\n'
                    f'  - say: "Thanks."\n{turn_voice}expect:\n  - turn_answered: {{}}\n')
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(InputErrors) as caught:
        load_scenario(path)
    return [e.format() for e in caught.value.errors]


def test_trial_k_speaks_with_voice_k_mod_n(tmp_path: Path) -> None:
    s = load_scenario(write(tmp_path / "s.yaml", "{voices: [af_heart, en-gb, bf_emma]}",
                            "    voice: {words_per_minute: 130}\n"))
    spoken = [s.for_trial(k) for k in range(5)]
    assert [t.caller.voice for t in spoken] == ["af_heart", "en-gb", "bf_emma", "af_heart", "en-gb"]
    assert [t.caller.engine_name for t in spoken[:3]] == ["kokoro", "espeak", "kokoro"]
    assert all(t.caller.voices is None for t in spoken)
    # a turn's own fields apply on top of the trial's voice, which it keeps
    second = spoken[1].voice_of(spoken[1].turns[1])
    assert (second.voice, second.engine_name, second.words_per_minute) == ("en-gb", "espeak", 130)
    assert spoken[0].caller.label() == {"engine": "kokoro", "voice": "af_heart",
                                        "words_per_minute": 165}
    # a variant's caller replaces the rotation; an unchanged scenario is itself
    varied = s.for_trial(2, CallerVoice(voice="bm_george"))
    assert (varied.caller.voice, varied.caller.voices) == ("bm_george", None)
    plain = load_scenario(write(tmp_path / "p.yaml", "{voice: en-us}"))
    assert plain.for_trial(3) is plain


def test_an_unknown_voice_in_the_list_is_located(tmp_path: Path) -> None:
    path = write(tmp_path / "s.yaml", "{voices: [af_heart, bm_nobody, en-gb]}")
    assert problems(path) == [f"{path}:3:29: caller.voices[1]: unknown voice 'bm_nobody' "
                              "(`harness voices` lists the voices)"]


def test_voice_and_voices_together_and_cloud_fields_elsewhere(tmp_path: Path) -> None:
    both = write(tmp_path / "both.yaml", "{voice: af_heart, voices: [bf_emma, am_adam]}")
    (message,) = problems(both)
    assert message.startswith(f"{both}:3:9: caller: ")
    assert "give voice or voices, not both" in message
    styled = write(tmp_path / "styled.yaml", "{voices: [af_heart, en-gb], instructions: calm}")
    assert problems(styled) == [f"{styled}:3:51: caller.instructions: only the openai engine "
                                "takes instructions (this caller speaks with espeak, kokoro)"]
    empty = write(tmp_path / "empty.yaml", "{voices: []}")
    (message,) = problems(empty)
    assert message.startswith(f"{empty}:3:18: caller.voices: ") and "at least 1 item" in message


def test_generated_variants_keep_the_rotation(tmp_path: Path) -> None:
    from harness.scenario.vary import write_variants

    source = write(tmp_path / "s.yaml", "{voices: [af_heart, en-gb], words_per_minute: 160}",
                   "    voice: {words_per_minute: 130}\n")
    written = write_variants([source], tmp_path / "varied", n=3, seed=1, aspects=["voices"])
    for path in written:
        caller = load_scenario(path).caller
        assert caller.voices == ["af_heart", "en-gb"] and "voice" not in caller.model_fields_set
        assert 136 <= caller.words_per_minute <= 184  # the rate still varies, within 15 %
