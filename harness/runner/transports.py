"""The connection and the trial session a target's transport takes: a WebSocket, a WebRTC call
(imported only when a call uses it: aiortc is the ``webrtc`` extra), or a SIP call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.realtime.client import RealtimeConnection
from harness.realtime.dialects import session_config
from harness.realtime.netem import NetworkConditions
from harness.realtime.targets import Target
from harness.runner.session import TrialSession
from harness.scenario.models import AgentConfig


def call_session(config: AgentConfig, target: Target) -> dict[str, Any] | None:
    """The session config a call is opened with where the target takes it with the call (an
    ephemeral key minted with it, ``openai-webrtc``, ``azure-webrtc``): the ``session.update``'s.
    Its ``model`` is the target's (:attr:`Target.model`: on Azure the deployment, which need not
    be the config's model)."""
    if target.secrets_url is None:
        return None
    instructions = config.instructions
    if instructions is None and config.instructions_file is not None:
        instructions = Path(config.instructions_file).read_text(encoding="utf-8")
    return session_config(config, instructions, target.dialect)


async def open_connection(target: Target, session: dict[str, Any] | None = None,
                          network: NetworkConditions | None = None) -> Any:
    """An open connection to ``target``, or the :mod:`harness.realtime.errors` exception that
    says why not. ``session``: see :func:`call_session`; ``network``: conditions imposed on a
    WebRTC call's path (a WebSocket is not impaired: RunOptions refuses the pair)."""
    if target.transport == "webrtc":
        from harness.realtime.webrtc import WebRTCConnection  # noqa: PLC0415 - aiortc

        return await WebRTCConnection.open(target, session=session, network=network)
    if target.transport == "sip":
        from harness.runner.sip_session import SipConnection  # noqa: PLC0415

        return SipConnection(target)  # the trial places the call (its INVITE names its tools)
    return await RealtimeConnection.open(target)


def session_class(target: Target) -> Any:
    """The session class that runs a trial over ``target``'s transport (a
    :class:`TrialSession`, or over SIP a :class:`harness.runner.sip_session.SipTrialSession`)."""
    if target.transport == "sip":
        from harness.runner.sip_session import SipTrialSession  # noqa: PLC0415

        return SipTrialSession
    if target.transport == "webrtc":
        from harness.runner.webrtc_session import WebRTCTrialSession  # noqa: PLC0415 - aiortc

        return WebRTCTrialSession
    return TrialSession
