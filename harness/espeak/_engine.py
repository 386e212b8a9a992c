"""The espeak-ng engine behind every synthesised voice: its worker process and its voices.

Both the caller audio (``harness.audio``) and scenario validation (is a caller voice known?) use
it, so it sits below them. Synthesis runs in a small worker process (``_worker_process``) that
forks a fresh child per utterance; calls from any thread are serialised by a lock.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path
from typing import IO, Any

from harness.errors import HarnessError, InputError

_WORKER_SCRIPT = Path(__file__).with_name("_worker_process.py")
_FRAME_BYTES = 4


class SynthesisError(HarnessError):
    """The speech engine failed (not installed, crashed, or refused the request)."""


class _Worker:
    """The espeak-ng worker process, started on first use and shared by the whole process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._pid = -1
        self._info: dict[str, Any] | None = None
        self._stderr: IO[bytes] | None = None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is not None and self._process.poll() is None and self._pid == os.getpid():
            return self._process
        # stderr goes to a file, not a pipe nobody drains (a full pipe would block the worker).
        if self._stderr is not None:
            self._stderr.close()
        self._stderr = tempfile.TemporaryFile()
        try:
            self._process = subprocess.Popen(
                [sys.executable, str(_WORKER_SCRIPT)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
                start_new_session=True)
        except OSError as exc:
            raise SynthesisError(f"cannot start the speech worker: {exc}") from None
        self._pid = os.getpid()
        return self._process

    def request(self, message: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        body = json.dumps(message).encode()
        with self._lock:
            for attempt in (1, 2):
                process = self._start()
                try:
                    assert process.stdin is not None and process.stdout is not None
                    process.stdin.write(len(body).to_bytes(_FRAME_BYTES, "big") + body)
                    process.stdin.flush()
                    header = json.loads(_read_frame(process.stdout))
                    payload = _read_frame(process.stdout)
                    break
                except (OSError, EOFError, ValueError):
                    stderr = self._stop()
                    if attempt == 2:
                        raise SynthesisError(
                            "the espeak-ng speech worker failed"
                            + (f": {stderr.strip()[-500:]}" if stderr.strip() else "")
                            + " (is espeak-ng installed? on Debian: apt-get install espeak-ng)"
                        ) from None
        if not header.get("ok"):
            raise SynthesisError(header.get("error", "speech synthesis failed"))
        return header, payload

    def info(self) -> dict[str, Any]:
        if self._info is None:
            self._info, _ = self.request({"op": "info"})
        return self._info

    def _stop(self) -> str:
        process, self._process = self._process, None
        if process is None:
            return ""
        process.kill()
        process.wait()
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        return self._stderr.read()[-2000:].decode(errors="replace")

    def close(self) -> None:
        """Let the worker exit on end of input (atexit)."""
        process, self._process = self._process, None
        if process is not None and self._pid == os.getpid():
            try:
                assert process.stdin is not None
                process.stdin.close()
                process.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                process.kill()


def _read_frame(stream: Any) -> bytes:
    head = stream.read(_FRAME_BYTES)
    if len(head) != _FRAME_BYTES:
        raise EOFError("speech worker closed its output")
    size = int.from_bytes(head, "big")
    data = stream.read(size)
    if len(data) != size:
        raise EOFError("speech worker closed its output")
    return data


worker = _Worker()
"""The process-wide worker (started on first use)."""
atexit.register(worker.close)


# --------------------------------------------------------------------------- voices

_VARIANT_PREFIX = "!v/"


@cache
def _voice_table() -> tuple[dict[str, str], dict[str, str]]:
    """(our voice name → espeak identifier, variant name → espeak variant identifier).

    Our names are espeak-ng language codes, lower case (``en-us``, ``en-gb``, ``en-gb-x-rp``,
    ``fr-fr`` ...); espeak identifiers such as ``gmw/en-US`` are accepted too. MBROLA voices are
    left out: they need the separate mbrola program and voice data.
    """
    bases: dict[str, str] = {}
    variants: dict[str, str] = {}
    for voice in worker.info()["voices"]:
        identifier: str = voice["identifier"]
        if voice["languages"] == "variant":
            variants[identifier.removeprefix(_VARIANT_PREFIX).lower()] = identifier.removeprefix(
                _VARIANT_PREFIX)
            continue
        if identifier.startswith("mb/"):
            continue
        bases.setdefault(voice["languages"].lower(), identifier)
        bases.setdefault(identifier.lower(), identifier)
    return bases, variants


def resolve_voice(name: str) -> str:
    """The espeak-ng voice (``identifier[+variant]``) for one of our voice names.

    A name is a language code or espeak identifier, optionally with a variant after ``+``:
    ``en-us``, ``en-gb``, ``en-gb+f3``, ``gmw/en-US+m3``. Raises ``InputError`` when unknown.
    """
    bases, variants = _voice_table()
    base, _, variant = name.strip().lower().partition("+")
    if base not in bases:
        near = [b for b in bases if "/" not in b and b.startswith(base.split("-")[0])][:8]
        raise InputError(f"unknown voice {name!r}"
                         + (f"; similar voices: {', '.join(sorted(near))}" if near else ""))
    if variant and variant not in variants:
        raise InputError(f"unknown voice variant {variant!r} in {name!r}; variants include "
                         + ", ".join(v for v in ("f1", "f2", "f3", "f4", "m1", "m2", "m3", "klatt")
                                     if v in variants))
    return bases[base] + (f"+{variants[variant]}" if variant else "")


def voice_exists(name: str) -> bool:
    """Whether ``name`` is a usable voice (see ``resolve_voice``)."""
    try:
        resolve_voice(name)
    except InputError:
        return False
    return True


def available_voices() -> list[str]:
    """Our voice names (espeak-ng language codes) available on this machine, sorted.

    Any of them can take a variant suffix such as ``+f3`` or ``+m3`` (see ``available_variants``).
    """
    bases, _ = _voice_table()
    return sorted(b for b in bases if "/" not in b)


def available_variants() -> list[str]:
    """espeak-ng voice variants (``f1`` … ``m8``, ``klatt`` …) usable as ``voice+variant``."""
    return sorted(_voice_table()[1])


@cache
def engine_versions() -> dict[str, str]:
    """Versions of everything that shapes a synthesised clip (part of the render cache key)."""
    return {"espeak-ng": worker.info()["espeak_version"], "pyttsx3": package_version("pyttsx3")}
