"""A call the harness places over SIP: signalling by :class:`harness.sip.dialog.Outgoing` on a
UDP socket or a TLS connection, audio as G.711 RTP (SRTP over TLS) on a datagram socket.

:meth:`SipCall.place` sends the INVITE with an SDP offer of PCMU, PCMA and ``telephone-event``
and returns once the far end answers; a rejection raises :class:`CallRejected` with the SIP
status and reason (an unanswered INVITE gives up after RFC 3261's Timer B, 32 s, or the
caller's own limit). Then :meth:`SipCall.send_audio` sends the caller's audio (PCM16 at the
call's ``send_rate``, 20 ms per packet: the caller paces it), :meth:`SipCall.press` sends a key
as RFC 4733 events (20 ms apart), received packets are decoded on arrival and handed to
``on_audio(pcm, arrived_ns)`` at :data:`AUDIO_RATE`, and :attr:`SipCall.ended` is set when
either side hangs up.

``sips:`` URIs and ``sip:…;transport=tls`` are called over TLS (port 5061 unless named): messages
on the connection are framed by :class:`harness.sip.stream.StreamFramer`, and every request and
response of the call goes over that one connection. The server's certificate is verified against
the system's trust store, or against the CA bundle named by ``HARNESS_SIP_CA`` (a PBX's own
self-signed certificate, say); a certificate that does not verify fails the call, as
:class:`CallRejected` (503) saying why. Over TLS the offer is SRTP (``RTP/SAVP``, an SDES key made
with ``secrets``), since the key is then sent encrypted; over UDP it is plain RTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from harness.sip import dialog, message, sdp
from harness.sip.dtmf import event_payloads
from harness.sip.rtp import (
    FRAME_MS,
    G711Depacketizer,
    G711Packetizer,
    RtpError,
    RtpPacket,
    RtpSender,
    is_rtcp,
)
from harness.sip.srtp import SrtpContext
from harness.sip.stream import StreamFramer
from harness.sip.trunk import SipRoute

log = logging.getLogger(__name__)

AUDIO_RATE = 24_000
"""The rate received audio is handed on at (the harness's stream rate)."""
_TICK_S = 0.05

AudioSink = Callable[[npt.NDArray[np.int16], int], None]

CA_ENV = "HARNESS_SIP_CA"
"""The environment variable that may name a CA bundle (PEM) to verify SIP TLS servers with,
instead of the system's trust store."""


def tls_context() -> ssl.SSLContext:
    """The client TLS context of a call: certificates and host names verified, against the CA
    bundle named by :data:`CA_ENV` when it is set, else the system's trust store."""
    cafile = os.environ.get(CA_ENV) or None
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise CallRejected(503, f"cannot read the CA bundle {cafile} ({CA_ENV}): {exc}") from None


async def _resolve(address: tuple[str, int]) -> tuple[str, int]:
    """A next hop's host name resolved once (sending to a name would resolve it per packet,
    blocking); :class:`CallRejected` (503) when it does not resolve."""
    host, port = address
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise CallRejected(503, f"cannot resolve {host}: {exc.strerror or exc}") from None
    return str(infos[0][4][0]), port


def route_source(destination: tuple[str, int]) -> str:
    """The local address the system sends to ``destination`` from (a UDP socket connected to it
    and asked; no packet goes out): what the Via, Contact and SDP name, and where the call's
    sockets listen. Loopback for a loopback peer, the routed interface for a remote one."""
    family = socket.AF_INET6 if ":" in destination[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(destination)
        except OSError as exc:
            raise CallRejected(503, f"no route to {destination[0]}: "
                               f"{exc.strerror or exc}") from None
        return str(probe.getsockname()[0])


class CallRejected(Exception):
    """The far end refused the call (or never answered)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"SIP {status} {reason}".strip())
        self.status = status
        self.reason = reason


@dataclass
class SignalLog:
    """What went over the signalling socket: (perf_counter_ns, direction, first line)."""

    entries: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, direction: str, data: bytes) -> None:
        line = data.split(b"\r\n", 1)[0].split(b"\n", 1)[0].decode("utf-8", "replace")
        self.entries.append((time.perf_counter_ns(), direction, line))


class _Socket(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, tuple[str, int]], None]) -> None:
        self._on = on_datagram

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._on(data, addr)


class SipCall:
    """One outgoing call (see the module docstring). ``target``: the SIP URI dialled;
    ``headers``: extra INVITE headers (never recorded: they may carry credentials);
    ``credentials``: (user, password) for a digest challenge; ``route``: the next hop and the
    caller's identity (a trunk's proxy and caller ID; default: the URI's host, ``harness``);
    ``local_host``: the address to call from (default: the one the system routes to the next
    hop by, see :func:`route_source`)."""

    def __init__(self, target: str, *, on_audio: AudioSink,
                 headers: dict[str, str] | None = None,
                 credentials: tuple[str, str] | None = None,
                 route: SipRoute | None = None,
                 local_host: str | None = None, send_rate: int = AUDIO_RATE) -> None:
        self.uri = message.SipUri.parse(target)
        if self.uri.scheme not in ("sip", "sips"):
            raise ValueError(f"{self.uri.scheme}: only sip: and sips: URIs are placed")
        self.route = route or SipRoute()
        self.remote = self.route.next_hop or self.uri.address
        self.tls = self.route.next_hop is None and self.uri.transport == "tls"
        if self.uri.transport not in ("udp", "tls") and self.route.next_hop is None:
            raise ValueError(f"transport={self.uri.transport}: only UDP and TLS are placed")
        self.local_host = local_host
        self.send_rate = send_rate
        self._on_audio = on_audio
        self._headers = dict(headers or {})
        self._credentials = credentials
        self.signals = SignalLog()
        self.ended = asyncio.Event()
        self.hung_up_by: str | None = None
        self.media: sdp.Media | None = None
        self._dialog: dialog.Outgoing | None = None
        self._answered: asyncio.Future[sdp.Media] | None = None
        self._sip: asyncio.DatagramTransport | None = None
        self._stream: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None
        self._srtp: SrtpContext | None = None
        self._crypto: sdp.Crypto | None = None
        self._rtp: asyncio.DatagramTransport | None = None
        self._rtp_peer: tuple[str, int] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._packetizer: G711Packetizer | None = None
        self._depacketizer: G711Depacketizer | None = None
        self._sender: RtpSender | None = None
        self.packets_sent = 0
        self.packets_received = 0

    @property
    def call_id(self) -> str | None:
        """The call's Call-ID (once placed)."""
        return self._dialog.dialog.call_id if self._dialog is not None else None

    # ------------------------------------------------------------------ set-up

    async def place(self, *, timeout_s: float = 32.0) -> sdp.Media:
        """Send the INVITE; the negotiated media once the far end answers."""
        loop = asyncio.get_running_loop()
        if self.tls:
            local = await self._connect(timeout_s)
        else:
            self.remote = await _resolve(self.remote)
            self.local_host = self.local_host or route_source(self.remote)
            self._sip, _ = await loop.create_datagram_endpoint(
                lambda: _Socket(self._signal_in), local_addr=(self.local_host, 0))
            local = (self.local_host, self._sip.get_extra_info("sockname")[1])
        host = local[0]
        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Socket(self._rtp_in), local_addr=(host, 0))
        rtp_port = self._rtp.get_extra_info("sockname")[1]
        self._answered = loop.create_future()
        self._crypto = sdp.Crypto.generate() if self.tls else None
        self._dialog = dialog.Outgoing(
            self.uri, local=local, remote=self.remote,
            sdp_offer=sdp.offer(host, rtp_port, crypto=self._crypto),
            credentials=self._credentials, transport="TLS" if self.tls else "UDP",
            from_user=self.route.from_user, display=self.route.display_name,
            from_host=self.route.from_host, extra_headers=self._headers, now=time.monotonic())
        self._flush()
        self._ticker = asyncio.ensure_future(self._tick())
        try:
            media = await asyncio.wait_for(asyncio.shield(self._answered), timeout_s)
        except TimeoutError:
            self.hang_up()
            raise CallRejected(408, f"no answer within {timeout_s:g} s") from None
        self.media = media
        if self._crypto is not None and media.crypto is not None:
            self._srtp = SrtpContext(self._crypto, media.crypto)
        self._rtp_peer = (media.address, media.port)
        self._packetizer = G711Packetizer(media.codec, self.send_rate)
        self._depacketizer = G711Depacketizer(media.codec, AUDIO_RATE)
        self._sender = RtpSender(media.payload_type, media.clock_rate)
        return media

    async def _connect(self, timeout_s: float) -> tuple[str, int]:
        """Open the TLS connection to the next hop (from the interface the system routes it
        by); the local address of its socket."""
        host, port = self.remote
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                host, port, ssl=tls_context(), server_hostname=host), timeout_s)
        except ssl.SSLCertVerificationError as exc:
            raise CallRejected(503, f"TLS to {host}:{port}: the server's certificate did not "
                               f"verify ({exc.verify_message}; {CA_ENV} may name the CA "
                               "bundle to trust)") from None
        except ssl.SSLError as exc:
            raise CallRejected(503, f"TLS to {host}:{port} failed: {exc.reason or exc}") from None
        except TimeoutError:
            raise CallRejected(408, f"no TLS connection to {host}:{port} within "
                               f"{timeout_s:g} s") from None
        except OSError as exc:
            raise CallRejected(503, f"cannot connect to {host}:{port} over TLS: "
                               f"{exc.strerror or exc}") from None
        self._stream = writer
        self._reader = asyncio.ensure_future(self._read_stream(reader, (host, port)))
        sockname = writer.get_extra_info("sockname")
        # RTP goes out of the interface the connection took, which the SDP then names
        self.local_host = str(sockname[0])
        return self.local_host, int(sockname[1])

    async def _read_stream(self, reader: asyncio.StreamReader, peer: tuple[str, int]) -> None:
        """Read the TLS connection until it closes, handing each whole message on."""
        framer = StreamFramer()
        reason = "the far end closed the TLS connection"
        try:
            while data := await reader.read(65536):
                for data_message in framer.feed(data):
                    self._signal_in(data_message, peer)
        except message.SipParseError as exc:
            reason = f"unreadable SIP over TLS: {exc}"
        except (OSError, ssl.SSLError) as exc:
            reason = f"the TLS connection failed: {exc}"
        if self._dialog is not None and self._dialog.state != "ended":
            log.debug("%s (call %s)", reason, self.call_id)
            if self._answered is not None and not self._answered.done():
                self._answered.set_exception(CallRejected(503, reason))
            elif self.hung_up_by is None and self._dialog.state != "terminating":
                self.hung_up_by = "remote"
        self.ended.set()
        if self._stream is not None:
            self._stream.close()

    def _signal_in(self, data: bytes, addr: tuple[str, int]) -> None:
        if not data.strip() or self._dialog is None:
            return
        self.signals.add("received", data)
        try:
            msg = message.parse(data)
        except message.SipParseError as exc:
            log.debug("unparsable SIP datagram from %s: %s", addr, exc)
            return
        self._dialog.receive(msg, time.monotonic(), addr)
        self._flush()

    def _flush(self) -> None:
        assert self._dialog is not None
        for data, addr in self._dialog.take():
            if self._stream is not None:  # over TLS every message goes on the one connection
                if self._stream.is_closing():
                    continue
                self._stream.write(data)
            elif self._sip is not None:
                self._sip.sendto(data, addr)
            else:
                continue
            self.signals.add("sent", data)
        for event in self._dialog.take_events():
            if isinstance(event, dialog.Answered):
                if self._answered is not None and not self._answered.done():
                    self._answered.set_result(event.media)
            elif isinstance(event, dialog.Failed):
                if self._answered is not None and not self._answered.done():
                    self._answered.set_exception(CallRejected(event.status, event.reason))
                self.ended.set()
            elif isinstance(event, dialog.HungUp):
                self.hung_up_by = self.hung_up_by or event.by
                self.ended.set()
        if self._dialog.state == "ended":
            self.ended.set()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            if self._dialog is None:
                continue
            deadline = self._dialog.next_deadline()
            now = time.monotonic()
            if deadline is not None and deadline <= now:
                self._dialog.tick(now)
                self._flush()

    # ------------------------------------------------------------------ media

    def _rtp_in(self, data: bytes, addr: tuple[str, int]) -> None:
        arrived = time.perf_counter_ns()
        if self._depacketizer is None or self.media is None or is_rtcp(data):
            return
        if self._srtp is not None:
            clear = self._srtp.unprotect(data)
            if clear is None:
                return  # not authentic: dropped, counted in stats() as srtp_dropped
            data = clear
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return
        self._rtp_peer = addr  # symmetric RTP: send where the far end's packets come from
        self.packets_received += 1
        if packet.payload_type == self.media.payload_type:
            pcm = self._depacketizer.decode(packet, arrived / 1e9)
            if len(pcm):
                self._on_audio(pcm, arrived)
        elif packet.payload_type == self.media.dtmf_payload_type:
            self._depacketizer.skip(packet)

    def send_audio(self, pcm: npt.NDArray[np.int16]) -> None:
        """The caller's next audio at ``send_rate``, sent as the packets it completes."""
        if self._packetizer is None or self._sender is None:
            return
        for payload in self._packetizer.frames(pcm):
            self._send(self._sender.packet(payload, len(payload)))

    async def press(self, digit: str, duration_ms: int = 100) -> None:
        """One key as RFC 4733 events, one packet every 20 ms as the press goes on, then the
        end packet's copies (the far end must have offered ``telephone-event``)."""
        if self._sender is None or self.media is None or self.media.dtmf_payload_type is None:
            raise ValueError("the far end takes no telephone events")
        packets = self._sender.event_packets(event_payloads(digit, duration_ms=duration_ms),
                                             self.media.dtmf_payload_type)
        for i, packet in enumerate(packets):
            if i:
                await asyncio.sleep(FRAME_MS / 1000)
            self._send(packet)

    def _send(self, packet: bytes) -> None:
        if self._rtp is not None and self._rtp_peer is not None:
            if self._srtp is not None:
                packet = self._srtp.protect(packet)
            with contextlib.suppress(OSError):
                self._rtp.sendto(packet, self._rtp_peer)
                self.packets_sent += 1

    def stats(self) -> dict[str, Any]:
        """The received stream's statistics (RFC 3550): packets, lost, late, jitter."""
        d = self._depacketizer
        stats: dict[str, Any] = {
            "packets_sent": self.packets_sent, "packets_received": self.packets_received,
            "lost": d.lost if d else 0, "late": d.late if d else 0,
            "jitter_ms": round(d.jitter_ms, 3) if d else None}
        if self.tls:
            stats["transport"] = "TLS"
            stats["srtp"] = self._srtp is not None
            stats["srtp_dropped"] = self._srtp.dropped if self._srtp else 0
        return stats

    # ------------------------------------------------------------------ the end

    def hang_up(self) -> None:
        """BYE (CANCEL before an answer); the dialog retransmits until answered."""
        if self._dialog is not None and self._dialog.state not in ("terminating", "ended"):
            self._dialog.hang_up(time.monotonic())
            self._flush()

    async def close(self, linger_s: float = 2.0) -> None:
        """Hang up and wait (up to ``linger_s``) for the BYE's answer, then close the sockets."""
        self.hang_up()
        if self._dialog is not None and self._dialog.state != "ended":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.ended.wait(), linger_s)
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        for transport in (self._sip, self._rtp):
            if transport is not None:
                transport.close()
        if self._stream is not None:
            self._stream.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(self._stream.wait_closed(), 1.0)
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
