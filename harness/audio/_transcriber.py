"""What turns stretches of a call's audio into words where the call carries none (the agent's
words on a SIP call, a production call without a transcript), and what it can write."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Transcriber:
    """Clips of int16 mono audio at a rate → one text each.

    ``writes_only``: the one language it writes whatever was spoken (the offline recogniser,
    which decodes as English: the local agent's Spanish came out as "Thank you very much."), or
    None for one that writes the language spoken (a transcription endpoint). The ``language``
    check cannot grade a transcript whose language was fixed before anything was heard."""

    hear: Callable[[list[np.ndarray], int], list[str]]
    name: str
    writes_only: str | None = None

    def __call__(self, pieces: list[np.ndarray], rate: int) -> list[str]:
        return self.hear(pieces, rate)
