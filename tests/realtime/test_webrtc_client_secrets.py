"""The OpenAI route as a browser takes it, against a loopback server that answers like the service:
the session config mints an ephemeral key (``POST /v1/realtime/client_secrets``, JSON, the API
key as bearer), and the SDP offer carries that key, not the API key; a refused key, a mint answer
without a key and a refused session config each say why, naming no key. Azure's GA route the
same way: the ``api-key`` header to ``/openai/v1/realtime/client_secrets`` with the deployment as
the session's model, then the offer to ``/openai/v1/realtime/calls`` with the ephemeral key
alone."""

from __future__ import annotations

import asyncio
import json

import pytest

pytest.importorskip("aiortc")

from calls_endpoint import canned  # noqa: E402
from webrtc_peer import ServicePeer  # noqa: E402

from harness.realtime import AuthRefused, Target  # noqa: E402
from harness.realtime.errors import HandshakeRejected  # noqa: E402
from harness.realtime.targets import resolve_target  # noqa: E402
from harness.realtime.webrtc import WebRTCConnection  # noqa: E402

SECRET = "sk-test-DO-NOT-LEAK-mint-4321"
AZURE_KEY = "azure-test-DO-NOT-LEAK-mint-8765"
SESSION = {"type": "realtime", "instructions": "Be brief.",
           "audio": {"output": {"voice": "marin", "format": {"type": "audio/pcm", "rate": 24000}}}}


def _target(port: int, key: str = SECRET) -> Target:
    base = f"http://127.0.0.1:{port}/v1/realtime"
    return Target("openai-webrtc:gpt-realtime", f"{base}/calls?model=gpt-realtime", "ga",
                  {"Authorization": f"Bearer {key}"}, "webrtc", f"{base}/client_secrets",
                  model="gpt-realtime")


async def _open(service: ServicePeer, key: str = SECRET, session: dict | None = SESSION
                ) -> WebRTCConnection:
    return await WebRTCConnection.open(_target(service.port, key), session=session)


def test_the_offer_carries_an_ephemeral_key_minted_with_the_session_config():
    async def main() -> tuple[str | None, ServicePeer]:
        async with ServicePeer(key=SECRET) as service:
            conn = await _open(service)
            try:
                return conn.call_id, service
            finally:
                await conn.close()

    call_id, service = asyncio.run(main())
    (mint_line, mint_headers), (call_line, call_headers) = service.requests
    assert mint_line.startswith("POST /v1/realtime/client_secrets ")
    assert mint_headers["authorization"] == f"Bearer {SECRET}"
    assert mint_headers["content-type"] == "application/json"
    body, = service.secret_bodies
    assert json.loads(body) == {"session": {**SESSION, "model": "gpt-realtime"}}
    ephemeral, = service.minted
    assert call_line.startswith("POST /v1/realtime/calls?model=gpt-realtime ")
    assert call_headers["content-type"] == "application/sdp"
    assert call_headers["authorization"] == f"Bearer {ephemeral}"
    assert SECRET not in json.dumps(call_headers)
    assert call_id == "rtc_test0"


def test_a_refused_key_stops_before_the_offer_and_names_no_key():
    async def main() -> tuple[Exception, ServicePeer]:
        async with ServicePeer(key="sk-the-right-one") as service:
            with pytest.raises(Exception) as info:
                await _open(service)
            return info.value, service

    err, service = asyncio.run(main())
    assert isinstance(err, AuthRefused) and "HTTP 401" in str(err)
    assert SECRET not in str(err) and not service.calls and not service.minted
    assert [line.split()[1] for line, _ in service.requests] == ["/v1/realtime/client_secrets"]


def test_a_mint_answer_without_a_key_and_a_refused_session_say_why():
    async def main() -> tuple[Exception, Exception]:
        async with canned("200 OK", "application/json", b"{}") as port:
            with pytest.raises(HandshakeRejected) as missing:
                await WebRTCConnection.open(_target(port), session=SESSION)
        async with ServicePeer(key=SECRET) as service:
            with pytest.raises(HandshakeRejected) as refused:
                await _open(service, session={"type": "transcription"})
        return missing.value, refused.value

    missing, refused = asyncio.run(main())
    assert 'without one (no "value"' in str(missing)
    assert "HTTP 400" in str(refused) and "session.type" in str(refused)
    assert SECRET not in str(missing) + str(refused)


def test_azure_mints_with_its_api_key_header_and_offers_the_ephemeral_key_alone(
        monkeypatch: pytest.MonkeyPatch) -> None:
    async def main() -> tuple[str | None, ServicePeer]:
        async with ServicePeer(key=AZURE_KEY, azure=True) as service:
            monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", f"http://127.0.0.1:{service.port}/")
            monkeypatch.setenv("AZURE_OPENAI_API_KEY", AZURE_KEY)
            monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "acme-voice")
            monkeypatch.delenv("AZURE_OPENAI_API_VERSION", raising=False)
            target = resolve_target("azure-webrtc", model="gpt-realtime")
            conn = await WebRTCConnection.open(target, session=SESSION)
            try:
                return conn.call_id, service
            finally:
                await conn.close()

    call_id, service = asyncio.run(main())
    (mint_line, mint_headers), (call_line, call_headers) = service.requests
    assert mint_line.startswith("POST /openai/v1/realtime/client_secrets ")
    assert mint_headers["api-key"] == AZURE_KEY and "authorization" not in mint_headers
    body, = service.secret_bodies
    assert json.loads(body) == {"session": {**SESSION, "model": "acme-voice"}}
    ephemeral, = service.minted
    assert call_line.startswith("POST /openai/v1/realtime/calls ")
    assert call_headers["content-type"] == "application/sdp"
    assert call_headers["authorization"] == f"Bearer {ephemeral}"
    assert "api-key" not in call_headers and AZURE_KEY not in json.dumps(call_headers)
    assert call_id == "rtc_test0"
