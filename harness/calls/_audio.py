"""A finished call's audio: read (stereo, or two mono files; PCM or G.711 WAV at any rate) and
brought to the harness's stream rate. Each party's stretches of sound are cut as
:mod:`harness.runner.rebuilt` says (a call placed over SIP is cut the same way)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from harness.audio import resample
from harness.errors import InputError
from harness.runner.rebuilt import CALL_RATE


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
