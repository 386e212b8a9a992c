"""The README's promises: a newcomer reads it in minutes, its commands are real, and it leads into
the docs (where the references live: tests/docs/ checks those are generated from the code)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
MAX_README_LINES = 250


def test_readme_is_a_short_read() -> None:
    lines = len(README.splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move reference to docs/"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci.startswith("./setup.sh && .venv/bin/python -m pytest")
    assert f"\n{ci}\n" in README
    assert "./setup.sh && .venv/bin/harness run" in README


def test_readme_screenshot_exists() -> None:
    assert "](docs/report.png)" in README
    assert (REPO / "docs" / "report.png").is_file()


def test_readme_says_how_to_install_the_core_and_the_extras() -> None:
    assert "pipx install realtime-voice-harness" in README
    assert "pip install realtime-voice-harness" in README
    for extra in ("agent", "postgres", "ray"):
        assert f"`[{extra}]`" in README, extra


def test_the_references_live_in_the_docs_not_in_the_readme() -> None:
    for marker in ("expectation-reference", "scenario-reference"):
        assert f"<!-- {marker}:start -->" not in README
        assert f"<!-- {marker}:start -->" in "".join(
            p.read_text(encoding="utf-8") for p in (REPO / "docs").glob("*.md")), marker
