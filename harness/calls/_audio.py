"""A finished call's audio: read (stereo, or two mono files; PCM or G.711 WAV at any rate), brought
to the harness's stream rate, and cut into each party's stretches of sound.

The stretches are what the call's turns are reconstructed from. A channel is cut in 10 ms frames;
a frame is sound when its level is at least :data:`SOUND_FLOOR_DBFS` and
:data:`NOISE_MARGIN_DB` above the channel's noise floor (the 10th percentile of its frame
levels, the quiet between words on a line). Stretches closer than a channel's gap are one.
Their edges are then placed to the sample with the harness's own speech measure
(``harness.audio.detect_speech``, which the renderer uses on every caller clip), so the caller's
speech end is taken as a scripted call takes it; an agent stretch starts at its first audible
sample (``AUDIBLE_THRESHOLD``, -40 dBFS), the agent's audible onset of a live call.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from harness.audio import detect_speech, resample
from harness.errors import InputError

CALL_RATE = 24_000
"""Every track of an imported call is brought to this rate (the stream rate of scripted calls)."""
FRAME_MS = 10
SOUND_FLOOR_DBFS = -50.0
NOISE_MARGIN_DB = 12.0
AUDIBLE_THRESHOLD = 328
"""|sample| at or above this (-40 dBFS) is audible: the runner's playback threshold."""
CALLER_GAP_MS = 900.0
"""Caller sound closer than this is one turn (a breath, a pause between words)."""
AGENT_GAP_MS = 700.0
"""Agent sound closer than this is one response (pauses between its sentences)."""
MIN_STRETCH_MS = 120.0
"""Shorter sound is a click or a cough, not a turn."""


@dataclass
class CallAudio:
    """Both channels of a call at :data:`CALL_RATE`, sample 0 = the start of the recording."""

    caller: np.ndarray
    agent: np.ndarray
    source_rate: int
    source_format: str
    files: list[str]

    @property
    def duration_ms(self) -> float:
        return 1000.0 * max(len(self.caller), len(self.agent)) / CALL_RATE


@dataclass
class Stretch:
    """A stretch of one party's sound, in ms from the start of the recording."""

    start_ms: float
    end_ms: float


def _read(path: Path) -> tuple[np.ndarray, int, str]:
    if not path.is_file():
        raise InputError("audio file not found" if not path.exists() else "not a file",
                         location=str(path))
    try:
        info = sf.info(str(path))
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.SoundFileError, RuntimeError, ValueError, OSError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"cannot read audio: {reason} (expected a WAV file: PCM, µ-law or "
                         "A-law)", location=str(path)) from None
    if data.shape[0] == 0:
        raise InputError("the audio file has no samples", location=str(path))
    return data * 32768.0, int(rate), f"{info.format} {info.subtype}"


def _to_call_rate(x: np.ndarray, rate: int) -> np.ndarray:
    out = resample(x.astype(np.float32), rate, CALL_RATE) if rate != CALL_RATE else x
    return np.clip(np.rint(out), -32768, 32767).astype(np.int16)


def read_call_audio(paths: list[Path]) -> CallAudio:
    """One stereo file (caller left, agent right) or two mono files (caller, agent).

    Raises ``InputError`` naming the file: unreadable, empty, a mono file where a stereo one is
    needed, more than two channels, two files of different rates.
    """
    if len(paths) == 1:
        data, rate, fmt = _read(paths[0])
        if data.shape[1] != 2:
            raise InputError(
                f"{data.shape[1]} channel(s): a call needs a stereo file (caller left, agent "
                "right) or two mono files (caller, agent)", location=str(paths[0]))
        caller, agent = data[:, 0], data[:, 1]
    elif len(paths) == 2:
        (c, rate, fmt), (a, agent_rate, _) = _read(paths[0]), _read(paths[1])
        for path, d in zip(paths, (c, a), strict=True):
            if d.shape[1] != 1:
                raise InputError(f"{d.shape[1]} channels: with two files each must be mono "
                                 "(the caller's first, the agent's second)", location=str(path))
        if agent_rate != rate:
            a = resample(a[:, 0].astype(np.float32), agent_rate, rate)[:, None]
        caller, agent = c[:, 0], a[:, 0]
    else:
        raise InputError(f"{len(paths)} audio files for one call: give a stereo file or two "
                         "mono files", location=", ".join(map(str, paths)))
    return CallAudio(caller=_to_call_rate(caller, rate), agent=_to_call_rate(agent, rate),
                     source_rate=rate, source_format=fmt, files=[str(p) for p in paths])


def _frame_levels(x: np.ndarray) -> np.ndarray:
    n = CALL_RATE * FRAME_MS // 1000
    frames = x[: len(x) // n * n].astype(np.float64).reshape(-1, n)
    rms = np.sqrt(np.mean(np.square(frames), axis=1)) if len(frames) else np.zeros(0)
    return 20 * np.log10(np.maximum(rms, 1e-3) / 32768.0)


def stretches(x: np.ndarray, *, gap_ms: float, agent: bool) -> list[Stretch]:
    """The stretches of sound in one channel (see the module docstring)."""
    levels = _frame_levels(x)
    if not len(levels):
        return []
    floor = float(np.percentile(levels, 10))
    loud = levels >= max(SOUND_FLOOR_DBFS, floor + NOISE_MARGIN_DB)
    idx = np.flatnonzero(loud)
    if not len(idx):
        return []
    runs: list[list[int]] = [[int(idx[0]), int(idx[0])]]
    gap_frames = gap_ms / FRAME_MS
    for i in idx[1:]:
        if i - runs[-1][1] > gap_frames:
            runs.append([int(i), int(i)])
        else:
            runs[-1][1] = int(i)
    out: list[Stretch] = []
    n = CALL_RATE * FRAME_MS // 1000
    pad = n * 30
    for first, last in runs:
        if (last - first + 1) * FRAME_MS < MIN_STRETCH_MS:
            continue
        lo, hi = max(0, first * n - pad), min(len(x), (last + 1) * n + pad)
        edges = _edges(x[lo:hi], agent)
        if edges is None:
            continue
        out.append(Stretch(1000.0 * (lo + edges[0]) / CALL_RATE,
                           1000.0 * (lo + edges[1] + 1) / CALL_RATE))
    return out


def _edges(piece: np.ndarray, agent: bool) -> tuple[int, int] | None:
    if agent:
        loud = np.flatnonzero(np.abs(piece.astype(np.int32)) >= AUDIBLE_THRESHOLD)
        return (int(loud[0]), int(loud[-1])) if len(loud) else None
    return detect_speech(piece, CALL_RATE)


def write_call_audio(folder: Path, audio: CallAudio, names: tuple[str, str, str, str]) -> None:
    """The recording's tracks: caller, agent stream, agent (playback), and the stereo call."""
    caller_wav, agent_stream_wav, agent_wav, call_wav = names
    sf.write(folder / caller_wav, audio.caller, CALL_RATE, subtype="PCM_16")
    sf.write(folder / agent_stream_wav, audio.agent, CALL_RATE, subtype="PCM_16")
    sf.write(folder / agent_wav, audio.agent, CALL_RATE, subtype="PCM_16")
    n = max(len(audio.caller), len(audio.agent))
    stereo = np.zeros((n, 2), dtype=np.int16)
    stereo[: len(audio.caller), 0] = audio.caller
    stereo[: len(audio.agent), 1] = audio.agent
    sf.write(folder / call_wav, stereo, CALL_RATE, subtype="PCM_16")
