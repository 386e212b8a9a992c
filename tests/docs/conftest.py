"""The documentation site, built once per test session with the environment's MkDocs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Build:
    """One ``mkdocs build --strict``: where it wrote the site, what it printed, how long it took."""

    site: Path
    returncode: int
    output: str
    seconds: float

    def page(self, name: str) -> str:
        """The built HTML of ``docs/<name>.md``."""
        assert self.returncode == 0, self.output
        return (self.site / name / "index.html").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def docs_build(tmp_path_factory: pytest.TempPathFactory) -> Build:
    site = tmp_path_factory.mktemp("site")
    mkdocs = Path(sys.executable).with_name("mkdocs")
    assert mkdocs.is_file(), "MkDocs is part of the test extra: pip install -e '.[test]'"
    start = time.monotonic()
    proc = subprocess.run([str(mkdocs), "build", "--strict", "--site-dir", str(site)], cwd=REPO,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
                          capture_output=True, text=True, timeout=300)
    return Build(site, proc.returncode, proc.stdout + proc.stderr, time.monotonic() - start)
