"""The render cache: arrays stored under a hash of everything that shaped them.

Entries are ``.npz`` files written atomically, so parallel renders (test workers, several
runs) can share one cache; an entry being made is locked, so it is made once. Deleting the
folder is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import cache
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

RENDER_VERSION = 3
"""Bump when rendering code changes its output: old cache entries then stop matching."""

CACHE_ENV = "HARNESS_AUDIO_CACHE"


def default_cache_dir() -> Path:
    """``$HARNESS_AUDIO_CACHE``, else the user's cache folder (``$XDG_CACHE_HOME``, else
    ``~/.cache``, then ``voice-harness/audio``): a suite's caller audio is made once per machine,
    not once per checkout. Entries are keyed by their content and the versions that shape them,
    so checkouts and installs share them safely; a Kokoro line costs seconds of both cores (1.25 s
    a second of speech on a 2 GHz EPYC), and a fresh clone rendered the example suite for 206 s."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return user_cache / "voice-harness" / "audio"


@cache
def library_versions() -> dict[str, str]:
    """Versions of the numeric libraries whose output lands in cached arrays."""
    return {"numpy": np.__version__, "soxr": package_version("soxr"), "render": str(RENDER_VERSION)}


def cache_key(kind: str, params: dict[str, Any]) -> str:
    """Hex digest of ``kind`` and ``params`` (JSON with sorted keys) plus library versions."""
    blob = json.dumps({"kind": kind, "params": params, "versions": library_versions()},
                      sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class RenderCache:
    """Arrays by key under ``root/<kind>/<key[:2]>/<key>.npz``."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else default_cache_dir()

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / key[:2] / f"{key}.npz"

    def load(self, kind: str, key: str) -> dict[str, np.ndarray] | None:
        path = self._path(kind, key)
        try:
            with np.load(path, allow_pickle=False) as data:
                return {name: data[name] for name in data.files}
        except (OSError, ValueError, EOFError):
            # Missing, or a damaged entry (e.g. a full disk): render again.
            return None

    def load_or_make(self, kind: str, key: str,
                      make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The entry, made by ``make()`` and stored when missing; one process makes it while
        others wait for it (see :meth:`making`)."""
        arrays = self.load(kind, key)
        if arrays is None:
            with self.making(kind, key):
                arrays = self.load(kind, key)  # made by another process while this one waited
                if arrays is None:
                    arrays = make()
                    self.store(kind, key, arrays)
        return arrays

    def making(self, kind: str, key: str) -> AbstractContextManager[object]:
        """Held while one process makes an entry, so others wait for it instead of making it
        too (several test workers or run workers rendering one suite; a Kokoro line costs
        seconds of both cores). A cache that cannot hold the lock file only costs speed."""
        path = self._path(kind, key).with_suffix(".lock")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return nullcontext()
        if not os.access(path.parent, os.W_OK):
            return nullcontext()
        return FileLock(path, thread_local=False)

    def store(self, kind: str, key: str, arrays: dict[str, np.ndarray]) -> None:
        path = self._path(kind, key)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                np.savez(f, **arrays)
            os.replace(tmp, path)
        except OSError:
            # A read-only or full cache only costs speed.
            if tmp is not None and os.path.exists(tmp):
                os.unlink(tmp)
