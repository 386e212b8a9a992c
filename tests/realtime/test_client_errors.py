"""Connection failures each become one TargetError subclass with one clear message, no secret."""

from __future__ import annotations

import asyncio
import socket
from http import HTTPStatus

import pytest
from websockets.asyncio.server import serve

from harness.errors import InputError
from harness.realtime import (
    AuthRefused,
    HandshakeTimeout,
    Target,
    TLSFailure,
    UnknownModel,
    Unreachable,
    parse_spec,
    resolve_target,
)
from harness.realtime.client import RealtimeConnection

SECRET = "sk-test-DO-NOT-LEAK-1234"


def _target(url: str) -> Target:
    return Target("test-target", url, "ga", {"Authorization": f"Bearer {SECRET}"})


async def _open_against(process_request) -> Exception:
    async def handler(ws):
        await ws.close()

    async with serve(handler, "127.0.0.1", 0, process_request=process_request) as srv:
        port = srv.sockets[0].getsockname()[1]
        with pytest.raises(Exception) as info:
            await RealtimeConnection.open(_target(f"ws://127.0.0.1:{port}/v1/realtime?model=x"))
        return info.value


def test_auth_refused():
    def refuse(conn, request):
        return conn.respond(HTTPStatus.UNAUTHORIZED, "invalid api key\n")

    err = asyncio.run(_open_against(refuse))
    assert isinstance(err, AuthRefused) and not err.retryable
    assert "auth refused by test-target" in str(err) and "HTTP 401" in str(err)
    assert SECRET not in str(err) and "model=x" not in str(err)


def test_unknown_model():
    def not_found(conn, request):
        return conn.respond(HTTPStatus.NOT_FOUND, "The model `gpt-nope` does not exist\n")

    err = asyncio.run(_open_against(not_found))
    assert isinstance(err, UnknownModel)
    assert "unknown model at test-target" in str(err) and "gpt-nope" in str(err)


def test_unreachable_host():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(Unreachable) as info:
        asyncio.run(RealtimeConnection.open(_target(f"ws://127.0.0.1:{port}/v1/realtime")))
    assert info.value.retryable and "is unreachable" in str(info.value)


async def _silent_tcp(tls: bool) -> Exception:
    async def swallow(reader, writer):
        if tls:
            writer.write(b"HTTP/1.1 200 OK\r\n\r\nnot tls at all")
            await writer.drain()
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    scheme = "wss" if tls else "ws"
    try:
        with pytest.raises(Exception) as info:
            await RealtimeConnection.open(_target(f"{scheme}://127.0.0.1:{port}/v1/realtime"),
                                          open_timeout=0.5)
        return info.value
    finally:
        server.close()


def test_tls_failure():
    err = asyncio.run(_silent_tcp(tls=True))
    assert isinstance(err, TLSFailure) and "TLS handshake with test-target" in str(err)


def test_handshake_timeout():
    err = asyncio.run(_silent_tcp(tls=False))
    assert isinstance(err, HandshakeTimeout) and err.retryable
    assert "within 0.5 s" in str(err)


def test_openai_target_keeps_the_key_in_headers_only(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    target = resolve_target("openai:beta", model="gpt-realtime")
    assert target.url == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert target.headers == {"Authorization": f"Bearer {SECRET}", "OpenAI-Beta": "realtime=v1"}
    assert target.dialect == "beta" and target.label == "openai:gpt-realtime"
    assert SECRET not in repr(target)


def test_azure_target(monkeypatch):
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", "https://acme.openai.azure.com/")
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("AZURE_OPENAI_DEPLOYMENT", raising=False)
    monkeypatch.delenv("AZURE_OPENAI_API_VERSION", raising=False)
    ga = resolve_target("azure", model="my-realtime")
    assert ga.url == "wss://acme.openai.azure.com/openai/v1/realtime?model=my-realtime"
    assert ga.headers == {"api-key": SECRET} and ga.dialect == "ga"
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2024-10-01-preview")
    beta = resolve_target("azure", model="my-realtime")
    assert beta.url.startswith("wss://acme.openai.azure.com/openai/realtime?api-version=")
    assert beta.dialect == "beta"


def test_missing_key_and_bad_specs_are_input_errors(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(InputError, match="OPENAI_API_KEY"):
        resolve_target("openai", model="gpt-realtime")
    with pytest.raises(InputError, match="unknown target 'http://x'"):
        parse_spec("http://x")
    assert parse_spec("wss://host/v1/realtime:beta") == ("wss://host/v1/realtime", "beta")
