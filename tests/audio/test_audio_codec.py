"""G.711 and resampling: round trips within the codec's error bound, streaming = whole-clip."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from harness.audio import (
    G711Decoder,
    G711Encoder,
    decode_g711,
    encode_g711,
    law_of,
    resample,
)

ALL_INT16 = np.arange(-32768, 32768, dtype=np.int64)


def _levels(law: str) -> np.ndarray:
    """Every reconstruction level of the law (decode each of the 256 codes)."""
    return np.unique(decode_g711(bytes(range(256)), law).astype(np.int64))


def _sine(freq: float, dbfs: float, rate: int, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return np.rint(32767 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def _snr_db(reference: np.ndarray, test: np.ndarray) -> float:
    ref = reference.astype(np.float64)
    err = ref - test.astype(np.float64)
    return float(10 * np.log10((ref**2).sum() / (err**2).sum()))


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_every_sample_round_trips_within_half_a_quantisation_step(law: str) -> None:
    levels = _levels(law)
    assert len(levels) >= 255  # µ-law has +0 and -0
    decoded = decode_g711(encode_g711(ALL_INT16.astype(np.int16), law, sample_rate=8000), law)
    assert len(decoded) == len(ALL_INT16)
    err = np.abs(ALL_INT16 - decoded.astype(np.int64))

    gaps = np.diff(levels)
    widest = np.maximum(np.r_[gaps[0], gaps], np.r_[gaps, gaps[-1]])
    i = np.clip(np.searchsorted(levels, ALL_INT16), 1, len(levels) - 1)
    # Half the wider quantisation interval next to the value. µ-law first drops the input to
    # 14 bits (x >> 2), so its decisions can be off by up to 3 LSB of the 16-bit input.
    bound = np.maximum(widest[i - 1], widest[i]) / 2 + (3 if law == "ulaw" else 0)
    inside = (ALL_INT16 >= levels[0]) & (ALL_INT16 <= levels[-1])
    assert (err[inside] <= bound[inside]).all()
    # Beyond the largest level the codec saturates to it.
    assert (decoded[ALL_INT16 > levels[-1]] == levels[-1]).all()
    assert (decoded[ALL_INT16 < levels[0]] == levels[0]).all()


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
@pytest.mark.parametrize("dbfs", [-40.0, -20.0, -3.0])
def test_companding_keeps_about_38_db_sqnr_over_a_wide_range(law: str, dbfs: float) -> None:
    tone = _sine(1004, dbfs, 8000)
    decoded = decode_g711(encode_g711(tone, law, sample_rate=8000), law)
    assert _snr_db(tone, decoded) > 33.0


def test_the_two_laws_differ_and_are_one_byte_per_sample() -> None:
    tone = _sine(440, -10, 8000, 0.1)
    u, a = encode_g711(tone, "ulaw", 8000), encode_g711(tone, "alaw", 8000)
    assert len(u) == len(a) == len(tone)
    assert u != a
    assert law_of("audio/pcmu") == "ulaw" and law_of("audio/pcma") == "alaw"
    with pytest.raises(ValueError, match="not a G.711 format"):
        law_of("audio/pcm")


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_24k_round_trip_keeps_telephone_band_speech(law: str) -> None:
    tone = _sine(1000, -12, 24000)
    data = encode_g711(tone, law)  # 24 kHz in, resampled to 8 kHz
    assert len(data) == len(tone) // 3
    back = decode_g711(data, law, sample_rate=24000)
    assert len(back) == len(tone)
    mid = slice(2400, len(tone) - 2400)  # away from the resampler's edges
    assert _snr_db(tone[mid], back[mid]) > 30.0


def test_above_4khz_is_removed_by_the_8khz_path() -> None:
    tone = _sine(6000, -12, 24000)
    back = decode_g711(encode_g711(tone, "ulaw"), "ulaw", sample_rate=24000)
    assert np.abs(back[2400:-2400]).max() < 200  # −44 dB: only the codec's noise is left


@pytest.mark.parametrize("law", ["ulaw", "alaw"])
def test_streaming_encoder_and_decoder_match_the_whole_clip(law: str) -> None:
    tone = _sine(700, -10, 24000, 1.0)
    encoder = G711Encoder(law)
    data = b"".join(encoder.encode(tone[i:i + 480]) for i in range(0, len(tone), 480))
    data += encoder.flush()
    assert abs(len(data) - len(tone) // 3) <= 1
    decoder = G711Decoder(law, sample_rate=24000)
    back = np.concatenate([decoder.decode(data[i:i + 160]) for i in range(0, len(data), 160)]
                          + [decoder.flush()])
    mid = slice(2400, len(tone) - 2400)
    assert _snr_db(tone[mid], back[: len(tone)][mid]) > 30.0


def test_resample_lengths_types_and_determinism() -> None:
    tone = _sine(500, -6, 22050, 1.0)
    out = resample(tone, 22050, 24000)
    assert out.dtype == np.int16 and len(out) == 24000
    assert np.array_equal(out, resample(tone, 22050, 24000))
    as_float = resample(tone.astype(np.float32), 22050, 24000)
    assert as_float.dtype == np.float32
    same = resample(tone, 24000, 24000)
    assert np.array_equal(same, tone) and same is not tone


def _fill_freed_heap_with_nan_bytes() -> None:
    """Allocate, fill with 0xFF (NaN bit patterns) and free blocks of many sizes, so the next
    allocations start from memory left in a different state than in a fresh process."""
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    libc.malloc.argtypes = [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]
    blocks = []
    for size in [1 << k for k in range(6, 22)] * 3:
        block = libc.malloc(size)
        ctypes.memset(block, 0xFF, size)
        blocks.append(block)
    for block in blocks:
        libc.free(block)


def test_int16_resample_does_not_depend_on_what_the_process_did_before() -> None:
    # Just over one of soxr's 44.1k-sample input blocks: with soxr's own int16 output (dithered
    # per block) the tail came out 1 LSB apart after the heap had been used differently, which
    # made speech synthesised in a long-running process differ from the same text spoken earlier.
    clip = (np.random.default_rng(7).standard_normal(44_104) * 3000).astype(np.int16)
    first = resample(clip, 22050, 24000)
    for _ in range(20):
        _fill_freed_heap_with_nan_bytes()
        assert np.array_equal(resample(clip, 22050, 24000), first)
