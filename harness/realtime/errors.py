"""Why a realtime session failed: one TargetError subclass per cause, each with one clear message.

The messages name the target by its label or URL (never a header, so never a key) and say what
to check. ``retryable`` marks failures worth a retry with backoff: only the ones where no session
ever started (the host was unreachable or the handshake timed out).
"""

from __future__ import annotations

from harness.errors import TargetError


class ConnectFailed(TargetError):
    """The connection could not be opened: the WebSocket, or a WebRTC call's offer and answer
    (base of the connection-time failures)."""

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
    """The HTTP upgrade (or a WebRTC offer) was answered with another status or no SDP answer
    (not a realtime endpoint?)."""


class SessionFailed(TargetError):
    """The session opened but broke (base of the mid-session failures)."""

    retryable = False


class ClosedMidSession(SessionFailed):
    """The target closed the WebSocket (or ended the WebRTC call) before the scenario finished."""


class NoAnswer(SessionFailed):
    """The target did not answer in time (e.g. no ``session.updated`` after ``session.update``)."""


class ProtocolFailure(SessionFailed):
    """The target answered with an error event the session cannot go on after."""


def setup_refused(code: str | None, message: str, where: str) -> TargetError:
    """What an ``error`` event answering the session set-up means: the credentials were refused,
    the model is unknown, or the target refused the set-up for another reason."""
    text = f"{code or ''} {message}".lower()
    if code in ("invalid_api_key", "unauthorized", "authentication_error") or \
            "api key" in text or "unauthorized" in text:
        return AuthRefused(f"auth refused by {where}: {message}")
    if code in ("model_not_found", "deployment_not_found") or (
            "model" in text and ("not found" in text or "does not exist" in text
                                 or "unknown" in text)):
        return UnknownModel(f"unknown model at {where}: {message}")
    return ProtocolFailure(f"{where} rejected the session set-up: "
                           f"{code + ': ' if code else ''}{message}")
