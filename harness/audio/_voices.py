"""The caller voices a scenario can name, across engines, and a sample of each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.audio._tts import speak, speak_kokoro
from harness.errors import InputError
from harness.espeak import available_voices
from harness.extras import missing_modules
from harness.kokoro import VOICES, kokoro_voice, voices_installed

ENGINES = ("kokoro", "espeak")
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
    """Every voice of ``engine`` (of both engines when ``None``), Kokoro's first."""
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
    return out


def voice_sample(engine: str, voice: str, text: str = SAMPLE_TEXT) -> np.ndarray:
    """``text`` spoken by ``voice`` of ``engine``: PCM16 at 24 kHz."""
    if engine == "kokoro":
        kokoro_voice(voice)
        return np.array(speak_kokoro(text, voice).samples)
    return np.array(speak(text, voice).samples)
