"""Why a realtime session failed: one TargetError subclass per cause, each with one clear message.

The messages name the target by its label or URL (never a header, so never a key) and say what
to check. ``retryable`` marks failures worth a retry with backoff: only the ones where no session
ever started (the host was unreachable or the handshake timed out).
"""

from __future__ import annotations

from harness.errors import TargetError


class ConnectFailed(TargetError):
    """The WebSocket could not be opened (base of the connection-time failures)."""

    retryable = False


class Unreachable(ConnectFailed):
    """Nothing answered at the host and port (refused, unknown host, network down)."""

    retryable = True


class HandshakeTimeout(ConnectFailed):
    """The TCP/TLS/WebSocket handshake did not finish in time."""

    retryable = True


class TLSFailure(ConnectFailed):
    """The TLS handshake failed (certificate, protocol version, plain-text server)."""


class AuthRefused(ConnectFailed):
    """The target refused the credentials (HTTP 401/403 or an auth error event)."""


class UnknownModel(ConnectFailed):
    """The target does not know the requested model or deployment."""


class HandshakeRejected(ConnectFailed):
    """The HTTP upgrade was answered with another status (not a WebSocket endpoint?)."""


class SessionFailed(TargetError):
    """The session opened but broke (base of the mid-session failures)."""

    retryable = False


class ClosedMidSession(SessionFailed):
    """The target closed the WebSocket before the scenario finished."""


class NoAnswer(SessionFailed):
    """The target did not answer in time (e.g. no ``session.updated`` after ``session.update``)."""


class ProtocolFailure(SessionFailed):
    """The target answered with an error event the session cannot go on after."""
