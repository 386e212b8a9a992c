"""The start order of an interleaved comparison: (scenario, trial) blocks, variants rotated
(and, for an odd number of variants, every other round of rotations reversed: a Williams
design)."""

from __future__ import annotations

from typing import Any

from harness.scenario.models import Scenario


def interleaved_order(scenarios: list[Scenario], variants: list[str], trials: int
                      ) -> tuple[list[int], list[dict[str, Any]]]:
    """Start positions in the plan (per scenario, each variant's trials in a block), one
    (scenario, trial) block after another, the variants rotated from block to block so each
    starts first, second, … equally often: a variant never gains from always starting first
    on a warm machine or last on a busy one. With an odd number of variants every other round
    of rotations is reversed, so that each variant also starts before each other one equally
    often (rotations alone put A before B in two blocks of three: calls that start together
    queue for the agent's recogniser in their start order). Returns the positions and the
    blocks' orders."""
    count = len(variants)
    order: list[int] = []
    blocks: list[dict[str, Any]] = []
    for si, scenario in enumerate(scenarios):
        for k in range(trials):
            block = si * trials + k
            rotated = [(block + j) % count for j in range(count)]
            if count % 2 == 1 and (block // count) % 2 == 1:
                rotated.reverse()
            order.extend(si * count * trials + vi * trials + k for vi in rotated)
            blocks.append({"scenario": scenario.name, "trial": k,
                           "order": [variants[vi] for vi in rotated]})
    return order, blocks
