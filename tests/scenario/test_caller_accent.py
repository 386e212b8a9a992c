"""A caller's accent hint: it picks a voice of that accent (Kokoro's first, else espeak-ng's),
asks a cloud voice to speak in it, and a hint no engine has is one located error."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.audio._tts import voice_identity
from harness.cli import main
from harness.scenario._caller import Caller, CallerVoice

AGENT = Path(__file__).resolve().parents[2] / "agents" / "support.yaml"


@pytest.mark.parametrize(("given", "engine", "voice"), [
    ({"accent": "hindi"}, "kokoro", "hf_alpha"),
    ({"accent": "Indian", "gender": "male"}, "kokoro", "hm_omega"),
    ({"accent": "british", "gender": "male"}, "kokoro", "bm_daniel"),
    ({"accent": "Brazilian Portuguese"}, "kokoro", "pf_dora"),
    ({"accent": "scottish"}, "espeak", "en-gb-scotland"),
    ({"accent": "british", "engine": "espeak"}, "espeak", "en-gb"),
    ({"accent": "caribbean", "words_per_minute": 140}, "espeak", "en-029"),
])
def test_an_accent_picks_a_voice_of_it(given, engine, voice) -> None:
    caller = Caller.model_validate(given)
    assert (caller.engine_name, caller.voice) == (engine, voice)
    assert caller.label()["accent"] == given["accent"]
    if engine == "kokoro":
        assert voice_identity(caller)["voice"] == voice


def test_a_cloud_voice_is_asked_to_speak_in_the_accent() -> None:
    caller = Caller.model_validate({"engine": "openai", "voice": "coral", "accent": "Irish",
                                    "instructions": "Slowly."})
    assert caller.voice == "coral"
    assert caller.spoken_instructions == "Slowly. Speak English with this accent: Irish."
    assert Caller.model_validate({"engine": "openai"}).spoken_instructions is None


def test_a_turn_with_an_accent_changes_the_voice_and_keeps_the_rate() -> None:
    base = Caller.model_validate({"voice": "af_heart", "words_per_minute": 150})
    turn = base.changed(CallerVoice.model_validate({"accent": "spanish"}))
    assert (turn.engine_name, turn.voice, turn.words_per_minute) == ("kokoro", "ef_dora", 150)
    back = Caller.model_validate({"accent": "hindi"}).changed(
        CallerVoice.model_validate({"voice": "en-gb"}))
    assert (back.engine_name, back.voice, back.accent) == ("espeak", "en-gb", None)


@pytest.mark.parametrize(("caller", "message"), [
    ("{accent: klingon}", "no offline voice has the accent 'klingon'; accents: american"),
    ("{accent: scottish, engine: kokoro}", "no kokoro voice has the accent 'scottish'"),
    ("{accent: hindi, voice: af_heart}", "give voice or accent, not both"),
    ("{gender: male}", "gender chooses among an accent's voices: give accent too"),
    ("{accent: hindi, voices: [af_heart, bm_george]}", "give voices or accent, not both"),
])
def test_a_bad_accent_is_one_located_error(tmp_path, capsys, caller, message) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"name: s\nagent: {AGENT}\ncaller: {caller}\nturns:\n  - say: hi\n"
                    "expect:\n  - turn_answered\n")
    with pytest.raises(SystemExit) as stopped:
        main(["validate", str(path)])
    out = capsys.readouterr()
    assert stopped.value.code == 2
    assert message in out.out + out.err and "s.yaml:3:" in out.out + out.err
