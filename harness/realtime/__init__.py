"""Realtime API client: targets, GA/beta dialects, a sans-I/O protocol, a WebSocket transport.

Importing the package does no I/O and loads no network library: scoring replays recordings
through :class:`RealtimeProtocol` without a socket. The WebSocket transport,
:class:`harness.realtime.client.RealtimeConnection`, is imported from its own module.
"""

from harness.realtime.dialects import BETA_TO_GA_EVENTS, Dialect, normalize_event, session_config
from harness.realtime.errors import (
    AuthRefused,
    ClosedMidSession,
    ConnectFailed,
    HandshakeRejected,
    HandshakeTimeout,
    NoAnswer,
    ProtocolFailure,
    SessionFailed,
    TLSFailure,
    UnknownModel,
    Unreachable,
)
from harness.realtime.protocol import RealtimeProtocol
from harness.realtime.targets import Target, local_target, parse_spec, resolve_target

__all__ = [
    "BETA_TO_GA_EVENTS",
    "AuthRefused",
    "ClosedMidSession",
    "ConnectFailed",
    "Dialect",
    "HandshakeRejected",
    "HandshakeTimeout",
    "NoAnswer",
    "ProtocolFailure",
    "RealtimeProtocol",
    "SessionFailed",
    "TLSFailure",
    "Target",
    "UnknownModel",
    "Unreachable",
    "local_target",
    "normalize_event",
    "parse_spec",
    "resolve_target",
    "session_config",
]
