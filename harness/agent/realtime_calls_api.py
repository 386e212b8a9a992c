"""The Realtime API's call routes, served by the local agent for its realtime calls
(:mod:`harness.agent.realtime_calls`), at ``http://HOST:PORT/v1``:

- ``POST /v1/realtime/calls/{call_id}/accept`` with a session (``{"type": "realtime", "model",
  "instructions", "tools", "audio", …}``, what ``client.realtime.calls.accept`` sends): the call is
  answered with that session; ``200``.
- ``POST /v1/realtime/calls/{call_id}/reject`` with an optional ``{"status_code": N}``: the
  INVITE gets that final status (603 by default); ``200``.
- ``POST /v1/realtime/calls/{call_id}/hangup``: an answered call is ended with BYE; ``200``.

An unknown call is ``404``, a call no longer pending (or, for hangup, one that has ended)
``409``, a body that is not a JSON object or a session the service would refuse ``400``; errors
are OpenAI's error object (``{"error": {"message", "type", "param", "code"}}``). Another path is
``404``, another method ``405``. An ``Authorization`` header is accepted and ignored: the local
agent asks for no key, and keeps no header. HTTP/1.1 is spoken by ``h11`` on asyncio streams,
keep-alive included (the SDK's client reuses its connections).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

import h11

from harness.agent.realtime_calls import ApiError, RealtimeCallBook

log = logging.getLogger(__name__)

API_PREFIX = "/v1"
ROUTE = re.compile(r"/v1/realtime/calls/([^/]+)/(accept|reject|hangup)/?")
MAX_BODY_BYTES = 1 << 20
IDLE_TIMEOUT_S = 60.0


class CallsApi:
    """Serves the call routes of ``book`` on ``host:port`` (``port=0``: a free one)."""

    def __init__(self, book: RealtimeCallBook, host: str = "127.0.0.1", port: int = 0) -> None:
        self.book = book
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}

    @property
    def url(self) -> str:
        """``http://HOST:PORT/v1``: the base URL of an OpenAI client."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{API_PREFIX}"

    async def start(self) -> CallsApi:
        self._server = await asyncio.start_server(self._accept, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._connections.values():
            writer.close()  # its reader sees the end: the connection's task ends (a cancelled
            # one would be logged by asyncio as an error)
        if self._connections:
            await asyncio.wait(list(self._connections), timeout=2.0)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    def respond(self, method: str, target: str, body: bytes) -> tuple[int, Any]:
        """The status and JSON payload (None: no body) of one request."""
        path = urlsplit(target).path
        route = ROUTE.fullmatch(path)
        try:
            if route is None:
                raise ApiError(404, f"Invalid URL ({method} {path}).", code="unknown_url")
            if method != "POST":
                raise ApiError(405, f"Method {method} not allowed: POST to {path}.",
                               code="method_not_allowed")
            try:
                payload = json.loads(body) if body.strip() else {}
            except (ValueError, UnicodeDecodeError):
                payload = None
            if not isinstance(payload, dict):
                raise ApiError(400, "The body must be a JSON object.", code="invalid_json")
            call_id, action = unquote(route.group(1)), route.group(2)
            getattr(self.book, action)(call_id, payload)
            log.info("realtime call %s: %s", call_id, action)
        except ApiError as exc:
            log.info("realtime calls API: %s %s → %d", method, path, exc.status)
            return exc.status, exc.body
        except Exception:  # noqa: BLE001 - the client gets a 500, the server goes on
            log.exception("realtime calls API: %s %s failed", method, path)
            return HTTPStatus.INTERNAL_SERVER_ERROR, ApiError(500, "The server failed.").body
        return HTTPStatus.OK, None

    # ------------------------------------------------------------------ HTTP

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections[task] = writer
        conn = h11.Connection(h11.SERVER)
        try:
            while (request := await self._read(conn, reader)) is not None:
                method, target, body, too_large = request
                if too_large:
                    status, payload = 413, {"error": {
                        "message": f"A body of at most {MAX_BODY_BYTES} bytes.",
                        "type": "invalid_request_error", "param": None, "code": None}}
                else:
                    status, payload = self.respond(method, target, body)
                data = json.dumps(payload).encode() if payload is not None else b""
                head = [("Content-Type", "application/json"), ("Content-Length", str(len(data)))]
                if too_large:
                    head.append(("Connection", "close"))
                writer.write(conn.send(h11.Response(status_code=status, headers=head,
                                                    reason=HTTPStatus(status).phrase)) or b"")
                writer.write(conn.send(h11.Data(data=data)) or b"")
                writer.write(conn.send(h11.EndOfMessage()) or b"")
                await writer.drain()
                if conn.our_state is h11.MUST_CLOSE or too_large:
                    break
                conn.start_next_cycle()
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError,
                h11.RemoteProtocolError, h11.LocalProtocolError):
            pass
        finally:
            self._connections.pop(task, None)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _read(self, conn: h11.Connection, reader: asyncio.StreamReader
                    ) -> tuple[str, str, bytes, bool] | None:
        """The next request (method, target, body, whether the body was too large); None when
        the client closed the connection."""
        method = target = ""
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT_S))
            elif isinstance(event, h11.Request):
                method = event.method.decode("ascii", "replace")
                target = event.target.decode("ascii", "replace")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES:
                    return method, target, b"", True
            elif isinstance(event, h11.EndOfMessage):
                return method, target, bytes(body), False
            else:  # ConnectionClosed
                return None
