"""MkDocs hook: the docs' generated references, filled in from the code when the site is built.

A page marks a generated block with ``<!-- NAME:start -->`` and ``<!-- NAME:end -->``. What the
source holds between the markers (a note for readers of the file on GitHub) is replaced by the
output of the generator ``NAME`` stands for, so the references are never written by hand and
always match the models and the scorer registry of the installed harness (plugins included).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from harness.compare import ComparisonSpec, VariantSpec
from harness.scenario import agent_config_reference_markdown, scenario_reference_markdown
from harness.scenario.schema import AGENT_CONFIG_SECTIONS, models_reference_markdown
from harness.scoring import expectation_reference_markdown

COMPARISON_SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("Comparison file (top level)", ComparisonSpec),
    ("VariantSpec (a value of `variants`)", VariantSpec),
]
"""The models of a comparison file, in the order ``docs/compare.md`` documents them."""


def comparison_reference_markdown() -> str:
    """The comparison file reference of ``docs/compare.md``, generated from its models."""
    intro = ("Generated from `harness/compare/_spec.py`; editors get the same information from "
             "`schemas/comparison.schema.json`. Unknown keys are errors everywhere. Paths are "
             "relative to the comparison file.\n")
    return intro + "\n" + models_reference_markdown(
        COMPARISON_SECTIONS, level=3, documented=[m for _, m in AGENT_CONFIG_SECTIONS])


GENERATORS: dict[str, Callable[[], str]] = {
    "scenario-reference": scenario_reference_markdown,
    "agent-config-reference": agent_config_reference_markdown,
    "expectation-reference": expectation_reference_markdown,
    "comparison-reference": comparison_reference_markdown,
}
"""Marker name → the function whose Markdown fills the block."""

BLOCK = re.compile(r"(<!-- ([a-z-]+):start -->\n).*?(<!-- \2:end -->)", re.S)


def fill(markdown: str) -> str:
    """``markdown`` with every generated block replaced by its generator's current output."""

    def generated(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in GENERATORS:
            raise ValueError(f"unknown generated block {name!r}; known: "
                             + ", ".join(sorted(GENERATORS)))
        return f"{match.group(1)}\n{GENERATORS[name]().strip()}\n\n{match.group(3)}"

    return BLOCK.sub(generated, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    return fill(markdown)
