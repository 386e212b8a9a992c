"""The espeak-ng speech engine: its worker process, the voices it offers and its versions."""

from harness.espeak._engine import (
    SynthesisError,
    available_variants,
    available_voices,
    engine_versions,
    resolve_voice,
    voice_exists,
    worker,
)

__all__ = [
    "SynthesisError",
    "available_variants",
    "available_voices",
    "engine_versions",
    "resolve_voice",
    "voice_exists",
    "worker",
]
