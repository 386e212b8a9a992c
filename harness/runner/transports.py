"""The connection and the trial session a target's transport takes: a WebSocket, or a WebRTC call
(imported only when a call uses it: aiortc is the ``webrtc`` extra)."""

from __future__ import annotations

from typing import Any

from harness.realtime.client import RealtimeConnection
from harness.realtime.targets import Target
from harness.runner.session import TrialSession


async def open_connection(target: Target) -> Any:
    """An open connection to ``target``, or the :mod:`harness.realtime.errors` exception that
    says why not."""
    if target.transport == "webrtc":
        from harness.realtime.webrtc import WebRTCConnection  # noqa: PLC0415 - aiortc

        return await WebRTCConnection.open(target)
    return await RealtimeConnection.open(target)


def session_class(target: Target) -> type[TrialSession]:
    """The :class:`TrialSession` that runs a trial over ``target``'s transport."""
    if target.transport == "webrtc":
        from harness.runner.webrtc_session import WebRTCTrialSession  # noqa: PLC0415 - aiortc

        return WebRTCTrialSession
    return TrialSession
