"""Writes a trial's Recording (``harness.recording``) while the session runs.

``meta.json`` is written first with status ``running`` and replaced atomically at the end;
``events.jsonl`` gets the frames at least every :data:`FLUSH_INTERVAL_MS` (a killed run loses at
most that much, and its torn last line is ignored by the reader): the event loop only collects
the lines and hands them, every interval, to one events writer thread that does the writing, so
no stream waits on the disk. The intervals are one grid for every trial of the process, so the
writer thread wakes once an interval for all of them, not once per trial. The WAV tracks are
written once, at the end. So a run killed mid-trial leaves a folder that :meth:`Recording.load`
reads as ``incomplete``.

Finishing a trial (building and writing megabytes of tracks) happens while other sessions stream:
:func:`in_track_writer` runs it on one thread at a lower CPU priority, so the event loop that
paces every stream gets the CPU first.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import soundfile as sf
import soxr
from pydantic import BaseModel

from harness.recording import (
    AGENT_STREAM_WAV,
    AGENT_WAV,
    CALL_WAV,
    CALLER_WAV,
    EVENTS_FILE,
    META_FILE,
    RecordingMeta,
)

FLUSH_INTERVAL_MS = 250.0
_FLUSH_INTERVAL_NS = int(FLUSH_INTERVAL_MS * 1e6)
TRACK_WRITER_NICE = 10
"""Niceness added to the track writer thread (Linux: threads have their own)."""

T = TypeVar("T")
_track_writer: ThreadPoolExecutor | None = None


def _lower_priority() -> None:
    # On Linux setpriority() takes a thread id; elsewhere it would name a process
    if sys.platform == "linux":
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           os.getpriority(os.PRIO_PROCESS, 0) + TRACK_WRITER_NICE)
        except OSError:
            pass


async def in_track_writer(fn: Callable[..., T], *args: Any) -> T:
    """Run ``fn(*args)`` on the track writer: one thread, below the event loop's priority.

    One thread, because trials that end together would otherwise write their tracks all at once,
    taking the CPU from the streams still running.
    """
    global _track_writer
    if _track_writer is None:
        _track_writer = ThreadPoolExecutor(1, thread_name_prefix="harness-tracks",
                                           initializer=_lower_priority)
    return await asyncio.get_running_loop().run_in_executor(_track_writer, fn, *args)


_events_writer_pool: ThreadPoolExecutor | None = None


def _events_writer() -> ThreadPoolExecutor:
    """One thread writes every trial's ``events.jsonl`` (in order: one queue)."""
    global _events_writer_pool
    if _events_writer_pool is None:
        _events_writer_pool = ThreadPoolExecutor(1, thread_name_prefix="harness-events")
    return _events_writer_pool


def _write_all(fh: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[fh.write(view):]


def write_text_atomic(path: Path, text: str) -> None:
    """Write through a temporary file and a rename, so readers never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file and a rename, so readers never see half a file."""
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def _write_meta(folder: Path, meta: RecordingMeta) -> None:
    # pydantic's compiled serializer: json.dumps with an indent runs the pure-Python encoder,
    # milliseconds of holding the GIL on the track writer while the event loop waits to send
    write_text_atomic(folder / META_FILE, meta.model_dump_json(indent=2) + "\n")


class RecordingWriter:
    """The open recording of one trial."""

    def __init__(self, folder: Path, meta: RecordingMeta):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.meta = meta
        _write_meta(self.folder, meta)
        self._fh = open(self.folder / EVENTS_FILE, "wb", buffering=0)  # noqa: SIM115
        self._lines: list[str] = []
        self._written: Future[None] | None = None
        self.seq = 0
        self._flush_interval = time.perf_counter_ns() // _FLUSH_INTERVAL_NS

    # ------------------------------------------------------------------ frames

    def _write(self, line: str) -> int:
        seq = self.seq
        self._lines.append(line)
        self.seq += 1
        # a waking thread is costly on an idle core: trials ship on one shared grid of intervals
        interval = time.perf_counter_ns() // _FLUSH_INTERVAL_NS
        if interval != self._flush_interval:
            self._ship()
            self._flush_interval = interval
        return seq

    def _ship(self) -> None:
        """Hand the lines so far to the events writer thread: the event loop never waits on the
        disk (a write can block for tens of ms while the file system commits its journal)."""
        if self._lines:
            data = "".join(self._lines).encode("utf-8")
            self._lines.clear()
            self._written = _events_writer().submit(_write_all, self._fh, data)

    def frame(self, t_ms: float, dir: str, type_: str, event: dict[str, Any],
              **extra: Any) -> int:
        """Append one frame; returns its ``seq``."""
        record = {"seq": self.seq, "t_ms": round(t_ms, 3), "dir": dir, "type": type_,
                  "event": event, **extra}
        return self._write(json.dumps(record, separators=(",", ":"), default=str) + "\n")

    def caller_chunk(self, t_ms: float, scheduled_ms: float, start_sample: int, samples: int,
                     sample_rate: int, via: str | None = None) -> int:
        """Append the frame of one ``input_audio_buffer.append`` (the hot path: no json.dumps);
        ``via="rtp"``: the chunk went out on an RTP track, not as the event."""
        return self._write(
            f'{{"seq":{self.seq},"t_ms":{t_ms:.3f},"dir":"sent",'
            f'"type":"input_audio_buffer.append","event":{{"type":"input_audio_buffer.append",'
            f'"audio":{{"audio_ref":{{"track":"caller","start_sample":{start_sample},'
            f'"samples":{samples},"sample_rate":{sample_rate}}}}}}},'
            f'"scheduled_ms":{scheduled_ms:.3f}' + (f',"via":"{via}"}}\n' if via else '}\n'))

    def annotate(self, t_ms: float, type_: str, payload: BaseModel) -> int:
        return self.frame(t_ms, "harness", type_, payload.model_dump(mode="json"))

    def flush(self) -> None:
        """Write every frame so far to ``events.jsonl`` and wait until it is there."""
        self._ship()
        if self._written is not None:
            self._written.result()

    # ------------------------------------------------------------------ the end

    def finish(self, *, status: str, error: str | None, caller: np.ndarray, caller_rate: int,
               caller_offset_ms: float, agent_stream: np.ndarray, agent: np.ndarray,
               agent_rate: int) -> None:
        """Write the tracks, close ``events.jsonl`` and set the final status in ``meta.json``.

        ``caller`` is the stream as sent (its sample 0 is chunk 0, which starts at
        ``caller_offset_ms`` on the session clock); ``agent`` is on the session clock from 0.
        ``call.wav`` puts both on the session clock.
        """
        self.flush()
        self._fh.close()
        sf.write(self.folder / CALLER_WAV, caller, caller_rate, subtype="PCM_16")
        sf.write(self.folder / AGENT_STREAM_WAV, agent_stream, agent_rate, subtype="PCM_16")
        sf.write(self.folder / AGENT_WAV, agent, agent_rate, subtype="PCM_16")
        right = agent
        if agent_rate != caller_rate and len(agent):
            right = soxr.resample(agent, agent_rate, caller_rate).astype(np.int16)
        offset = int(round(caller_offset_ms * caller_rate / 1000.0))
        n = max(offset + len(caller), len(right))
        stereo = np.zeros((n, 2), dtype=np.int16)
        stereo[offset: offset + len(caller), 0] = caller
        stereo[: len(right), 1] = right
        sf.write(self.folder / CALL_WAV, stereo, caller_rate, subtype="PCM_16")
        self.meta.status = status  # type: ignore[assignment]
        self.meta.error = error
        _write_meta(self.folder, self.meta)

    def abandon(self) -> None:
        """Close the events file without finishing (the trial stays ``running`` → incomplete)."""
        if not self._fh.closed:
            self.flush()
            self._fh.close()
