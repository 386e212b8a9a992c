"""The start order of an interleaved comparison: (scenario, trial) blocks, variants rotated."""

from __future__ import annotations

from typing import Any

from harness.scenario.models import Scenario


def interleaved_order(scenarios: list[Scenario], variants: list[str], trials: int
                      ) -> tuple[list[int], list[dict[str, Any]]]:
    """Start positions in the plan (per scenario, each variant's trials in a block), one
    (scenario, trial) block after another, the variants rotated from block to block so each
    starts first, second, … equally often: a variant never gains from always starting first
    on a warm machine or last on a busy one. Returns the positions and the blocks' orders."""
    count = len(variants)
    order: list[int] = []
    blocks: list[dict[str, Any]] = []
    for si, scenario in enumerate(scenarios):
        for k in range(trials):
            block = si * trials + k
            rotated = [(block + j) % count for j in range(count)]
            order.extend(si * count * trials + vi * trials + k for vi in rotated)
            blocks.append({"scenario": scenario.name, "trial": k,
                           "order": [variants[vi] for vi in rotated]})
    return order, blocks
