"""Output folders named by their UTC start time (``run-20261122-230512``), so that runs,
comparisons and load tests never mix and older reports stay readable."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path


def new_stamped_folder(parent: Path, prefix: str) -> Path:
    """Create and return ``parent/<prefix>-<UTC time>``, with ``-2``, ``-3``… when taken."""
    stamp = datetime.now(UTC).strftime(f"{prefix}-%Y%m%d-%H%M%S")
    path, n = parent / stamp, 1
    while path.exists():
        n += 1
        path = parent / f"{stamp}-{n}"
    path.mkdir(parents=True)
    return path
