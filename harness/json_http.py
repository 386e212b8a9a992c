"""A small HTTP/1.1 server of JSON answers on asyncio streams (``h11``): the endpoints the
harness serves during a call (the tool webhooks, :mod:`harness.runner.webhooks`, and the
Realtime API's call webhook, :mod:`harness.runner.sideband`) and the local agent's REST routes
for its realtime calls (:mod:`harness.agent.realtime_calls_api`).

A subclass answers each request in :meth:`JsonHttpServer.respond`; the server speaks the
protocol (keep-alive, ``Expect: 100-continue``, chunked bodies, a body limit, an idle timeout).
Headers reach :meth:`~JsonHttpServer.respond` and go no further: what a subclass keeps of them is
its business (an ``Authorization`` header never reaches a recording or a log).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from http import HTTPStatus
from typing import Any

import h11

MAX_BODY_BYTES = 1 << 20
IDLE_TIMEOUT_S = 60.0
"""A connection that sends nothing for this long is closed."""

Answer = tuple[int, Any, dict[str, str], list[Any]]
"""What :meth:`JsonHttpServer.respond` returns: status, JSON payload (None: no body), extra
headers, and what the request was (given to :meth:`JsonHttpServer.answered` once written)."""


class Refusal(Exception):
    """Raised by :meth:`JsonHttpServer.respond` (through :meth:`JsonHttpServer.refuse`): the
    request is answered with ``status`` and ``{"error": reason}``."""

    def __init__(self, status: HTTPStatus, reason: str, headers: dict[str, str] | None = None
                 ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers or {}


class JsonHttpServer:
    """Listens on ``host:port`` (``port=0``: a free one) from :meth:`start` to :meth:`stop`."""

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def base_url(self) -> str:
        """The server's URL on this machine (loopback when it listens on every interface)."""
        host = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self.port}"

    async def start(self) -> str:
        """Listen (``port=0``: on a free port); the base URL. A port that cannot be had (in use,
        not allowed) raises ``OSError``."""
        self._server = await asyncio.start_server(self._http_connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.base_url

    async def stop(self) -> None:
        """Stop listening and drop open connections; requests still waiting stay unanswered."""
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    # ------------------------------------------------------------------ what a subclass does

    async def respond(self, method: str, target: str, headers: dict[str, str], body: bytes
                      ) -> Answer:
        """The answer to one request (header names lower-cased); raise :meth:`refuse`'s
        :class:`Refusal` to answer with an error."""
        raise NotImplementedError

    def error_body(self, status: int, reason: str) -> Any:
        """The JSON body of a refusal (``{"error": reason}``; a subclass may speak another
        service's error shape)."""
        return {"error": reason}

    def refused(self, method: str, path: str, status: HTTPStatus, reason: str) -> None:
        """A request was refused (a hook: the tool endpoint keeps a list)."""

    def answered(self, requests: list[Any]) -> None:
        """The answer to ``requests`` (what :meth:`respond` returned last) has been written."""

    def refuse(self, method: str, target: str, status: HTTPStatus, reason: str,
               headers: dict[str, str] | None = None) -> Refusal:
        from urllib.parse import urlsplit  # noqa: PLC0415 - rarely needed

        self.refused(method, urlsplit(target).path, status, reason)
        return Refusal(status, reason, headers)

    # ------------------------------------------------------------------ HTTP

    async def _http_connection(self, reader: asyncio.StreamReader,
                               writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            await self._http_serve(h11.Connection(h11.SERVER), reader, writer)
        except (ConnectionError, TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(ConnectionError, asyncio.CancelledError):
                await writer.wait_closed()

    async def _http_serve(self, conn: h11.Connection, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                request = await self._http_read(conn, reader, writer)
                if request is None:
                    return
                method, path, headers, body = request
                status, payload, extra, requests = await self.respond(method, path, headers, body)
            except Refusal as refusal:
                if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
                    return
                status, payload, extra, requests = (
                    refusal.status, self.error_body(refusal.status, refusal.reason),
                    refusal.headers, [])
            except h11.RemoteProtocolError as exc:
                if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
                    return
                self.refused("?", "?", HTTPStatus.BAD_REQUEST, f"not HTTP/1.1: {exc}")
                status, payload, extra, requests = (
                    HTTPStatus.BAD_REQUEST,
                    self.error_body(HTTPStatus.BAD_REQUEST, f"not HTTP/1.1: {exc}"), {}, [])
            await self._http_write(conn, writer, status, payload, extra)
            self.answered(requests)
            if conn.their_state is not h11.DONE:
                # answered before the body was read (too large): read the rest away, or closing
                # with unread data resets the connection and the client may lose the answer
                await _discard_rest(reader)
                return
            if conn.our_state is h11.MUST_CLOSE:
                return
            conn.start_next_cycle()

    async def _http_read(self, conn: h11.Connection, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter
                    ) -> tuple[str, str, dict[str, str], bytes] | None:
        """The next request (method, target, headers, body); None when the client closed the
        connection."""
        target: tuple[str, str] | None = None
        headers: dict[str, str] = {}
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await asyncio.wait_for(reader.read(65536), IDLE_TIMEOUT_S)
                conn.receive_data(data)
            elif isinstance(event, h11.Request):
                target = (event.method.decode("ascii", "replace"),
                          event.target.decode("ascii", "replace"))
                headers = {name.decode("ascii", "replace").lower(): value.decode("latin-1")
                           for name, value in event.headers}
                length = headers.get("content-length", "0")
                if length.isdigit() and int(length) > MAX_BODY_BYTES:
                    raise self.refuse(*target, HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                      f"a body of at most {MAX_BODY_BYTES} bytes")
                if conn.client_is_waiting_for_100_continue:
                    writer.write(conn.send(h11.InformationalResponse(
                        status_code=100, headers=[])) or b"")
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_BODY_BYTES and target is not None:
                    raise self.refuse(*target, HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                                      f"a body of at most {MAX_BODY_BYTES} bytes")
            elif isinstance(event, h11.EndOfMessage):
                assert target is not None
                return target[0], target[1], headers, bytes(body)
            else:  # ConnectionClosed, or PAUSED after a response we sent early
                return None

    async def _http_write(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int,
                     payload: Any, headers: dict[str, str]) -> None:
        body = json.dumps(payload).encode() if payload is not None else b""
        head = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        head += list(headers.items())
        if conn.their_state is not h11.DONE:
            head.append(("Connection", "close"))  # the rest of its body is not read
        writer.write(conn.send(h11.Response(status_code=status, headers=head,
                                            reason=HTTPStatus(status).phrase)) or b"")
        writer.write(conn.send(h11.Data(data=body)) or b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()


async def _discard_rest(reader: asyncio.StreamReader) -> None:
    """Read what the client still sends, up to a limit, for at most a few seconds."""
    left = 16 * MAX_BODY_BYTES
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(5.0):
            while left > 0 and (data := await reader.read(65536)):
                left -= len(data)
