"""SIP target specs: ``sip:USER@HOST:PORT`` and ``local-sip`` resolve to a Target with the sip
transport; digest credentials come from the environment and never reach its label or repr; the
local agent's faults travel in an INVITE header."""

from __future__ import annotations

import pytest

from harness.errors import InputError
from harness.realtime.targets import (
    FAULTS_HEADER,
    local_target,
    resolve_target,
    transport_of,
)

PASSWORD = "pw-DO-NOT-LEAK-sip"


def test_a_sip_uri_is_dialled_directly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_SIP_USER", raising=False)
    monkeypatch.delenv("HARNESS_SIP_PASSWORD", raising=False)
    target = resolve_target("sip:agent@voice.example.com:5070", model="gpt-realtime")
    assert target.transport == "sip"
    assert target.url == "sip:agent@voice.example.com:5070"
    assert target.label == "sip:agent@voice.example.com:5070"
    assert target.credentials is None and target.headers == {}
    assert transport_of("sip:x@h") == "sip" and transport_of("local-sip") == "sip"
    assert transport_of("local") == "websocket"


def test_digest_credentials_come_from_the_environment_and_stay_out_of_sight(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_SIP_USER", "alice")
    monkeypatch.setenv("HARNESS_SIP_PASSWORD", PASSWORD)
    target = resolve_target("sip:agent@pbx.example.com;transport=udp", model="m")
    assert target.credentials == ("alice", PASSWORD)
    assert PASSWORD not in repr(target) and PASSWORD not in target.label
    assert target.label == "sip:agent@pbx.example.com"


def test_the_local_agent_over_sip_takes_its_faults_in_a_header() -> None:
    target = local_target("sip:agent@127.0.0.1:5080", model="gpt-realtime",
                          faults=["no_preamble", "added_latency_ms=400"], transport="sip")
    assert target.transport == "sip" and target.url == "sip:agent@127.0.0.1:5080"
    assert target.headers == {FAULTS_HEADER: "no_preamble,added_latency_ms=400"}
    assert target.label == "local-sip:gpt-realtime[no_preamble,added_latency_ms=400]"
    assert local_target("sip:agent@127.0.0.1:5080", model="m", faults=[],
                        transport="sip").headers == {}


@pytest.mark.parametrize(("spec", "says"), [
    ("sip:", "not a SIP URI"), ("sip:@", "not a SIP URI"),
    ("sip:agent@h;transport=tcp", "transport=tcp is not dialled"),
    ("sipx:agent@h", "unknown target")])
def test_a_bad_sip_target_is_refused_with_a_message(spec: str, says: str) -> None:
    with pytest.raises(InputError) as info:
        resolve_target(spec, model="m")
    assert says in str(info.value) and info.value.field == "target"
