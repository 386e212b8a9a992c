"""The local agent's SIP endpoint: ``harness agent serve --sip PORT`` answers calls to
``sip:agent@HOST:PORT`` over UDP (and, given a certificate, to ``sips:agent@HOST:TLS_PORT`` over
TLS), each call a :class:`harness.agent.sip_call.SipAgentSession`.

Signalling is :mod:`harness.sip.dialog` (RFC 3261 user agent state machines, no I/O); this
module owns the sockets: one UDP socket for SIP, a TLS listener when it has a certificate (each
connection's messages framed by :class:`harness.sip.stream.StreamFramer`, and every message of a
call that came on a connection sent back on it), one UDP socket per call for its RTP. A call:

- **INVITE** with an SDP offer: the answer takes the first of the offer's codecs the agent has
  (PCMU, PCMA) and echoes ``telephone-event``; an offer without one is refused with 488, an
  INVITE while the endpoint is closing with 503. Faults for the call come from its
  ``X-Harness-Faults`` header (the same specs as ``?faults=`` on the WebSocket URL; a bad spec
  is refused with 400), its tool endpoint from ``X-Harness-Tools`` (else the server's).
- **Media**: caller RTP is heard on arrival, the agent's RTP goes out every 20 ms to the address
  the offer names (or, once a packet has come, to where the caller's packets come from, as
  symmetric RTP behind a NAT does). An SRTP offer (``RTP/SAVP`` with an SDES ``a=crypto``) is
  answered with SRTP and a key of the agent's own; packets that do not authenticate are
  dropped. An SRTP offer with no usable key is refused with 488.
- **BYE / CANCEL** from the caller end the session; a session that ends by itself (a fault that
  drops the call) hangs up with BYE. OPTIONS is answered 200; requests outside a call get 481.
- **Realtime calls** (``realtime_calls``): the endpoint behaves as the OpenAI Realtime API's SIP
  interface, ringing while a webhook decides through the REST API whether and how the call is
  answered (:mod:`harness.agent.realtime_calls`, :mod:`harness.agent.realtime_calls_api`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.agent.faults import Faults
from harness.agent.realtime_calls import RealtimeCall, RealtimeCallBook, RealtimeCalls
from harness.agent.realtime_calls_api import CallsApi
from harness.agent.sip_call import SipAgentSession
from harness.errors import InputError
from harness.sip import dialog, message, sdp
from harness.sip.rtp import is_rtcp
from harness.sip.srtp import SrtpContext
from harness.sip.stream import StreamFramer

log = logging.getLogger(__name__)

SessionOptions = Callable[[str | None], tuple[str, Faults, dict[str, Any]]]
"""Maps a call's ``X-Harness-Faults`` header (or None) to (model, faults, the session's other
options); raises :class:`InputError` for a bad spec."""

_TICK_S = 0.05

Address = tuple[str, int]
Send = Callable[[bytes, Address], None]
"""Sends one SIP message of a call: a datagram to the address, or onto the call's connection."""


def server_tls_context(cert: str, key: str) -> ssl.SSLContext:
    """The TLS server context of the endpoint: the certificate chain (PEM) and its private key;
    :class:`InputError` when either cannot be read or they do not match."""
    for path, option in ((cert, "--sip-tls-cert"), (key, "--sip-tls-key")):
        if not os.path.isfile(path):
            raise InputError(f"no such file: {path}", field=option)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise InputError(f"cannot use the certificate {cert} with the key {key} (a PEM "
                         f"certificate chain and its PEM private key are needed): {exc}",
                         field="--sip-tls-cert") from None
    return context


class _RtpSocket(asyncio.DatagramProtocol):
    def __init__(self, on_packet: Callable[[bytes, tuple[str, int], int], None]) -> None:
        self._on_packet = on_packet
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on_packet(data, addr, time.perf_counter_ns())


@dataclass
class _Call:
    call_id: str
    dialog: dialog.Incoming
    send: Send
    session: SipAgentSession | None = None
    srtp: SrtpContext | None = None
    rtp: _RtpSocket | None = None
    peer: tuple[str, int] | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    packets_in: int = 0
    hung_up_by: str | None = None
    realtime: RealtimeCall | None = None


@dataclass(frozen=True)
class EndedCall:
    """What the endpoint knows of a call once it is over."""

    call_id: str
    answered: bool
    hung_up_by: str | None
    """``caller`` (its BYE or CANCEL), ``agent`` (the session ended first) or None."""
    packets_in: int
    heard: tuple[str, ...]
    """The transcripts of the caller's turns, as the agent heard them."""
    pressed: tuple[str, ...]
    """Keys the caller pressed (RFC 4733)."""


class _SipSocket(asyncio.DatagramProtocol):
    def __init__(self, endpoint: SipEndpoint) -> None:
        self.endpoint = endpoint

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.endpoint.datagram(data, addr)


class SipEndpoint:
    """Answers SIP calls on ``host:port`` (``port=0``: a free one) until :meth:`stop`.

    ``session``: the ``session.update`` session every call starts with (the agent config
    served); ``tools_url``: the default tool endpoint of a call; ``tls``: a server context with
    the endpoint's certificate, to answer over TLS on TCP ``tls_port`` too (0: a free one);
    ``realtime_calls``: behave as the Realtime API's SIP interface, its REST API served on TCP
    ``api_port`` (0: a free one; see :attr:`api_url`).
    """

    def __init__(self, options: SessionOptions, session: dict[str, Any], *,
                 host: str = "127.0.0.1", port: int = 0, tools_url: str | None = None,
                 tls: ssl.SSLContext | None = None, tls_port: int = 0,
                 realtime_calls: RealtimeCalls | None = None, api_port: int = 0) -> None:
        self._options = options
        self._session = session
        self.host = host
        self.port = port
        self.tools_url = tools_url
        self.tls = tls
        self.tls_port = tls_port
        self.calls: dict[str, _Call] = {}
        self.ended: list[EndedCall] = []
        self._transport: asyncio.DatagramTransport | None = None
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._closing = False
        self.book = RealtimeCallBook(realtime_calls) if realtime_calls is not None else None
        self._api = CallsApi(self.book, host, api_port) if self.book is not None else None

    @property
    def uri(self) -> str:
        """``sip:agent@HOST:PORT``."""
        return f"sip:agent@{self.host}:{self.port}"

    @property
    def sips_uri(self) -> str | None:
        """``sips:agent@HOST:TLS_PORT`` when the endpoint answers over TLS."""
        return f"sips:agent@{self.host}:{self.tls_port}" if self._server is not None else None

    @property
    def api_url(self) -> str | None:
        """``http://HOST:PORT/v1``, the REST API of realtime calls, once started in that mode."""
        return self._api.url if self._api is not None and self._api.port else None

    async def start(self) -> SipEndpoint:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _SipSocket(self), local_addr=(self.host, self.port))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        if self.tls is not None:
            self._server = await asyncio.start_server(self._connection, self.host,
                                                      self.tls_port, ssl=self.tls)
            self.tls_port = self._server.sockets[0].getsockname()[1]
        if self._api is not None:
            await self._api.start()
        self._ticker = asyncio.ensure_future(self._tick())
        return self

    async def stop(self) -> None:
        """Hang up every call and stop listening."""
        self._closing = True
        for call in list(self.calls.values()):
            if call.realtime is not None and call.dialog.state in ("proceeding", "ringing"):
                call.dialog.reject(503)  # a realtime call still waiting to be accepted
                self._flush(call)
            self._hang_up(call)
        await asyncio.sleep(0)
        for call in list(self.calls.values()):
            await self._end(call)
        if self._api is not None:
            await self._api.stop()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._server is not None:
            self._server.close()
            for writer in list(self._connections):
                writer.close()
            self._server = None

    # ------------------------------------------------------------------ signalling

    def datagram(self, data: bytes, addr: Address) -> None:
        if not data.strip():
            return  # a keep-alive
        self._message(data, addr, self._send_datagram, (self.host, self.port))

    def _send_datagram(self, data: bytes, addr: Address) -> None:
        if self._transport is not None:
            self._transport.sendto(data, addr)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        """One caller's TLS connection: its messages, until it closes."""
        peer = writer.get_extra_info("peername")
        addr: Address = (str(peer[0]), int(peer[1]))
        self._connections.add(writer)

        def send(data: bytes, _: Address) -> None:
            if not writer.is_closing():
                writer.write(data)

        framer = StreamFramer()
        try:
            while data := await reader.read(65536):
                for data_message in framer.feed(data):
                    self._message(data_message, addr, send, (self.host, self.tls_port))
        except message.SipParseError as exc:
            log.info("closing the SIP TLS connection from %s: %s", addr, exc)
        except (OSError, ssl.SSLError) as exc:
            log.debug("SIP TLS connection from %s failed: %s", addr, exc)
        finally:
            self._connections.discard(writer)
            writer.close()
            for call in list(self.calls.values()):  # the caller is gone with its connection
                if call.send is send and call.dialog.state != "ended":
                    call.hung_up_by = call.hung_up_by or "caller"
                    if call.session is not None:
                        call.session.connection.ended()
                    await self._end(call)

    def _message(self, data: bytes, addr: Address, send: Send, local: Address) -> None:
        try:
            msg = message.parse(data)
        except message.SipParseError as exc:
            log.debug("unparsable SIP message from %s: %s", addr, exc)
            return
        call = self.calls.get(msg.call_id)
        if call is not None:
            call.dialog.receive(msg, time.monotonic(), addr)
            self._flush(call)
            return
        if not isinstance(msg, message.Request):
            return  # a response to nothing of ours
        if msg.method == "INVITE":
            self._invite(msg, addr, send, local)
        elif msg.method == "OPTIONS":
            send(message.serialize(message.response_to(msg, 200)), addr)
        elif msg.method != "ACK":
            send(message.serialize(message.response_to(msg, 481)), addr)

    def _invite(self, invite: message.Request, addr: Address, send: Send,
                local: Address) -> None:
        now = time.monotonic()
        incoming = dialog.Incoming(invite, local=local, remote=addr, now=now)
        call = _Call(invite.call_id, incoming, send)
        self.calls[invite.call_id] = call
        if self._closing:
            incoming.reject(503)
            self._flush(call)
            return
        try:
            model, faults, options = self._options(invite.headers.get("X-Harness-Faults"))
        except InputError as exc:
            incoming.reject(400, str(exc).splitlines()[0][:120])
            self._flush(call)
            return
        answer = self._answer if self.book is None else self._realtime
        call.tasks.append(asyncio.ensure_future(answer(call, invite, model=model, faults=faults,
                                                       **options)))

    async def _realtime(self, call: _Call, invite: message.Request, **options: Any) -> None:
        """A realtime call: ringing while its webhook and the REST API decide; answered with
        the accept's session (its function calls left to the sideband), else rejected."""
        assert self.book is not None
        realtime = call.realtime = self.book.open()
        realtime.hang_up = lambda: self._hang_up(call)
        call.dialog.ringing()
        self._flush(call)
        decision = await self.book.decide(realtime, invite.headers.items())
        if call.dialog.state not in ("proceeding", "ringing"):
            return  # the caller gave up meanwhile
        if decision.session is None:
            call.dialog.reject(decision.status)
            self._flush(call)
            return
        if isinstance(decision.session.get("model"), str) and decision.session["model"]:
            options["model"] = decision.session["model"]  # echoed in the session, as over a WS
        await self._answer(call, invite, configured=decision.session,
                           connection=realtime.connection, tool_webhooks=False, **options)

    async def _answer(self, call: _Call, invite: message.Request,
                      configured: dict[str, Any] | None = None, **options: Any) -> None:
        """Answer the call and run its session (configured with the endpoint's session, or
        ``configured``) until it ends."""
        loop = asyncio.get_running_loop()
        rtp_transport, rtp = await loop.create_datagram_endpoint(
            lambda: _RtpSocket(lambda d, a, t: self._rtp_in(call, d, a, t)),
            local_addr=(self.host, 0))
        call.rtp = rtp
        key = secrets.token_bytes(sdp.KEY_SALT_BYTES)
        try:
            answer, media = sdp.answer(invite.body.decode("utf-8", "replace"), self.host,
                                       rtp_transport.get_extra_info("sockname")[1], key=key)
        except sdp.SdpError as exc:
            rtp_transport.close()
            call.dialog.reject(488, str(exc)[:120])
            self._flush(call)
            return
        if media.crypto is not None:
            call.srtp = SrtpContext(sdp.Crypto(media.crypto.tag, media.crypto.suite, key),
                                    media.crypto)
        call.peer = (media.address, media.port)
        tools_url = invite.headers.get("X-Harness-Tools") or self.tools_url
        session = SipAgentSession(session=self._session if configured is None else configured,
                                  media=media,
                                  send_rtp=lambda packet: self._rtp_out(call, packet),
                                  tools_url=tools_url, **options)
        call.session = session
        call.dialog.accept(answer, time.monotonic())
        self._flush(call)
        play = asyncio.ensure_future(session.play_out())
        call.tasks.append(play)
        try:
            await session.run()
        finally:
            play.cancel()
            session.close()
            self._hang_up(call)

    def _rtp_in(self, call: _Call, data: bytes, addr: Address, arrived_ns: int) -> None:
        if call.srtp is not None:
            if is_rtcp(data):
                return  # SRTCP: the agent reads no reports
            clear = call.srtp.unprotect(data)
            if clear is None:
                return  # not authentic: dropped
            data = clear
        call.packets_in += 1
        call.peer = addr  # symmetric RTP: answer where the caller's packets come from
        if call.session is not None:
            call.session.packet_received(data, arrived_ns)

    def _rtp_out(self, call: _Call, packet: bytes) -> None:
        if call.rtp is not None and call.rtp.transport is not None and call.peer is not None:
            if call.srtp is not None:
                packet = call.srtp.protect(packet)
            call.rtp.transport.sendto(packet, call.peer)

    def _hang_up(self, call: _Call) -> None:
        if call.dialog.state in ("answered", "confirmed"):
            call.hung_up_by = call.hung_up_by or "agent"
            call.dialog.hang_up(time.monotonic())
            self._flush(call)

    def _flush(self, call: _Call) -> None:
        for data, addr in call.dialog.take():
            call.send(data, addr)
        for event in call.dialog.take_events():
            if isinstance(event, dialog.HungUp | dialog.Cancelled):
                if isinstance(event, dialog.Cancelled) or event.by == "remote":
                    call.hung_up_by = call.hung_up_by or "caller"
                if call.session is not None:
                    call.session.connection.ended()
        if call.dialog.state == "ended" and call in self.calls.values():
            asyncio.ensure_future(self._end(call))

    async def _end(self, call: _Call) -> None:
        if self.calls.pop(call.call_id, None) is None:
            return
        session = call.session
        self.ended.append(EndedCall(
            call.call_id, session is not None, call.hung_up_by, call.packets_in,
            tuple(i.transcript for i in (session.protocol.items if session else [])
                  if i.role == "user" and i.transcript),
            tuple(d for d, _ in (session.pressed if session else []))))
        if call.session is not None:
            call.session.connection.ended()
        for task in call.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        await asyncio.gather(*(t for t in call.tasks if t is not asyncio.current_task()),
                             return_exceptions=True)
        if call.rtp is not None and call.rtp.transport is not None:
            call.rtp.transport.close()
        if call.realtime is not None:
            call.realtime.ended()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            now = time.monotonic()
            for call in list(self.calls.values()):
                deadline = call.dialog.next_deadline()
                if deadline is not None and deadline <= now:
                    call.dialog.tick(now)
                    self._flush(call)
