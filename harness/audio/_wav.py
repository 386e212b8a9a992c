"""Reading recorded clips (any rate, any channel count) and writing PCM16 WAV files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from harness.audio._codec import resample, to_int16
from harness.errors import InputError

STREAM_RATE = 24_000


def read_clip(path: str | Path, sample_rate: int = STREAM_RATE) -> np.ndarray:
    """A recorded clip as PCM16 mono at ``sample_rate``: channels averaged, resampled with soxr.

    Raises ``InputError`` naming the file and the problem when it is missing, unreadable, not
    audio, or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("audio file not found" if not path.exists() else "not a file",
                         location=str(path))
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError, OSError) as exc:
        raise InputError(f"cannot read audio: {_reason(exc)} (expected a WAV file)",
                         location=str(path)) from None
    if data.shape[0] == 0:
        raise InputError("the audio file has no samples", location=str(path))
    mono = data.mean(axis=1) * 32768.0
    if rate != sample_rate:
        mono = resample(mono.astype(np.float32), rate, sample_rate)
    return to_int16(mono)


def _reason(exc: Exception) -> str:
    text = str(exc)
    # libsndfile messages start with the file name, which the location already gives.
    return text.split(": ", 1)[1] if ": " in text and text.startswith("Error opening") else text


def write_wav(path: str | Path, samples: np.ndarray, sample_rate: int = STREAM_RATE) -> None:
    """Write PCM16 mono (or (n, 2) stereo) as a WAV file; the bytes depend only on the samples."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(samples, dtype=np.int16), sample_rate, subtype="PCM_16",
             format="WAV")
