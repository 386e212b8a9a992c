"""SIP over TLS with SRTP against an independent implementation, Debian's baresip (its ``srtp``
module, ``mediaenc=srtp-mand``: SDES keys, calls refused without SRTP):

- the harness calls baresip, which listens on TLS with a self-signed certificate the harness
  trusts through ``HARNESS_SIP_CA`` and answers by itself: INVITE, 200, ACK, BYE, 200 on one TLS
  connection, SRTP read both ways;
- baresip calls the local agent's SIP endpoint over TLS (the agent's session stood in for by a
  recorder, to test the transport alone): the endpoint answers SRTP with its own key, and each
  side decrypts the other's audio.

Each call streams a second or two of audio in real time."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from ports import free_tcp_port

sys.path.insert(0, str(Path(__file__).resolve().parent / "sip"))
from baresip import configure  # noqa: E402
from tls_peer import RecordingSession, self_signed  # noqa: E402

from harness.sip.call import CA_ENV, CallRejected, SipCall  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.calls(1)]

TONE = (np.sin(np.arange(160) * 2 * np.pi * 440 / 8000) * 8000).astype(np.int16)


def _baresip(folder: Path, *, port: int, tls: str, account: str, seconds: float) -> str:
    sf.write(folder / "say.wav", np.tile(TONE, int(seconds * 50)), 8000, subtype="PCM_16")
    return configure(folder, account, port=port, tls=tls)



def _loud(wav: Path) -> int:
    audio, rate = sf.read(wav, dtype="int16")
    assert rate == 8000
    return int((np.abs(audio.astype(np.int32)) > 3000).sum())


def test_the_harness_calls_baresip_over_tls_with_srtp(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = self_signed(tmp_path)
    (tmp_path / "both.pem").write_bytes(cert.read_bytes() + key.read_bytes())
    monkeypatch.setenv(CA_ENV, str(cert))
    port = free_tcp_port()  # baresip takes TLS on the next port
    baresip = _baresip(tmp_path, port=port, tls=f"sip_certificate\t{tmp_path / 'both.pem'}",
                       account="<sip:agent@127.0.0.1>;regint=0;answermode=auto;"
                               "mediaenc=srtp-mand", seconds=2)
    heard: list[np.ndarray] = []

    async def main() -> tuple[SipCall, str]:
        process = await asyncio.create_subprocess_exec(
            baresip, "-f", str(tmp_path), "-t", "6", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT)
        try:
            call = SipCall(f"sips:agent@127.0.0.1:{port + 1}", send_rate=8000,
                           on_audio=lambda pcm, t: heard.append(pcm))
            for _ in range(40):  # until baresip listens
                try:
                    await call.place(timeout_s=5)
                    break
                except CallRejected:  # the connection refused while baresip starts
                    await call.close(linger_s=0)
                    call = SipCall(f"sips:agent@127.0.0.1:{port + 1}", send_rate=8000,
                                   on_audio=lambda pcm, t: heard.append(pcm))
                    await asyncio.sleep(0.1)
            for _ in range(50):
                call.send_audio(TONE)
                await asyncio.sleep(0.02)
            await call.close(linger_s=2)
        finally:
            out, _ = await asyncio.wait_for(process.communicate(), 15)
        return call, out.decode("utf-8", "replace")

    call, log = asyncio.run(main())
    assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" in log, log[-2000:]
    assert "Call established: sips:harness@127.0.0.1" in log, log[-2000:]
    lines = [line for _, _, line in call.signals.entries]
    assert lines[0].startswith("INVITE sips:agent@127.0.0.1:")
    assert [line.split()[0] for line in lines if not line.startswith("SIP/2.0 1")] == \
        ["INVITE", "SIP/2.0", "ACK", "BYE", "SIP/2.0"]
    assert lines[-1] == "SIP/2.0 200 OK" and call.hung_up_by == "local"
    stats = call.stats()
    assert stats["srtp"] and stats["srtp_dropped"] == 0 and stats["packets_received"] > 25
    assert sum(len(pcm) for pcm in heard) > 24_000 // 2  # half a second of baresip's tone
    assert _loud(next(tmp_path.glob("dump-*-dec.wav"))) > 8000 // 2  # and it heard ours


def test_baresip_calls_the_local_agents_endpoint_over_tls_with_srtp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.agent import sip_server
    from harness.agent.faults import Faults

    cert, key = self_signed(tmp_path)
    monkeypatch.setattr(sip_server, "SipAgentSession", RecordingSession)
    monkeypatch.setattr(RecordingSession, "payload", bytes([0x00, 0x80]) * 80)  # loud
    RecordingSession.made.clear()
    baresip = _baresip(tmp_path, port=0, tls=f"sip_cafile\t{cert}",
                       account="<sip:caller@127.0.0.1;transport=tls>;regint=0;"
                               "mediaenc=srtp-mand", seconds=2)

    async def main() -> tuple[sip_server.SipEndpoint, str]:
        endpoint = await sip_server.SipEndpoint(
            lambda spec: ("m", Faults(), {}), {},
            tls=sip_server.server_tls_context(str(cert), str(key))).start()
        try:
            uri = f"sip:agent@127.0.0.1:{endpoint.tls_port};transport=tls"
            process = await asyncio.create_subprocess_exec(
                baresip, "-f", str(tmp_path), "-e", f"/dial {uri}", "-t", "6",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
            out, _ = await asyncio.wait_for(process.communicate(), 15)
            await asyncio.sleep(0.2)
        finally:
            await endpoint.stop()
        return endpoint, out.decode("utf-8", "replace")

    endpoint, log = asyncio.run(main())
    assert "SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" in log, log[-2000:]
    assert "Call established" in log and "terminated" in log, log[-2000:]
    (ended,) = endpoint.ended
    assert ended.answered and ended.hung_up_by == "caller" and ended.packets_in > 75
    session = RecordingSession.made[0]
    assert session.media.srtp and len(session.received) > 75  # baresip's SRTP, decrypted
    assert _loud(next(tmp_path.glob("dump-*-dec.wav"))) > 8000  # baresip decrypted the agent's
