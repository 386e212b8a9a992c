"""For the SIP-over-TLS tests: a self-signed certificate for 127.0.0.1 made with
``cryptography``, and a small SIP peer on a TLS listener that answers an INVITE with 200 OK and
an SDP answer (SRTP with a key of its own, or plain RTP), built with the harness's message and
SDP modules but on a real TLS connection and a real UDP socket for its RTP; and a stand-in for
the local agent's session, to test its SIP endpoint's transport without the agent."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import ssl
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.sip import message, sdp
from harness.sip.rtp import RtpSender
from harness.sip.srtp import SrtpContext
from harness.sip.stream import StreamFramer


def self_signed(folder: Path, name: str = "sip") -> tuple[Path, Path]:
    """(certificate, key) PEM files of a self-signed certificate for 127.0.0.1 and localhost,
    which may also serve as its own CA bundle."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"harness test {name}")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / f"{name}-cert.pem", folder / f"{name}-key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class _Rtp(asyncio.DatagramProtocol):
    def __init__(self, peer: TlsSipPeer) -> None:
        self.peer = peer

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.peer.rtp_in.append(data)


class TlsSipPeer:
    """``async with TlsSipPeer(context) as peer:`` then dial ``peer.uri``. ``srtp``: answer an
    SRTP offer with SRTP (else with plain RTP, which the caller must refuse)."""

    def __init__(self, context: ssl.SSLContext, *, srtp: bool = True) -> None:
        self.context = context
        self.srtp_answer = srtp
        self.key = sdp.Crypto.generate()
        self.raw_invites: list[bytes] = []
        self.methods: list[str] = []
        self.tls_versions: list[str | None] = []
        self.rtp_in: list[bytes] = []
        self.srtp: SrtpContext | None = None
        self.caller_rtp: tuple[str, int] | None = None
        self.acked = asyncio.Event()
        self.bye = asyncio.Event()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._rtp: asyncio.DatagramTransport | None = None
        self._writers: list[asyncio.StreamWriter] = []

    @property
    def uri(self) -> str:
        return f"sips:agent@127.0.0.1:{self.port}"

    async def __aenter__(self) -> TlsSipPeer:
        loop = asyncio.get_running_loop()
        self._rtp, _ = await loop.create_datagram_endpoint(lambda: _Rtp(self),
                                                           local_addr=("127.0.0.1", 0))
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0,
                                                  ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
        if self._rtp is not None:
            self._rtp.close()

    def send_rtp(self, packet: bytes) -> None:
        """One RTP packet to the caller, as it is (protect it first for SRTP)."""
        assert self._rtp is not None and self.caller_rtp is not None
        self._rtp.sendto(packet, self.caller_rtp)

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self._writers.append(writer)
        self.tls_versions.append(writer.get_extra_info("ssl_object").version())
        framer = StreamFramer()
        with_errors = (ConnectionError, ssl.SSLError)
        try:
            while data := await reader.read(65536):
                for raw in framer.feed(data):
                    self._message(raw, writer)
        except with_errors:
            pass

    def _message(self, raw: bytes, writer: asyncio.StreamWriter) -> None:
        msg = message.parse(raw)
        if not isinstance(msg, message.Request):
            return
        self.methods.append(msg.method)
        if msg.method == "INVITE":
            self.raw_invites.append(raw)
            writer.write(message.serialize(message.response_to(msg, 100)))
            writer.write(message.serialize(self._answer(msg)))
        elif msg.method == "ACK":
            self.acked.set()
        elif msg.method == "BYE":
            writer.write(message.serialize(message.response_to(msg, 200)))
            self.bye.set()

    def _answer(self, invite: message.Request) -> message.Response:
        assert self._rtp is not None
        port = self._rtp.get_extra_info("sockname")[1]
        offer = invite.body.decode()
        if self.srtp_answer:
            text, media = sdp.answer(offer, "127.0.0.1", port, key=self.key.key)
            assert media.crypto is not None
            self.key = sdp.Crypto(media.crypto.tag, media.crypto.suite, self.key.key)
            self.srtp = SrtpContext(self.key, media.crypto)
        else:
            text, media = sdp.answer(offer.replace("RTP/SAVP", "RTP/AVP"), "127.0.0.1", port)
        self.caller_rtp = (media.address, media.port)
        ok = message.response_to(invite, 200, to_tag="tlspeer", body=text.encode(),
                                 content_type="application/sdp")
        ok.headers.add("Contact", f"<sips:agent@127.0.0.1:{self.port}>")
        return ok


class RecordingSession:
    """Stands in for the local agent's session on its SIP endpoint (patched over
    ``harness.agent.sip_server.SipAgentSession``): keeps the RTP it is handed and sends a packet
    of ``payload`` every 20 ms, as the real one's play-out does. ``made`` holds every one."""

    made: list[RecordingSession] = []
    payload = bytes([0xFF]) * 160

    def __init__(self, *, session: dict[str, Any], media: Any, send_rtp: Any,
                 tools_url: str | None = None, **options: Any) -> None:
        from harness.agent.sip_call import CallConnection  # noqa: PLC0415

        self.media = media
        self.send_rtp = send_rtp
        self.connection = CallConnection()
        self.protocol = SimpleNamespace(items=[])
        self.pressed: list[tuple[str, float]] = []
        self.received: list[bytes] = []
        RecordingSession.made.append(self)

    def packet_received(self, data: bytes, arrived_ns: int) -> None:
        self.received.append(data)

    async def play_out(self) -> None:
        sender = RtpSender(self.media.payload_type, 8000)
        while True:
            self.send_rtp(sender.packet(self.payload, len(self.payload)))
            await asyncio.sleep(0.02)

    async def run(self) -> None:
        async for _ in self.connection:
            pass

    def close(self) -> None:
        pass
