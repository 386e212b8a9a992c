"""WebRTC target specs: local-webrtc, openai-webrtc, azure-webrtc and webrtc+http(s):// calls URLs
resolve to a Target with the webrtc transport, the calls URL and credentials only in its headers;
Azure's preview WebRTC route is refused by name."""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.realtime.targets import (
    local_target,
    missing_credentials,
    parse_spec,
    resolve_target,
    transport_of,
)

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


def _azure_env(monkeypatch: pytest.MonkeyPatch, endpoint: str = "https://acme.openai.azure.com/"
               ) -> None:
    monkeypatch.setenv("AZURE_OPENAI_ENDPOINT", endpoint)
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", SECRET)
    for name in ("AZURE_OPENAI_DEPLOYMENT", "AZURE_OPENAI_API_VERSION"):
        monkeypatch.delenv(name, raising=False)


def test_azure_over_webrtc(monkeypatch: pytest.MonkeyPatch) -> None:
    _azure_env(monkeypatch)
    target = resolve_target("azure-webrtc", model="gpt-realtime")
    assert target.transport == "webrtc" and target.dialect == "ga"
    # Azure's GA routes: no model or api-version in the URLs, the deployment in the session config
    assert target.url == "https://acme.openai.azure.com/openai/v1/realtime/calls"
    assert target.secrets_url == "https://acme.openai.azure.com/openai/v1/realtime/client_secrets"
    assert target.model == "gpt-realtime"
    assert target.headers == {"api-key": SECRET}
    assert target.label == "azure-webrtc:gpt-realtime" and SECRET not in repr(target)
    monkeypatch.setenv("AZURE_OPENAI_DEPLOYMENT", "acme-voice")
    deployed = resolve_target("azure-webrtc", model="gpt-realtime")
    assert deployed.model == "acme-voice" and deployed.label == "azure-webrtc:acme-voice"
    # a plain-HTTP endpoint (a local proxy) stays plain; the WebSocket target is unchanged
    _azure_env(monkeypatch, "http://127.0.0.1:9")
    assert resolve_target("azure-webrtc", model="m").url == \
        "http://127.0.0.1:9/openai/v1/realtime/calls"
    assert resolve_target("azure", model="m").transport == "websocket"


def test_azure_over_webrtc_refuses_what_it_cannot_reach(monkeypatch: pytest.MonkeyPatch) -> None:
    _azure_env(monkeypatch)
    monkeypatch.delenv("AZURE_OPENAI_API_KEY")
    assert missing_credentials("azure-webrtc") == ["AZURE_OPENAI_API_KEY"]
    with pytest.raises(InputError, match="set the environment variable AZURE_OPENAI_API_KEY"):
        resolve_target("azure-webrtc", model="m")
    monkeypatch.delenv("AZURE_OPENAI_ENDPOINT")
    with pytest.raises(InputError, match="set the environment variable AZURE_OPENAI_ENDPOINT"):
        resolve_target("azure-webrtc", model="m")
    # the preview route (an api-version, the beta dialect) is refused, never swapped for GA
    _azure_env(monkeypatch)
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2025-04-01-preview")
    with pytest.raises(InputError, match="AZURE_OPENAI_API_VERSION is set") as version:
        resolve_target("azure-webrtc", model="m")
    assert version.value.field == "target" and SECRET not in str(version.value)
    monkeypatch.delenv("AZURE_OPENAI_API_VERSION")
    with pytest.raises(InputError, match="GA dialect only") as beta:
        resolve_target("azure-webrtc:beta", model="m")
    assert beta.value.field == "dialect"


def test_the_local_agent_over_webrtc() -> None:
    target = local_target("http://127.0.0.1:5/v1/realtime/calls", model="gpt-realtime",
                          faults=["no_preamble"], transport="webrtc")
    assert target.transport == "webrtc" and target.label == "local-webrtc:gpt-realtime[no_preamble]"
    assert target.url == "http://127.0.0.1:5/v1/realtime/calls?model=gpt-realtime&faults=no_preamble"
    resolved = resolve_target("local-webrtc", model="m", local_url=target.url)
    assert resolved.transport == "webrtc" and resolved.label == "local-webrtc:m"


def test_transports_and_unknown_specs() -> None:
    assert [transport_of(parse_spec(s)[0]) for s in (
        "local", "local-webrtc", "openai:beta", "openai-webrtc", "azure", "azure-webrtc",
        "ws://h/v1/realtime", "webrtc+https://h/v1/realtime/calls")] == [
        "websocket", "webrtc", "websocket", "webrtc", "websocket", "webrtc", "websocket",
        "webrtc"]
    with pytest.raises(InputError, match="azure-webrtc or a webrtc\\+https:// calls URL"):
        parse_spec("webrtc+ftp://h/calls")
    with pytest.raises(InputError):
        parse_spec("https://api.openai.com/v1/realtime/calls")
