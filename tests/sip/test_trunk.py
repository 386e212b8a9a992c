"""Telephone numbers through a SIP trunk: the trunk file (located errors, no password in it),
the ``tel:`` target it resolves to, and a real call's INVITE through a challenging proxy on
loopback (Request-URI, caller ID, the proxy's 407 answered with the trunk's credentials)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.errors import InputError, InputErrors
from harness.realtime.targets import resolve_target
from harness.sip import message
from harness.sip.call import CallRejected, SipCall
from harness.sip.digest import Verifier
from harness.sip.trunk import TRUNK_ENV, dialled_number, load_trunk, trunk_call

PASSWORD = "pw-DO-NOT-LEAK-trunk"
ROOT = Path(__file__).resolve().parents[2]


def _trunk(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "trunk.yaml"
    path.write_text(text)
    return path


def test_a_number_is_dialled_at_the_trunk_with_its_caller_id(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TRUNK_ENV, str(_trunk(tmp_path, (
        "proxy: sip:trunk.example.net:5080\ndomain: example.pstn.test\nusername: ci\n"
        "password_env: TRUNK_PW\ncaller_id: '+15550100123'\ndisplay_name: Harness\n"))))
    monkeypatch.setenv("TRUNK_PW", PASSWORD)
    target = resolve_target("tel:+1-555-010-0199", model="m")
    assert target.transport == "sip"
    assert target.url == "sip:+15550100199@example.pstn.test;user=phone"
    assert target.label == "tel:+15550100199 via trunk.example.net:5080"
    assert target.credentials == ("ci", PASSWORD)
    route = target.sip_route
    assert route is not None and route.next_hop == ("trunk.example.net", 5080)
    assert (route.from_user, route.display_name, route.from_host) == (
        "+15550100123", "Harness", "example.pstn.test")
    assert PASSWORD not in repr(target) and PASSWORD not in repr(route)


def test_a_trunk_without_credentials_and_defaults(tmp_path: Path) -> None:
    call = trunk_call("tel:+4930123456", _trunk(tmp_path, "proxy: 10.0.0.7\n"))
    assert call.uri == "sip:+4930123456@10.0.0.7;user=phone"
    assert call.route.next_hop == ("10.0.0.7", 5060) and call.route.credentials is None
    assert call.route.from_user == "harness"


@pytest.mark.parametrize(("text", "line", "field", "says"), [
    ("proxy: sip:trunk.test\npassword: hunter2\n", 2, "password",
     "did you mean 'password_env'"),
    ("proxy: sips:trunk.test\n", 1, "proxy", "over UDP"),
    ("proxy: 'sip:trunk.test;transport=tcp'\n", 1, "proxy", "over UDP"),
    ("proxy: sip:trunk.test\ncaller_id: 'me and you'\n", 2, "caller_id", "+15550100123"),
    ("proxy: sip:trunk.test\npassword_env: 's3cret!'\n", 2, "password_env",
     "name of an environment variable"),
    ("domain: x\n", 1, "proxy", "required key is missing"),
])
def test_a_bad_trunk_file_is_located(tmp_path: Path, text: str, line: int, field: str,
                                     says: str) -> None:
    with pytest.raises(InputErrors) as info:
        load_trunk(_trunk(tmp_path, text))
    [error] = info.value.errors
    assert error.field == field and says in error.message, error.format()
    assert error.location is not None and f"trunk.yaml:{line}:" in error.location


def test_what_a_tel_target_needs_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TRUNK_ENV, raising=False)
    with pytest.raises(InputError, match="dialled through a SIP trunk; set HARNESS_SIP_TRUNK"):
        resolve_target("tel:+15551234567", model="m")
    monkeypatch.setenv(TRUNK_ENV, str(_trunk(tmp_path, "proxy: t.test\nusername: ci\n")))
    monkeypatch.delenv("HARNESS_SIP_PASSWORD", raising=False)
    with pytest.raises(InputError, match="set the environment variable HARNESS_SIP_PASSWORD"):
        resolve_target("tel:+15551234567", model="m")
    with pytest.raises(InputError, match="expected tel:\\+ and the number's digits"):
        dialled_number("tel:+1")
    monkeypatch.setenv(TRUNK_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(InputErrors, match="no trunk file at"):
        resolve_target("tel:+15551234567", model="m")


def test_harness_run_refuses_a_tel_target_without_a_trunk_with_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != TRUNK_ENV}
    proc = subprocess.run([str(Path(sys.executable).with_name("harness")), "run",
                           "scenarios/order-status.yaml", "-o", str(tmp_path),
                           "--target", "tel:+15551234567"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in out, out
    assert "dialled through a SIP trunk; set HARNESS_SIP_TRUNK" in out, out
    assert not list(tmp_path.iterdir())


class ChallengingProxy(asyncio.DatagramProtocol):
    """A trunk's edge on loopback: every INVITE without good credentials gets 407, a good one
    486 Busy Here (the call goes no further; what arrived is kept)."""

    def __init__(self) -> None:
        self.verifier = Verifier("trunk.test", {"ci": PASSWORD})
        self.invites: list[message.Request] = []
        self.transport: asyncio.DatagramTransport | None = None

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = message.parse(data)
        if not isinstance(msg, message.Request) or msg.method != "INVITE":
            return
        self.invites.append(msg)
        user = self.verifier.check("INVITE", msg.headers.get("Proxy-Authorization"))
        response = message.response_to(msg, 486 if user else 407, to_tag="edge")
        if user is None:
            response.headers.add("Proxy-Authenticate", self.verifier.challenge())
        assert self.transport is not None
        self.transport.sendto(message.serialize(response), addr)


def test_a_call_goes_to_the_proxy_with_the_number_and_answers_its_challenge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRUNK_TEST_PW", PASSWORD)

    async def main() -> tuple[ChallengingProxy, CallRejected]:
        loop = asyncio.get_running_loop()
        proxy = ChallengingProxy()
        transport, _ = await loop.create_datagram_endpoint(lambda: proxy,
                                                           local_addr=("127.0.0.1", 0))
        proxy.transport = transport
        port = transport.get_extra_info("sockname")[1]
        trunk = _trunk(tmp_path, f"proxy: 127.0.0.1:{port}\ndomain: trunk.test\n"
                                 "username: ci\npassword_env: TRUNK_TEST_PW\n"
                                 "caller_id: '+15550100123'\ndisplay_name: Harness\n")
        resolved = trunk_call("tel:+15550100199", trunk)
        call = SipCall(resolved.uri, on_audio=lambda pcm, t: None,
                       credentials=resolved.route.credentials, route=resolved.route)
        try:
            with pytest.raises(CallRejected) as info:
                await call.place(timeout_s=5)
        finally:
            await call.close(linger_s=0.1)
            transport.close()
        return proxy, info.value

    proxy, rejected = asyncio.run(main())
    assert rejected.status == 486
    first, second = proxy.invites
    for invite in (first, second):
        assert str(invite.uri) == "sip:+15550100199@trunk.test;user=phone"
        display, uri, _ = message.parse_name_addr(invite.headers.get("From") or "")
        assert (display, uri) == ("Harness", "sip:+15550100123@trunk.test")
    assert first.headers.get("Proxy-Authorization") is None
    authorization = second.headers.get("Proxy-Authorization") or ""
    assert 'username="ci"' in authorization and PASSWORD not in authorization
    assert first.call_id == second.call_id and second.cseq[0] == first.cseq[0] + 1
