"""The local agent's WebRTC signalling: ``POST http://HOST:PORT/v1/realtime/calls?model=…&faults=…``.

As the service does, the route takes an SDP offer (``Content-Type: application/sdp``) and answers
``201 Created`` with the SDP answer (``application/sdp``) and a ``Location`` header naming the
call, ``/v1/realtime/calls/rtc_…``; the call then runs on its own peer connection
(:mod:`harness.agent.webrtc_call`). Faults and the model come from the query as on the WebSocket
URL; a bad fault spec is refused with 400, another path with 404, another method with 405, a
body that is not SDP with 415. The local agent asks for no key: an ``Authorization`` header is
accepted and ignored.

The server is a small HTTP/1.1 responder on asyncio streams (one request per connection): the
route is the only thing it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamTrack

from harness.agent.events import new_id
from harness.agent.faults import Faults
from harness.agent.webrtc_call import BUFFER_RATE, WebRTCAgentSession, drain_in_background
from harness.errors import InputError
from harness.realtime.rtp import ArrivalDecoder, close_peer, opus_payload_types
from harness.realtime.webrtc import EVENTS_CHANNEL

CALLS_PATH = "/v1/realtime/calls"
MAX_BODY_BYTES = 256 * 1024
_READ_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)

SessionOptions = Callable[[str], tuple[str, Faults, dict[str, Any]]]
"""Maps a request target (path and query) to (model, faults, the session's other options);
raises :class:`InputError` for a bad query."""


class WebRTCCalls:
    """Serves the calls route on ``host:port`` (``port=0``: a free one) until :meth:`stop`."""

    def __init__(self, options: SessionOptions, host: str = "127.0.0.1", port: int = 0) -> None:
        self._options = options
        self.host = host
        self.port = port
        self._server: asyncio.Server | None = None
        self.calls: dict[str, RTCPeerConnection] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        """``http://HOST:PORT/v1/realtime/calls``."""
        return f"http://{self.host}:{self.port}{CALLS_PATH}"

    async def start(self) -> WebRTCCalls:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        """Stop listening and end every call."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):  # each call's task closes its peer connection
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ------------------------------------------------------------------ HTTP

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, headers, body = await asyncio.wait_for(self._request(reader),
                                                           timeout=_READ_TIMEOUT_S)
        except (TimeoutError, asyncio.IncompleteReadError, ValueError, ConnectionError):
            status, headers, body = HTTPStatus.BAD_REQUEST, {}, b"bad request\n"
        except Exception:  # noqa: BLE001 - the client gets a 500, the server goes on
            log.exception("WebRTC call set-up failed")
            status, headers, body = HTTPStatus.INTERNAL_SERVER_ERROR, {}, b"call set-up failed\n"
        head = [f"HTTP/1.1 {status.value} {status.phrase}",
                f"Content-Length: {len(body)}", "Connection: close"]
        headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        head += [f"{k}: {v}" for k, v in headers.items()]
        with contextlib.suppress(ConnectionError):
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def _request(self, reader: asyncio.StreamReader
                       ) -> tuple[HTTPStatus, dict[str, str], bytes]:
        method, target, _ = (await reader.readline()).decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (line := (await reader.readline()).decode("latin-1").strip()):
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        if length > MAX_BODY_BYTES:
            return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {}, b"offer too large\n"
        body = await reader.readexactly(length) if length else b""
        if urlsplit(target).path.rstrip("/") != CALLS_PATH:
            return HTTPStatus.NOT_FOUND, {}, f"no such endpoint; use {CALLS_PATH}\n".encode()
        if method != "POST":
            return HTTPStatus.METHOD_NOT_ALLOWED, {"Allow": "POST"}, b"POST an SDP offer\n"
        if headers.get("content-type", "").split(";")[0].strip().lower() != "application/sdp":
            return (HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {},
                    b"the offer must be sent as Content-Type: application/sdp\n")
        try:
            model, faults, options = self._options(target)
        except InputError as exc:
            return HTTPStatus.BAD_REQUEST, {}, f"{exc}\n".encode()
        call_id = new_id("rtc")
        answer = await self._answer(call_id, body.decode("utf-8", "replace"), model=model,
                                    faults=faults, **options)
        return (HTTPStatus.CREATED,
                {"Content-Type": "application/sdp", "Location": f"{CALLS_PATH}/{call_id}"},
                answer.encode("utf-8"))

    # ------------------------------------------------------------------ calls

    async def _answer(self, call_id: str, offer: str, **options: Any) -> str:
        """Set up a call for ``offer`` and start its session; the SDP answer."""
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        session = WebRTCAgentSession(**options)
        drains: set[asyncio.Task[None]] = set()

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            if channel.label == EVENTS_CHANNEL:
                session.connection.attach(channel)

        @pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            drain_in_background(track, drains)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                session.connection.ended()

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        pc.addTrack(session.output)
        decoder = ArrivalDecoder(BUFFER_RATE, opus_payload_types(offer), session.hear)
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "audio":
                decoder.attach(transceiver.receiver)
        await pc.setLocalDescription(await pc.createAnswer())
        self.calls[call_id] = pc
        task = asyncio.ensure_future(self._run(call_id, pc, session, drains))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return pc.localDescription.sdp

    async def _run(self, call_id: str, pc: RTCPeerConnection, session: WebRTCAgentSession,
                   drains: set[asyncio.Task[None]]) -> None:
        try:
            await session.run()
        finally:
            session.output.finish()
            self.calls.pop(call_id, None)
            await close_peer(pc)
            for task in list(drains):
                task.cancel()
