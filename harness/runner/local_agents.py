"""The in-process reference agents a run starts for the ``local`` targets (the runner does not
know the agent: whoever runs the local target hands it a starter)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from harness.errors import InputError
from harness.scenario.models import AgentConfig


class LocalAgentHandle(Protocol):
    """A running local agent: where it listens, and how to stop it."""

    @property
    def url(self) -> str: ...

    @property
    def webrtc_url(self) -> str: ...

    def sip_uri_for(self, config: AgentConfig) -> str: ...

    def stop(self) -> None: ...


LocalAgentStarter = Callable[[AgentConfig], LocalAgentHandle]
"""Starts the local reference agent for an agent config: its ``local_profile`` with its tools'
flags (blocking until it listens).

The runner does not know the agent: whoever runs the ``local`` target hands it this
(:mod:`harness.api` and the pytest plugin pass :func:`harness.agent.start_local_agent_for`)."""


def needs_local_agent() -> InputError:
    return InputError("the local target needs the local agent: pass "
                      "local_agent=harness.agent.start_local_agent_for (harness.api.run does), or "
                      "the URL of a running one", field="target")


class LocalAgents:
    """The in-process reference agents of a run: one per agent config's profile and tool flags
    (over SIP, per agent config), started on first use.

    Trials share them (faults go in each session's URL); :meth:`stop` shuts them all down.
    """

    def __init__(self, start: LocalAgentStarter | None) -> None:
        self._start = start
        self._handles: dict[tuple[Any, ...], LocalAgentHandle] = {}
        self._lock = asyncio.Lock()

    async def url(self, config: AgentConfig, *, transport: str = "websocket") -> str:
        """The URL of the local agent serving ``config`` (its profile and its tool flags); over
        WebRTC its calls URL, over SIP its SIP URI (those start on first use)."""
        key: tuple[Any, ...] = (config.local_profile, tuple(config.write_tools),
                                tuple(config.escalation_tools), tuple(config.wait_tools))
        if transport == "sip":
            # a SIP endpoint answers every call with one agent config's session (its voice,
            # instructions, turn detection): variants that differ in it need agents of their own
            key += ("sip", config.model_dump_json())
        async with self._lock:
            if key not in self._handles:
                if self._start is None:
                    raise needs_local_agent()
                # starting loads the ASR model: keep it off the event loop
                self._handles[key] = await asyncio.to_thread(self._start, config)
            handle = self._handles[key]
        if transport == "webrtc":
            return await asyncio.to_thread(lambda: handle.webrtc_url)
        if transport == "sip":
            return await asyncio.to_thread(handle.sip_uri_for, config)
        return handle.url

    async def stop(self) -> None:
        handles, self._handles = list(self._handles.values()), {}
        for handle in handles:
            await asyncio.to_thread(handle.stop)
