"""Which in-process agent a run's call goes to (``harness.runner.local_agents``)."""

from __future__ import annotations

import asyncio

from harness.runner.local_agents import LocalAgents
from harness.scenario.models import AgentConfig


class _Agent:
    """Stands in for a started agent: its URLs name it."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.stopped = False

    @property
    def url(self) -> str:
        return f"ws://agent-{self.n}"

    @property
    def webrtc_url(self) -> str:
        return f"http://agent-{self.n}"

    def sip_uri_for(self, config: AgentConfig) -> str:
        return f"sip:agent-{self.n}"

    def stop(self) -> None:
        self.stopped = True


def test_sip_calls_of_configs_that_differ_in_their_session_get_agents_of_their_own() -> None:
    """A SIP endpoint answers every call with the one session it was started with, so two
    variants that differ only in the agent's voice must not share it; WebSocket calls carry
    their session and share one agent."""
    started: list[_Agent] = []

    def start(config: AgentConfig) -> _Agent:
        started.append(_Agent(len(started)))
        return started[-1]

    emma = AgentConfig(local_profile="support_desk", voice="bf_emma")
    george = AgentConfig(local_profile="support_desk", voice="bm_george")

    async def urls() -> list[str]:
        agents = LocalAgents(start)
        try:
            return [await agents.url(emma, transport="sip"),
                    await agents.url(george, transport="sip"),
                    await agents.url(emma, transport="sip"),
                    await agents.url(emma), await agents.url(george)]
        finally:
            await agents.stop()

    sip_emma, sip_george, sip_emma_again, ws_emma, ws_george = asyncio.run(urls())
    assert sip_emma == sip_emma_again != sip_george
    assert ws_emma == ws_george
    assert all(agent.stopped for agent in started)
