"""The local reference agent: a cascaded voice agent (VAD → ASR → dialogue policy → TTS) behind
the Realtime GA WebSocket protocol, with switchable faults.

Public API: :class:`LocalAgent` (async context manager, serves in the running loop),
:func:`start_local_agent` (background thread; ``handle.url``, ``handle.stop()``) and
:func:`serve_forever` (``harness agent serve``). Faults per session go in the URL query:
``ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime&faults=no_preamble,added_latency_ms=400``.
"""

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
