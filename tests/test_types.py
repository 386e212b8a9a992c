"""The strictly typed parts stay strict: ``mypy --strict`` on scoring, stats, realtime, SIP and
the recording format reports nothing (with the repository's mypy configuration from pyproject.toml).
Modules they import are followed for their types, but only these are checked."""

from __future__ import annotations

import tomllib
from pathlib import Path

from mypy import api

ROOT = Path(__file__).resolve().parents[1]

STRICT = {"harness/scoring": "harness.scoring.*", "harness/stats": "harness.stats.*",
          "harness/realtime": "harness.realtime.*", "harness/recording.py": "harness.recording",
          "harness/sip": "harness.sip.*"}
"""The paths checked with --strict, and the module pattern pyproject.toml gives the same flags."""


def test_strict_modules_type_check() -> None:
    stdout, stderr, status = api.run([
        "--config-file", str(ROOT / "pyproject.toml"), "--strict", "--follow-imports=silent",
        "--cache-dir", str(ROOT / ".mypy_cache"), "--no-error-summary", "--show-error-codes",
        *(str(ROOT / path) for path in STRICT)])
    assert status == 0 and not stdout.strip(), f"mypy --strict found errors:\n{stdout}{stderr}"


def test_pyproject_makes_the_same_modules_strict() -> None:
    # A plain `mypy` applies the per-module flags of --strict to exactly the modules checked here.
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    strict = [o for o in config["tool"]["mypy"]["overrides"] if o.get("disallow_untyped_defs")]
    assert len(strict) == 1 and sorted(strict[0]["module"]) == sorted(STRICT.values())
