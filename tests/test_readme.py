"""The README's promises: its generated references are current and its commands are real."""

from __future__ import annotations

import re
from pathlib import Path

from harness.scoring import expectation_reference_markdown

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")


def test_expectation_reference_is_generated_from_the_registry() -> None:
    match = re.search(r"<!-- expectation-reference:start -->\n(.*?)"
                      r"<!-- expectation-reference:end -->", README, re.S)
    assert match, "README.md lacks the expectation-reference markers"
    assert match.group(1).strip() == expectation_reference_markdown().strip()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci.startswith("./setup.sh && .venv/bin/python -m pytest")
    assert f"\n{ci}\n" in README
    assert "./setup.sh && .venv/bin/harness run" in README


def test_readme_screenshot_exists() -> None:
    assert (REPO / "docs" / "report.png").is_file()
