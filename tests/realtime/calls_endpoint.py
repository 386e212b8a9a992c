"""Loopback HTTP for the WebRTC test peers: the calls endpoint's server (one request a connection,
read in full, answered, closed), a base class whose subclasses say how to answer, and a server
that gives every request the same canned response."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any


@dataclass
class Request:
    line: str
    """The request line, e.g. ``POST /v1/realtime/calls HTTP/1.1`` (no line break)."""
    headers: dict[str, str]
    """Header names in lower case."""
    body: bytes


@dataclass
class Response:
    status: str
    """e.g. ``201 Created``."""
    payload: bytes = b""
    headers: str = ""
    """Extra header lines, each ending in ``\\r\\n``."""


async def read_request(reader: asyncio.StreamReader) -> Request:
    """One HTTP/1.1 request: its line, headers and ``Content-Length`` bytes of body."""
    line = (await reader.readline()).decode().strip()
    headers = {}
    while (header := (await reader.readline()).decode().strip()):
        name, _, value = header.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(line, headers, body)


async def write_response(writer: asyncio.StreamWriter, response: Response) -> None:
    """Send ``response`` and close the connection."""
    writer.write(f"HTTP/1.1 {response.status}\r\nContent-Length: {len(response.payload)}\r\n"
                 f"{response.headers}Connection: close\r\n\r\n".encode() + response.payload)
    await writer.drain()
    writer.close()


class CallsEndpoint:
    """A loopback HTTP server for WebRTC calls (``async with Subclass(...) as endpoint``;
    ``endpoint.port``). Subclasses answer each request in :meth:`answer`, keep the calls they
    accepted in :attr:`calls` (each with its peer connection as ``pc``, closed on exit) and the
    tasks they started in :attr:`tasks` (cancelled on exit)."""

    def __init__(self) -> None:
        self.calls: list[Any] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def answer(self, request: Request) -> Response:
        raise NotImplementedError

    async def __aenter__(self) -> Any:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        for task in self.tasks:
            task.cancel()
        for call in self.calls:
            with contextlib.suppress(Exception):
                await call.pc.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await write_response(writer, await self.answer(await read_request(reader)))


@contextlib.asynccontextmanager
async def canned(status: str, content_type: str, payload: bytes) -> AsyncIterator[int]:
    """A loopback server that answers every request with the same response; its port."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await write_response(writer, Response(status, payload,
                                              f"Content-Type: {content_type}\r\n"))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()
