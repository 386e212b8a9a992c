"""SIP over TLS with SRTP, on loopback: a real TLS handshake (a self-signed certificate made for
the test and trusted through ``HARNESS_SIP_CA``), the INVITE read off the connection, SRTP
packets both ways; an untrusted certificate fails the call saying why; ``--target sips:…``
resolves; and the local agent's endpoint answers a TLS call with SRTP.

Both ends are the harness's own code (the peer is built from its message and SDP modules), so
these tests show the two ends agree with each other and with the RFCs as the code reads them,
not that a third party's implementation agrees."""

from __future__ import annotations

import asyncio
import base64
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.errors import InputError
from harness.realtime.targets import resolve_target, transport_of
from harness.sip import message
from harness.sip.call import CA_ENV, CallRejected, SipCall
from harness.sip.rtp import RtpPacket, RtpSender

sys.path.insert(0, str(Path(__file__).resolve().parent))
from tls_peer import RecordingSession, TlsSipPeer, self_signed, server_context  # noqa: E402

TONE = (np.sin(np.arange(480) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)
"""60 ms of a 440 Hz tone at 8 kHz: three packets."""


async def _until(condition: Any, timeout_s: float = 3.0) -> None:
    async def wait() -> None:
        while not condition():
            await asyncio.sleep(0.01)
    await asyncio.wait_for(wait(), timeout_s)


def test_a_sips_call_is_placed_over_tls_with_srtp_both_ways(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv(CA_ENV, str(cert))
    heard: list[np.ndarray] = []

    async def main() -> tuple[TlsSipPeer, SipCall, list[bytes]]:
        async with TlsSipPeer(server_context(cert, key)) as peer:
            call = SipCall(peer.uri, on_audio=lambda pcm, t: heard.append(pcm), send_rate=8000)
            try:
                media = await call.place(timeout_s=5)
                assert media.srtp and media.crypto == peer.key
                await asyncio.wait_for(peer.acked.wait(), 3)
                call.send_audio(TONE)
                await _until(lambda: len(peer.rtp_in) >= 3)
                assert peer.srtp is not None
                sender = RtpSender(0, 8000)
                good = [peer.srtp.protect(sender.packet(bytes([0xFF]) * 160, 160))
                        for _ in range(3)]
                tampered = bytearray(good[1])
                tampered[-1] ^= 0x01  # the authentication tag
                for packet in (good[0], bytes(tampered), good[2]):
                    peer.send_rtp(packet)
                await _until(lambda: call.packets_received >= 2)
                await asyncio.sleep(0.05)
            finally:
                await call.close(linger_s=2)
            await asyncio.wait_for(peer.bye.wait(), 2)
            clear = [peer.srtp.unprotect(packet) for packet in peer.rtp_in[:3]]
            assert all(c is not None for c in clear)
            return peer, call, [c for c in clear if c is not None]

    peer, call, clear = asyncio.run(main())
    assert peer.tls_versions and peer.tls_versions[0] in ("TLSv1.2", "TLSv1.3")
    assert peer.methods == ["INVITE", "ACK", "BYE"]
    invite = message.parse(peer.raw_invites[0])
    assert isinstance(invite, message.Request)
    assert invite.uri == peer.uri and invite.via.transport == "TLS"
    contact = invite.headers.get("Contact") or ""
    assert re.fullmatch(r"<sips:harness@127\.0\.0\.1:\d+>", contact)
    body = invite.body.decode()
    assert re.search(r"^m=audio \d+ RTP/SAVP 0 8 101\r$", body, re.MULTILINE)
    crypto = re.search(r"^a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:(\S+)\r$", body,
                       re.MULTILINE)
    assert crypto is not None and len(base64.b64decode(crypto.group(1))) == 30
    # what the caller sent reads with the caller's offered key, and was encrypted on the wire
    packets = [RtpPacket.parse(c) for c in clear]
    assert [p.payload_type for p in packets] == [0, 0, 0]
    assert [len(p.payload) for p in packets] == [160, 160, 160]
    assert all(p.payload not in wire for p, wire in zip(packets, peer.rtp_in, strict=False))
    # what the peer sent was heard, but for the tampered packet
    assert call.packets_received == 2 and heard
    stats = call.stats()
    assert stats["transport"] == "TLS" and stats["srtp"] is True and stats["srtp_dropped"] == 1
    assert call.hung_up_by == "local" and call.signals.entries[0][2].startswith("INVITE sips:")


def test_an_srtp_offer_answered_with_plain_rtp_fails_the_call_with_488(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    monkeypatch.setenv(CA_ENV, str(cert))

    async def main() -> tuple[TlsSipPeer, CallRejected]:
        async with TlsSipPeer(server_context(cert, key), srtp=False) as peer:
            call = SipCall(peer.uri, on_audio=lambda pcm, t: None)
            try:
                with pytest.raises(CallRejected) as info:
                    await call.place(timeout_s=5)
                await asyncio.wait_for(peer.bye.wait(), 2)
            finally:
                await call.close(linger_s=1)
            return peer, info.value

    peer, rejected = asyncio.run(main())
    assert rejected.status == 488
    assert "the SRTP offer (RTP/SAVP) was answered with plain RTP" in rejected.reason
    assert peer.methods == ["INVITE", "ACK", "BYE"]


def test_an_untrusted_certificate_fails_the_call_saying_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    other, _ = self_signed(tmp_path, "other")
    monkeypatch.setenv(CA_ENV, str(other))  # a CA bundle that does not hold the peer's

    async def main() -> tuple[TlsSipPeer, CallRejected]:
        async with TlsSipPeer(server_context(cert, key)) as peer:
            call = SipCall(peer.uri, on_audio=lambda pcm, t: None)
            try:
                with pytest.raises(CallRejected) as info:
                    await call.place(timeout_s=5)
            finally:
                await call.close(linger_s=0.1)
            await asyncio.sleep(0.05)
            return peer, info.value

    peer, rejected = asyncio.run(main())
    assert rejected.status == 503
    assert f"TLS to 127.0.0.1:{peer.port}: the server's certificate did not verify" \
        in rejected.reason
    assert re.search("self.signed certificate", rejected.reason) and CA_ENV in rejected.reason
    assert "\n" not in str(rejected) and peer.methods == []


def test_sips_and_tls_targets_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_SIP_USER", raising=False)
    target = resolve_target("sips:agent@voice.example.com", model="m")
    assert target.transport == "sip" and transport_of("sips:a@b") == "sip"
    assert target.url == "sips:agent@voice.example.com"
    assert target.label == "sips:agent@voice.example.com"
    tls = resolve_target("sip:agent@voice.example.com:5071;transport=tls", model="m")
    assert tls.label == "sip:agent@voice.example.com:5071;transport=tls"
    call = SipCall(tls.url, on_audio=lambda pcm, t: None)
    assert call.tls and call.remote == ("voice.example.com", 5071)
    secure = SipCall(target.url, on_audio=lambda pcm, t: None)
    assert secure.tls and secure.remote == ("voice.example.com", 5061)
    assert not SipCall("sip:agent@h", on_audio=lambda pcm, t: None).tls
    monkeypatch.setenv(CA_ENV, "/no/such/ca.pem")
    with pytest.raises(InputError, match="HARNESS_SIP_CA names '/no/such/ca.pem'"):
        resolve_target("sips:agent@voice.example.com", model="m")
    assert resolve_target("sip:agent@voice.example.com", model="m").transport == "sip"


def test_the_local_agents_endpoint_answers_a_tls_call_with_srtp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.agent import sip_server
    from harness.agent.faults import Faults

    cert, key = self_signed(tmp_path)
    monkeypatch.setenv(CA_ENV, str(cert))
    monkeypatch.setattr(sip_server, "SipAgentSession", RecordingSession)
    RecordingSession.made.clear()
    heard: list[np.ndarray] = []

    async def main() -> tuple[sip_server.SipEndpoint, SipCall]:
        endpoint = await sip_server.SipEndpoint(
            lambda spec: ("m", Faults(), {}), {}, tls=sip_server.server_tls_context(
                str(cert), str(key))).start()
        try:
            assert endpoint.sips_uri == f"sips:agent@127.0.0.1:{endpoint.tls_port}"
            call = SipCall(endpoint.sips_uri, on_audio=lambda pcm, t: heard.append(pcm),
                           send_rate=8000)
            try:
                media = await call.place(timeout_s=5)
                assert media.srtp and media.crypto is not None
                call.send_audio(TONE)
                session = RecordingSession.made[0]
                await _until(lambda: len(session.received) >= 3 and call.packets_received >= 3)
            finally:
                await call.close(linger_s=2)
            await _until(lambda: not endpoint.calls)
        finally:
            await endpoint.stop()
        return endpoint, call

    endpoint, call = asyncio.run(main())
    session = RecordingSession.made[0]
    assert session.media.srtp  # the offer the endpoint took was SRTP
    packets = [RtpPacket.parse(data) for data in session.received[:3]]
    assert [(p.payload_type, len(p.payload)) for p in packets] == [(0, 160)] * 3
    assert heard and call.stats()["srtp_dropped"] == 0
    (ended,) = endpoint.ended
    assert ended.answered and ended.hung_up_by == "caller" and ended.packets_in >= 3
