"""The WebRTC transport on loopback against a real aiortc peer: signalling over HTTP, the
``oai-events`` data channel, and Opus audio both ways, paced in real time and stamped on arrival.
"""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest

pytest.importorskip("aiortc")

from calls_endpoint import canned  # noqa: E402
from webrtc_peer import FRAME, RATE, ServicePeer, tone  # noqa: E402

from harness.realtime import AuthRefused, Target  # noqa: E402
from harness.realtime.errors import HandshakeRejected, Unreachable  # noqa: E402
from harness.realtime.signalling import call_id_of  # noqa: E402
from harness.realtime.webrtc import RtpAudio, WebRTCConnection  # noqa: E402

SECRET = "sk-test-DO-NOT-LEAK-5678"


def _target(url: str, key: str = SECRET) -> Target:
    return Target("test-webrtc", url, "ga", {"Authorization": f"Bearer {key}"})


def _level_db(pcm: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) / 32768)


def _peak_hz(pcm: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64) * np.hanning(len(pcm))))
    return float(np.fft.rfftfreq(len(pcm), 1 / RATE)[int(np.argmax(spectrum))])


async def _next_event(conn: WebRTCConnection, type_: str) -> dict:
    while True:
        message, _ = await asyncio.wait_for(conn.recv(), timeout=5)
        if not isinstance(message, RtpAudio) and json.loads(message)["type"] == type_:
            return json.loads(message)


async def _call() -> dict:
    async with ServicePeer(key=SECRET) as service:
        conn = await WebRTCConnection.open(_target(service.url))
        try:
            peer = service.calls[0]
            await conn.send({"type": "session.update", "session": {"type": "realtime"}})
            updated = await _next_event(conn, "session.updated")
            await conn.send({"type": "response.create"})
            echo = await _next_event(conn, "test.echo")
            # the caller: one second of tone, then silence, one 20 ms frame at a time
            caller = np.concatenate([tone(RATE), np.zeros(RATE // 5, dtype=np.int16)])
            pushed_ns = []
            start = time.perf_counter()
            for k in range(len(caller) // FRAME):
                await asyncio.sleep(max(0.0, start + (k + 1) * 0.02 - time.perf_counter()))
                pushed_ns.append(time.perf_counter_ns())
                conn.send_audio(caller[k * FRAME:(k + 1) * FRAME])
            await asyncio.sleep(0.2)
            heard = list(peer.heard)
            # the agent's side: half a second of tone on its track
            await conn.send({"type": "test.play", "ms": 500})
            received: list[tuple[np.ndarray, int]] = []
            deadline = time.perf_counter() + 1.5
            while time.perf_counter() < deadline:
                message, arrived = await asyncio.wait_for(conn.recv(), timeout=2)
                if isinstance(message, RtpAudio):
                    received.append((message.pcm, arrived))
            return {"call_id": conn.call_id, "requests": service.requests,
                    "authorization": peer.authorization, "updated": updated, "echo": echo,
                    "caller": caller, "pushed_ns": pushed_ns, "heard": heard,
                    "received": received}
        finally:
            await conn.close()


def test_call_over_loopback():
    result = asyncio.run(_call())
    # signalling: the offer went as the service wants it, the call id came from Location
    (request_line, headers), = result["requests"]
    assert request_line.startswith("POST /v1/realtime/calls?model=gpt-realtime ")
    assert headers["content-type"] == "application/sdp"
    assert result["authorization"] == f"Bearer {SECRET}"
    assert result["call_id"] == "rtc_test0"
    # events both ways on the data channel
    assert result["updated"]["session"] == {"type": "realtime"}
    assert result["echo"]["event"] == {"type": "response.create"}
    # caller audio: every packet arrived, at the level and pitch it was sent, within a few ms
    heard = result["heard"]
    assert len(heard) == len(result["pushed_ns"])
    pcm = np.concatenate([p for p, _ in heard])
    assert abs(len(pcm) - len(result["caller"])) <= FRAME
    tone_part = pcm[RATE // 10: RATE * 9 // 10]
    assert abs(_level_db(tone_part) - _level_db(tone(RATE))) < 0.5
    assert abs(_peak_hz(tone_part) - 440) < 5
    delays_ms = [(arrived - sent) / 1e6
                 for (_, arrived), sent in zip(heard, result["pushed_ns"], strict=True)]
    assert np.median(delays_ms) < 20, delays_ms
    # agent audio: the half second of tone, paced in real time, at its level and pitch
    received = result["received"]
    loud = [(p, t) for p, t in received if np.abs(p).max() > 1000]
    assert 23 <= len(loud) <= 27
    span_ms = (loud[-1][1] - loud[0][1]) / 1e6
    assert 420 <= span_ms <= 560, span_ms
    played = np.concatenate([p for p, _ in loud])
    assert abs(_peak_hz(played[FRAME:-FRAME]) - 440) < 5
    assert abs(_level_db(played[FRAME:-FRAME]) - _level_db(tone(RATE))) < 1.0


def test_an_answer_sent_as_plain_text_is_read_as_sdp():
    # the service was recorded answering its SDP with Content-Type: text/plain; charset=utf-8
    async def main() -> tuple[str | None, dict]:
        async with ServicePeer(answer_type="text/plain; charset=utf-8") as service:
            conn = await WebRTCConnection.open(_target(service.url))
            try:
                await conn.send({"type": "session.update", "session": {}})
                return conn.call_id, await _next_event(conn, "session.updated")
            finally:
                await conn.close()

    call_id, updated = asyncio.run(main())
    assert call_id == "rtc_test0" and updated["type"] == "session.updated"


def test_refused_key_names_no_secret():
    async def main() -> Exception:
        async with ServicePeer(key="sk-the-right-one") as service:
            with pytest.raises(Exception) as info:
                await WebRTCConnection.open(_target(service.url))
            return info.value

    err = asyncio.run(main())
    assert isinstance(err, AuthRefused) and not err.retryable
    assert "auth refused by test-webrtc" in str(err) and "HTTP 401" in str(err)
    assert SECRET not in str(err) and "model=" not in str(err)


def test_answer_without_sdp_is_rejected():
    async def main() -> Exception:
        async with canned("201 Created", "application/json", b"{}") as port:
            with pytest.raises(Exception) as info:
                await WebRTCConnection.open(_target(f"http://127.0.0.1:{port}/v1/realtime/calls"))
            return info.value

    err = asyncio.run(main())
    assert isinstance(err, HandshakeRejected) and "no SDP answer" in str(err)


def test_unreachable_calls_url():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(Unreachable) as info:
        asyncio.run(WebRTCConnection.open(_target(f"http://127.0.0.1:{port}/v1/realtime/calls")))
    assert info.value.retryable and SECRET not in str(info.value)


def test_call_id_of_location():
    assert call_id_of("/v1/realtime/calls/rtc_abc123") == "rtc_abc123"
    assert call_id_of("https://api.openai.com/v1/realtime/calls/rtc_x/") == "rtc_x"
    assert call_id_of(None) is None
