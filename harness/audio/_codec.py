"""Sample-rate conversion (soxr) and G.711 µ-law / A-law telephony codecs at 8 kHz."""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
import soxr

with warnings.catch_warnings():
    # audioop is deprecated on 3.11/3.12 and comes from the audioop-lts package on 3.13+;
    # its C G.711 tables are the reference implementation (Sun's g711.c).
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

G711Law = Literal["ulaw", "alaw"]
G711_RATE = 8_000

_FORMAT_LAWS: dict[str, G711Law] = {
    "ulaw": "ulaw", "pcmu": "ulaw", "audio/pcmu": "ulaw", "g711_ulaw": "ulaw",
    "alaw": "alaw", "pcma": "alaw", "audio/pcma": "alaw", "g711_alaw": "alaw",
}


def law_of(name: str) -> G711Law:
    """The G.711 law of a codec or session audio-format name (``audio/pcmu`` → ``ulaw``)."""
    try:
        return _FORMAT_LAWS[name.lower()]
    except KeyError:
        raise ValueError(f"not a G.711 format: {name!r}; expected one of "
                         + ", ".join(sorted(_FORMAT_LAWS))) from None


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample a whole mono clip with soxr (high quality); int16 in → int16 out, float → float32.

    Deterministic. The output has ``round(len * to_rate / from_rate)`` samples.
    """
    samples = np.asarray(samples)
    if from_rate == to_rate:
        return samples.copy()
    # int16 goes through float32 and is rounded here: libsoxr's own int16 output adds TPDF
    # dither seeded per output block, and those blocks are not reproducible (the same clip
    # came out 1 LSB apart depending on what the process had allocated before).
    out = soxr.resample(samples.astype(np.float32, copy=False), from_rate, to_rate, quality="HQ")
    return to_int16(out) if samples.dtype == np.int16 else out


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float samples in PCM16 units (±32768) → int16, rounded and clipped."""
    return np.clip(np.rint(samples), -32768, 32767).astype(np.int16)


def encode_g711(pcm16: np.ndarray, law: G711Law, sample_rate: int = 24_000) -> bytes:
    """Encode PCM16 mono to G.711 bytes (one byte per 8 kHz sample).

    ``sample_rate`` is the rate of ``pcm16``; anything other than 8 kHz is resampled first.
    For a stream cut into chunks, use ``G711Encoder`` (it keeps the resampler's state).
    """
    pcm = np.ascontiguousarray(pcm16, dtype=np.int16)
    if sample_rate != G711_RATE:
        pcm = resample(pcm, sample_rate, G711_RATE)
    data = pcm.tobytes()
    return audioop.lin2ulaw(data, 2) if law_of(law) == "ulaw" else audioop.lin2alaw(data, 2)


def decode_g711(data: bytes, law: G711Law, sample_rate: int = G711_RATE) -> np.ndarray:
    """Decode G.711 bytes to PCM16 mono at ``sample_rate`` (8 kHz native; 24 kHz resampled)."""
    pcm = audioop.ulaw2lin(data, 2) if law_of(law) == "ulaw" else audioop.alaw2lin(data, 2)
    samples = np.frombuffer(pcm, dtype=np.int16)
    if sample_rate != G711_RATE:
        return resample(samples, G711_RATE, sample_rate)
    return samples.copy()


class G711Encoder:
    """Streaming PCM16 → G.711 encoder for chunks of a continuous stream (e.g. 20 ms each).

    Resampling keeps its filter state between chunks, so the chunked output equals the
    whole-stream output (up to the resampler's delay, flushed by ``flush()``).
    """

    def __init__(self, law: G711Law, sample_rate: int = 24_000) -> None:
        self.law = law_of(law)
        self._resampler = (None if sample_rate == G711_RATE
                           else soxr.ResampleStream(sample_rate, G711_RATE, 1, dtype="float32",
                                                    quality="HQ"))

    def encode(self, pcm16: np.ndarray, last: bool = False) -> bytes:
        pcm = np.ascontiguousarray(pcm16, dtype=np.int16)
        if self._resampler is not None:
            # float32 like ``resample``: soxr's int16 output dither is not reproducible.
            pcm = to_int16(self._resampler.resample_chunk(pcm.astype(np.float32), last=last))
        data = pcm.tobytes()
        return audioop.lin2ulaw(data, 2) if self.law == "ulaw" else audioop.lin2alaw(data, 2)

    def flush(self) -> bytes:
        return self.encode(np.zeros(0, dtype=np.int16), last=True)


class G711Decoder:
    """Streaming G.711 → PCM16 decoder (8 kHz, or resampled to ``sample_rate`` with state)."""

    def __init__(self, law: G711Law, sample_rate: int = G711_RATE) -> None:
        self.law = law_of(law)
        self._resampler = (None if sample_rate == G711_RATE
                           else soxr.ResampleStream(G711_RATE, sample_rate, 1, dtype="float32",
                                                    quality="HQ"))

    def decode(self, data: bytes, last: bool = False) -> np.ndarray:
        pcm = audioop.ulaw2lin(data, 2) if self.law == "ulaw" else audioop.alaw2lin(data, 2)
        samples = np.frombuffer(pcm, dtype=np.int16)
        if self._resampler is not None:
            return to_int16(self._resampler.resample_chunk(samples.astype(np.float32), last=last))
        return samples.copy()

    def flush(self) -> np.ndarray:
        return self.decode(b"", last=True)
