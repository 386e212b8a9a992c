"""Caller audio: text to speech, clips, noise beds, SNR mixing, resampling and G.711 codecs."""

from harness.audio._codec import (
    G711_RATE,
    G711Decoder,
    G711Encoder,
    decode_g711,
    encode_g711,
    law_of,
    resample,
    to_int16,
)
from harness.audio._speech import active_speech_level, detect_speech, rms_db
from harness.audio._tts import (
    Speech,
    SynthesisError,
    Word,
    available_variants,
    available_voices,
    engine_versions,
    resolve_voice,
    speak,
    synthesize,
    voice_exists,
)

__all__ = [
    "G711_RATE",
    "G711Decoder",
    "G711Encoder",
    "Speech",
    "SynthesisError",
    "Word",
    "active_speech_level",
    "available_variants",
    "available_voices",
    "decode_g711",
    "detect_speech",
    "encode_g711",
    "engine_versions",
    "law_of",
    "resample",
    "resolve_voice",
    "rms_db",
    "speak",
    "synthesize",
    "to_int16",
    "voice_exists",
]
