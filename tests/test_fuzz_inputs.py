"""Property-based: no scenario file, agent config or agent profile makes a loader raise anything
but the harness's own user error with a location (2,100 generated documents)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings

from tests.fuzz_inputs import (
    agent_texts,
    check_agent,
    check_profile,
    check_scenario,
    profile_texts,
    scenario_texts,
)

FUZZ = settings(max_examples=700, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FOLDER = Path(tempfile.mkdtemp(prefix="harness-fuzz-"))


@FUZZ
@given(scenario_texts)
def test_scenario_files_fail_only_with_located_user_errors(text: str) -> None:
    assert check_scenario(text, FOLDER) is None, check_scenario(text, FOLDER)


@FUZZ
@given(agent_texts)
def test_agent_configs_fail_only_with_located_user_errors(text: str) -> None:
    assert check_agent(text, FOLDER) is None, check_agent(text, FOLDER)


@FUZZ
@given(profile_texts)
def test_agent_profiles_fail_only_with_located_user_errors(text: str) -> None:
    assert check_profile(text, FOLDER) is None, check_profile(text, FOLDER)
