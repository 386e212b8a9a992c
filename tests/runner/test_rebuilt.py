"""The agent's side rebuilt from audio (production calls, SIP calls): where a pause long enough to
end a response is found, and a stretch of sound cut there into two responses."""

from __future__ import annotations

import numpy as np

from harness.runner.rebuilt import (
    AGENT_GAP_MS,
    CALL_RATE,
    QUIET_SPLIT_MS,
    Stretch,
    first_quiet,
    split_at,
    stretches,
)


def _track(*spans: tuple[int, int], total_ms: int = 4000) -> np.ndarray:
    """Agent sound (a 300 Hz tone) over the given (start ms, end ms) spans."""
    x = np.zeros(total_ms * CALL_RATE // 1000, dtype=np.int16)
    for start, end in spans:
        t = np.arange((end - start) * CALL_RATE // 1000) / CALL_RATE
        x[start * CALL_RATE // 1000: end * CALL_RATE // 1000] = \
            (8000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16)
    return x


def test_a_pause_shorter_than_a_response_gap_is_one_stretch_cut_at_the_pause() -> None:
    # preamble 500-1500 ms, a 240 ms pause, the answer 1740-3000 ms; words 40 ms apart in both
    x = _track((500, 900), (940, 1500), (1740, 2400), (2440, 3000))
    parts = stretches(x, gap_ms=AGENT_GAP_MS, agent=True)
    assert len(parts) == 1
    # the tool answered at 1200 ms, while the preamble played: the first pause long enough
    # after it is the one between the two responses, not the one between words
    quiet = first_quiet(x, 1200, parts[0].end_ms)
    assert quiet is not None and abs(quiet - 1500) < 2
    assert first_quiet(x, 500, 3000, min_ms=QUIET_SPLIT_MS) == quiet  # word gaps are shorter
    cut = split_at(parts, [quiet + 1], x)
    assert [(round(p.start_ms), round(p.end_ms)) for p in cut] == [(500, 1500), (1740, 3000)]


def test_no_pause_no_cut() -> None:
    x = _track((500, 3000))
    assert first_quiet(x, 1000, 3000) is None
    assert split_at([Stretch(500, 3000)], [], x) == [Stretch(500, 3000)]
