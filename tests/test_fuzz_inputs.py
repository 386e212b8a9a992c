"""Property-based: no scenario file, agent config or agent profile makes a loader raise anything
but the harness's own user error with a location (2,100 generated documents), and each of them
with a recursive alias or an alias bomb put anywhere is refused, located, within a second (600
more)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz_inputs import (
    BOMB_MESSAGE,
    HOSTILE_LOADERS,
    RECURSIVE_MESSAGE,
    agent_texts,
    check_agent,
    check_hostile,
    check_profile,
    check_scenario,
    hostile,
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


@pytest.mark.parametrize("kind", HOSTILE_LOADERS)
@settings(FUZZ, max_examples=100)
@given(data=st.data())
def test_hostile_files_are_refused_where_the_alias_is(kind: str, data: st.DataObject) -> None:
    seed = HOSTILE_LOADERS[kind][0]
    for hostile_kind, message in (("recursive", RECURSIVE_MESSAGE), ("bomb", BOMB_MESSAGE)):
        text = data.draw(hostile(seed, hostile_kind), label=hostile_kind)
        problem, _ = check_hostile(kind, text, FOLDER, message)
        assert problem is None, problem
