"""The local agent's SIP endpoint is one per agent, however its first calls arrive."""

from __future__ import annotations

import asyncio

from agent_client import scripted_factory

from harness.agent import LocalAgent


def _tickers() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if "SipEndpoint._tick" in repr(t.get_coro())]


def test_two_calls_dialled_at_once_start_one_endpoint() -> None:
    """The calls of a run dial the agent at once: both get the same endpoint, and stopping the
    agent stops it (a second endpoint had been started and left running, its timer task
    destroyed pending at exit)."""
    asyncio.run(_dial_twice_at_once())


async def _dial_twice_at_once() -> None:
    async with LocalAgent(policy_factory=scripted_factory, preload_asr=False) as agent:
        first, second = await asyncio.gather(agent.start_sip({}), agent.start_sip({}))
        assert first == second
        assert len(_tickers()) == 1
    await asyncio.sleep(0)
    assert _tickers() == []
