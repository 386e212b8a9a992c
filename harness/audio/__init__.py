"""Caller audio: text to speech, clips, noise beds, SNR mixing, resampling and G.711 codecs.

The public surface: ``synthesize`` (espeak-ng through pyttsx3's binding, deterministic),
``render_scenario`` → ``CallerScript`` (per-turn clips with speech boundaries, endless beds),
``render_suite`` (what ``harness render`` writes), speech measurements (``detect_speech``,
``active_speech_level``), ``read_clip`` / ``write_wav``, ``resample`` and the G.711 codecs.
"""

from harness.audio._asr_model import (
    asr_beam_size,
    asr_compute_type,
    asr_model_choice,
    asr_model_name,
)
from harness.audio._asr_model import model_path as asr_model_path
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
from harness.audio._dtmf import DIGITS as DTMF_KEYS
from harness.audio._dtmf import KEY_OFF_MS as DTMF_KEY_OFF_MS
from harness.audio._dtmf import KEY_ON_MS as DTMF_KEY_ON_MS
from harness.audio._dtmf import dtmf_tones
from harness.audio._noise import GENERATORS as NOISE_GENERATORS
from harness.audio._noise import SILENT_BED, Bed
from harness.audio._render import (
    CALLER_SPEECH_LEVEL_DB,
    CallerScript,
    RenderedTurn,
    clear_memory_cache,
    render_line,
    render_scenario,
)
from harness.audio._speech import active_speech_level, detect_speech, rms_db
from harness.audio._suite import RenderedSuite, render_preview, render_suite
from harness.audio._transcriber import Transcriber
from harness.audio._tts import Speech, Word, speak, speak_kokoro, synthesize
from harness.audio._wav import read_clip, write_wav
from harness.espeak import (
    SynthesisError,
    available_variants,
    available_voices,
    engine_versions,
    resolve_voice,
    voice_exists,
)

__all__ = [
    "Transcriber",
    "DTMF_KEYS",
    "DTMF_KEY_OFF_MS",
    "DTMF_KEY_ON_MS",
    "dtmf_tones",
    "render_line",
    "asr_compute_type",
    "asr_beam_size",
    "asr_model_choice",
    "asr_model_name",
    "asr_model_path",
    "CALLER_SPEECH_LEVEL_DB",
    "G711_RATE",
    "NOISE_GENERATORS",
    "SILENT_BED",
    "Bed",
    "CallerScript",
    "G711Decoder",
    "G711Encoder",
    "RenderedSuite",
    "RenderedTurn",
    "Speech",
    "SynthesisError",
    "Word",
    "active_speech_level",
    "available_variants",
    "available_voices",
    "clear_memory_cache",
    "decode_g711",
    "detect_speech",
    "encode_g711",
    "engine_versions",
    "law_of",
    "read_clip",
    "render_preview",
    "render_scenario",
    "render_suite",
    "resample",
    "resolve_voice",
    "rms_db",
    "speak",
    "speak_kokoro",
    "synthesize",
    "to_int16",
    "voice_exists",
    "write_wav",
]
