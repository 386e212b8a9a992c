"""The WebSocket transport of a realtime session: connect (timeouts, keepalive), send, receive.

This is the thin I/O layer around :class:`harness.realtime.protocol.RealtimeProtocol`. Every way a
connection can fail becomes one :mod:`harness.realtime.errors` exception with one clear message;
messages name the target's label or its URL without the query, never a header (so never a key).

Each received message carries the time its bytes arrived, taken when the event loop handed them
to the connection: not when the session's receive task got round to reading it, which can be a
batch of other streams' sends later.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections import deque
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    InvalidStatus,
)
from websockets.frames import DATA_OPCODES, Frame

from harness.realtime.errors import (
    AuthRefused,
    ClosedMidSession,
    ConnectFailed,
    HandshakeRejected,
    HandshakeTimeout,
    TLSFailure,
    UnknownModel,
    Unreachable,
)
from harness.realtime.events import ClientEvent
from harness.realtime.targets import Target

OPEN_TIMEOUT_S = 10.0
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 20.0
MAX_FRAME_BYTES = 16 * 1024 * 1024


def _status_error(target: Target, status: int, body: str) -> ConnectFailed:
    where = f"{target.label} ({target.safe_url})"
    lowered = body.lower()
    if status in (401, 403):
        return AuthRefused(f"auth refused by {where}: HTTP {status}; check the API key")
    if status == 404 and ("model" in lowered or "deployment" in lowered):
        return UnknownModel(f"unknown model at {where}: HTTP 404 ({body.strip()[:200]})")
    if status == 404:
        return HandshakeRejected(f"no realtime endpoint at {where}: HTTP 404")
    return HandshakeRejected(f"{where} refused the WebSocket upgrade: HTTP {status}"
                             + (f" ({body.strip()[:200]})" if body.strip() else ""))


def _closed_message(target: Target, exc: ConnectionClosed) -> str:
    frame = exc.rcvd or exc.sent
    detail = f"code {frame.code}" + (f", {frame.reason!r}" if frame.reason else "") if frame else \
        "no close frame"
    return f"{target.label} closed the session mid-call ({detail})"


class _StampedConnection(ClientConnection):
    """A client connection that notes, for each message, when its last frame's bytes arrived."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.arrivals: deque[int] = deque()
        self._data_ns = 0

    def data_received(self, data: bytes) -> None:
        self._data_ns = time.perf_counter_ns()
        super().data_received(data)

    def process_event(self, event: Any) -> None:
        super().process_event(event)
        if isinstance(event, Frame) and event.opcode in DATA_OPCODES and event.fin:
            self.arrivals.append(self._data_ns)


class RealtimeConnection:
    """An open WebSocket to a realtime target (use :meth:`open`)."""

    def __init__(self, target: Target, ws: ClientConnection):
        self.target = target
        self._ws = ws
        self._arrivals = ws.arrivals if isinstance(ws, _StampedConnection) else None

    @classmethod
    async def open(cls, target: Target, *, open_timeout: float = OPEN_TIMEOUT_S,
                   ping_interval: float | None = PING_INTERVAL_S,
                   ping_timeout: float | None = PING_TIMEOUT_S) -> RealtimeConnection:
        """Connect, or raise the :mod:`harness.realtime.errors` exception that says why not."""
        where = f"{target.label} ({target.safe_url})"
        try:
            ws = await connect(
                target.url, additional_headers=target.headers, open_timeout=open_timeout,
                ping_interval=ping_interval, ping_timeout=ping_timeout, close_timeout=2,
                # base64 audio barely compresses; deflate would only cost CPU on the hot path
                compression=None, max_size=MAX_FRAME_BYTES, proxy=None,
                user_agent_header="realtime-voice-harness", create_connection=_StampedConnection)
        except InvalidStatus as exc:
            body = exc.response.body.decode("utf-8", "replace") if exc.response.body else ""
            raise _status_error(target, exc.response.status_code, body) from None
        except ssl.SSLError as exc:
            raise TLSFailure(f"TLS handshake with {where} failed: {exc.reason or exc}") from None
        except TimeoutError:
            raise HandshakeTimeout(f"{where} did not complete the WebSocket handshake within "
                                   f"{open_timeout:g} s") from None
        except socket.gaierror as exc:
            raise Unreachable(f"cannot resolve the host of {where}: {exc.strerror}") from None
        except InvalidHandshake as exc:
            raise HandshakeRejected(
                f"{where} did not answer as a WebSocket server: {exc}") from None
        except OSError as exc:
            reason = exc.strerror or exc.__class__.__name__
            raise Unreachable(f"{where} is unreachable: {reason}") from None
        return cls(target, ws)

    async def send_text(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise ClosedMidSession(_closed_message(self.target, exc)) from None

    async def send(self, event: ClientEvent) -> str:
        """Send one client event; returns the text sent."""
        text = json.dumps(event, separators=(",", ":"))
        await self.send_text(text)
        return text

    async def recv(self) -> tuple[str | bytes, int]:
        """The next message and when it arrived (``time.perf_counter_ns``);
        :class:`ClosedMidSession` when the target closed the connection."""
        try:
            message = await self._ws.recv()
            arrived_ns = self._arrivals.popleft() if self._arrivals else time.perf_counter_ns()
            return message, arrived_ns
        except ConnectionClosedOK as exc:
            raise ClosedMidSession(_closed_message(self.target, exc)) from None
        except ConnectionClosed as exc:
            raise ClosedMidSession(_closed_message(self.target, exc)) from None

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._ws.close(), timeout=3)
        except (TimeoutError, ConnectionClosed, OSError):
            pass
