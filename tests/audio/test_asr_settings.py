"""The recogniser's settings from the environment: model by name, beam size, checked."""

from __future__ import annotations

import pytest

from harness.audio import asr_beam_size, asr_model_name
from harness.audio._asr_model import model_path
from harness.errors import InputError


def test_beam_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_ASR_BEAM_SIZE", raising=False)
    # a beam of 5 on a telephone line (8 kHz), greedy decoding on wideband audio
    assert asr_beam_size(8_000) == 5
    assert asr_beam_size(24_000) == asr_beam_size(16_000) == asr_beam_size() == 1
    monkeypatch.setenv("HARNESS_ASR_BEAM_SIZE", "3")
    assert asr_beam_size(8_000) == asr_beam_size(24_000) == 3
    for bad in ("0", "11", "wide", ""):
        monkeypatch.setenv("HARNESS_ASR_BEAM_SIZE", bad)
        with pytest.raises(InputError, match="HARNESS_ASR_BEAM_SIZE: expected a whole number"):
            asr_beam_size()


def test_model_by_name_environment_first(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.delenv("HARNESS_ASR_MODEL", raising=False)
    assert asr_model_name() == model_path("tiny.en")
    assert asr_model_name(str(tmp_path)) == str(tmp_path)  # a profile's choice (a folder)
    monkeypatch.setenv("HARNESS_ASR_MODEL", "tiny.en")
    assert asr_model_name(str(tmp_path)) == model_path("tiny.en")  # the environment wins
    monkeypatch.setenv("HARNESS_ASR_MODEL", "huge.en")
    with pytest.raises(InputError, match="unknown speech-recognition model 'huge.en'"):
        asr_model_name()
