"""The local reference agent: a cascaded voice agent (VAD → ASR → dialogue policy → TTS) behind
the Realtime GA WebSocket protocol, with switchable faults.

Public API: :class:`LocalAgent` (async context manager, serves in the running loop),
:func:`start_local_agent` (background thread; ``handle.url``, ``handle.stop()``) and
:func:`serve_forever` (``harness agent serve``). Faults per session go in the URL query:
``ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime&faults=no_preamble,added_latency_ms=400``.

The agent needs the ``agent`` extra (its voice activity detector and recogniser). Its light
modules (faults, profiles, repairs) import without it, so a comparison file's faults validate on
a core install; the names below load the server on first use, or say which extra to install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.extras import require

if TYPE_CHECKING:
    from harness.agent.server import (
        LocalAgent,
        LocalAgentHandle,
        agent_config_options,
        serve_forever,
        start_local_agent,
        start_local_agent_for,
    )

__all__ = ["LocalAgent", "LocalAgentHandle", "agent_config_options", "serve_forever",
           "start_local_agent", "start_local_agent_for"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require("agent", "the local reference agent (target 'local')")
    from harness.agent import server  # noqa: PLC0415 - the VAD and ASR stack

    return getattr(server, name)
