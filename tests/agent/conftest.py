"""Fixtures for the local agent's tests: agents running on loopback in background threads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from agent_client import scripted_factory

from harness.agent import LocalAgentHandle, start_local_agent


@pytest.fixture(scope="session")
def scripted_agent() -> Iterator[LocalAgentHandle]:
    """The agent with the scripted policy (protocol tests)."""
    handle = start_local_agent(policy_factory=scripted_factory)
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def support_agent() -> Iterator[LocalAgentHandle]:
    """The agent with the shipped ``support_desk`` profile."""
    handle = start_local_agent("support_desk")
    yield handle
    handle.stop()
