"""Output folders named by their UTC start time (``run-20261122-230512``), so that runs,
comparisons and load tests never mix and older reports stay readable; and files that appear
whole or not at all (``write_atomically``), such as a model joined from the parts its packages
ship (``join_checked``), checked by size and SHA-256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.resources.abc import Traversable
from pathlib import Path

from harness.errors import InputError

_BLOCK = 1 << 20


def new_stamped_folder(parent: Path, prefix: str) -> Path:
    """Create and return ``parent/<prefix>-<UTC time>``, with ``-2``, ``-3``… when taken."""
    stamp = datetime.now(UTC).strftime(f"{prefix}-%Y%m%d-%H%M%S")
    path, n = parent / stamp, 1
    while path.exists():
        n += 1
        path = parent / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path


Readable = Path | Traversable
"""A file to read: a ``Path``, or a packaged resource (``importlib.resources``)."""


def sha256_of(data: bytes | Readable) -> str:
    """SHA-256 (hex) of bytes, or of a file read in blocks."""
    digest = hashlib.sha256()
    if isinstance(data, bytes):
        digest.update(data)
        return digest.hexdigest()
    with data.open("rb") as fh:
        for block in iter(lambda: fh.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomically(target: Path, write: Callable[[Path], None]) -> None:
    """Make ``target`` with ``write(tmp)`` on a temporary file beside it, then rename it into
    place: readers see the old file or the whole new one, never a part. Another process may
    have made it meanwhile: the rename replaces it with the same content."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    os.close(fd)
    try:
        write(Path(tmp))
        Path(tmp).chmod(0o644)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def join_checked(parts: Sequence[Readable], target: Path, *, size: int, sha256: str,
                 what: str, hint: str = "", field: str | None = None) -> Path:
    """Join ``parts`` in order into ``target`` (atomically) when the result is ``size`` bytes
    with SHA-256 ``sha256``; else an ``InputError`` saying what came out (``what`` names the
    file, ``hint`` says how to repair it) and nothing is written."""

    def join(tmp: Path) -> None:
        digest, joined = hashlib.sha256(), 0
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(_BLOCK):
                        out.write(block)
                        digest.update(block)
                        joined += len(block)
        if joined != size or digest.hexdigest() != sha256:
            raise InputError(f"{what} is {joined} bytes with SHA-256 {digest.hexdigest()}; "
                             f"expected {size} bytes, {sha256}{hint}", field=field)

    write_atomically(target, join)
    return target
