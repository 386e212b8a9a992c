"""WebRTC target specs: local-webrtc, openai-webrtc and webrtc+http(s):// calls URLs resolve to a
Target with the webrtc transport, the calls URL and credentials only in its headers."""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.realtime.targets import local_target, parse_spec, resolve_target, transport_of

SECRET = "sk-test-DO-NOT-LEAK-targets"


def test_a_calls_url_over_webrtc() -> None:
    target = resolve_target("webrtc+https://voice.example.com/v1/realtime/calls?token=abc",
                            model="gpt-realtime")
    assert target.transport == "webrtc"
    assert target.url == "https://voice.example.com/v1/realtime/calls?token=abc"
    assert target.label == "webrtc+https://voice.example.com/v1/realtime/calls"
    assert target.safe_url == "https://voice.example.com/v1/realtime/calls"
    assert resolve_target("webrtc+http://127.0.0.1:8/v1/realtime/calls",
                          model="m").url == "http://127.0.0.1:8/v1/realtime/calls"


def test_openai_over_webrtc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    target = resolve_target("openai-webrtc", model="gpt-realtime")
    assert target.transport == "webrtc"
    assert target.url == "https://api.openai.com/v1/realtime/calls?model=gpt-realtime"
    assert target.headers == {"Authorization": f"Bearer {SECRET}"}
    assert target.label == "openai-webrtc:gpt-realtime" and SECRET not in repr(target)
    # the key mints an ephemeral key with the session config there; beta sends the key itself
    assert target.secrets_url == "https://api.openai.com/v1/realtime/client_secrets"
    assert resolve_target("openai-webrtc:beta", model="m").secrets_url is None
    assert resolve_target("webrtc+https://h/v1/realtime/calls", model="m").secrets_url is None
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    assert resolve_target("openai-webrtc", model="m").url == \
        "http://127.0.0.1:9/v1/realtime/calls?model=m"
    assert resolve_target("openai", model="m").transport == "websocket"


def test_the_local_agent_over_webrtc() -> None:
    target = local_target("http://127.0.0.1:5/v1/realtime/calls", model="gpt-realtime",
                          faults=["no_preamble"], transport="webrtc")
    assert target.transport == "webrtc" and target.label == "local-webrtc:gpt-realtime[no_preamble]"
    assert target.url == "http://127.0.0.1:5/v1/realtime/calls?model=gpt-realtime&faults=no_preamble"
    resolved = resolve_target("local-webrtc", model="m", local_url=target.url)
    assert resolved.transport == "webrtc" and resolved.label == "local-webrtc:m"


def test_transports_and_unknown_specs() -> None:
    assert [transport_of(parse_spec(s)[0]) for s in (
        "local", "local-webrtc", "openai:beta", "openai-webrtc", "ws://h/v1/realtime",
        "webrtc+https://h/v1/realtime/calls")] == [
        "websocket", "webrtc", "websocket", "webrtc", "websocket", "webrtc"]
    with pytest.raises(InputError, match="webrtc\\+https:// calls URL"):
        parse_spec("webrtc+ftp://h/calls")
    with pytest.raises(InputError):
        parse_spec("https://api.openai.com/v1/realtime/calls")
