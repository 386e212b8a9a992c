"""Shared fixtures of the audio tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A render cache shared by the audio tests (never the repository's)."""
    return tmp_path_factory.mktemp("render-cache")
