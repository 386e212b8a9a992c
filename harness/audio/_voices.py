"""The caller voices a scenario can name, across engines, and a sample of each."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from harness.audio._tts import speak_as
from harness.errors import InputError
from harness.espeak import available_voices
from harness.extras import missing_modules
from harness.kokoro import VOICES, voices_installed
from harness.scenario.models import CallerVoice

ENGINES = ("kokoro", "espeak", "openai")
SAMPLE_TEXT = "Hi, I'm calling about my order. The number is eight, three, five, two, one."


@dataclass(frozen=True)
class VoiceInfo:
    """One voice: its engine, its name in scenarios, what it sounds like, and whether this
    machine can speak with it now (if not, ``missing`` says what to install)."""

    engine: str
    name: str
    description: str
    missing: str = ""

    @property
    def ready(self) -> bool:
        return not self.missing


def kokoro_missing() -> str:
    """What this machine lacks to speak with Kokoro ('' when nothing)."""
    if missing_modules("voices"):
        return "pip install 'realtime-voice-harness[voices]'"
    if not voices_installed():
        return "harness voices install"
    return ""


def caller_voices(engine: str | None = None) -> list[VoiceInfo]:
    """Every voice of ``engine`` (of every engine when ``None``), Kokoro's first; the openai
    engine's are OpenAI's own (a compatible endpoint may have others)."""
    if engine is not None and engine not in ENGINES:
        raise InputError(f"unknown engine {engine!r}; expected one of {', '.join(ENGINES)}",
                         field="--engine")
    out: list[VoiceInfo] = []
    if engine in (None, "kokoro"):
        missing = kokoro_missing()
        out += [VoiceInfo("kokoro", v.name, v.description, missing) for v in VOICES.values()]
    if engine in (None, "espeak"):
        out += [VoiceInfo("espeak", name, "espeak-ng, formant synthesis") for name in
                available_voices()]
    if engine in (None, "openai"):
        from harness.audio._openai_tts import KEY_ENV, base_url  # noqa: PLC0415
        from harness.scenario._caller import OPENAI_VOICES  # noqa: PLC0415

        missing = "" if os.environ.get(KEY_ENV) else f"set {KEY_ENV}"
        out += [VoiceInfo("openai", name, f"cloud speech ({base_url()})", missing)
                for name in OPENAI_VOICES]
    return out


def voice_sample(engine: str, voice: str, text: str = SAMPLE_TEXT) -> np.ndarray:
    """``text`` spoken by ``voice`` of ``engine``: PCM16 at 24 kHz."""
    return np.array(speak_as(CallerVoice(engine=engine, voice=voice), text).samples)
