"""Load ramps: the concurrency levels a load test holds, and for how long, from a ``--ramp``."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from harness.errors import InputError

DEFAULT_STEPS = 5
"""Levels a linear ramp ``START:END:DURATION`` is cut into."""

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m|min|h)?$")
_UNIT_S = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True)
class Level:
    """``concurrency`` calls in flight for ``hold_s`` seconds."""

    concurrency: int
    hold_s: float


def _duration_s(text: str) -> float:
    match = _DURATION.match(text.strip())
    if match is None:
        raise InputError(f"{text!r} is not a duration (e.g. 300s, 5m, 1.5h)", field="--ramp")
    return float(match.group(1)) * _UNIT_S[match.group(2)]


def _count(text: str) -> int:
    if not text.strip().isdigit() or int(text) < 1:
        raise InputError(f"{text!r} is not a number of concurrent calls (1 or more)",
                         field="--ramp")
    return int(text)


def parse_ramp(text: str) -> list[Level]:
    """``START:END:DURATION[:STEPS]`` (a linear ramp cut into STEPS levels held equally long,
    e.g. ``10:200:300s``) or ``A,B,C:HOLD`` (those levels, each held HOLD, e.g. ``10,50:60s``)."""
    parts = text.split(":")
    if len(parts) == 2:
        hold = _duration_s(parts[1])
        levels = [Level(_count(c), hold) for c in parts[0].split(",")]
    elif len(parts) in (3, 4):
        start, end = _count(parts[0]), _count(parts[1])
        steps = _count(parts[3]) if len(parts) == 4 else DEFAULT_STEPS
        steps = min(steps, abs(end - start) + 1)
        hold = _duration_s(parts[2]) / steps
        counts = np.linspace(start, end, steps).round().astype(int)
        levels = [Level(int(c), hold) for c in counts]
    else:
        raise InputError(f"ramp {text!r}: expected START:END:DURATION[:STEPS] (10:200:300s) "
                         "or LEVELS:HOLD (10,50,100:60s)", field="--ramp")
    if any(level.hold_s <= 0 for level in levels):
        raise InputError(f"ramp {text!r}: each level must be held for some time",
                         field="--ramp")
    return levels
