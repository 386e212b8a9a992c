"""Where a SIP call over UDP comes from: the address the system routes to the next hop by, named
in the Via, the Contact and the SDP, so a far end off this machine can answer (a call bound to
loopback could not reach one)."""

from __future__ import annotations

import asyncio

import pytest
from sip_peer import RefusingPeer

from harness.sip import message
from harness.sip.call import CallRejected, SipCall, route_source
from harness.sip.sdp import parse as parse_sdp


def test_a_loopback_peer_is_called_from_loopback() -> None:
    assert route_source(("127.0.0.1", 5060)) == "127.0.0.1"
    assert route_source(("::1", 5060)) == "::1"


def _invite_to(host: str) -> message.Request:
    async def main() -> message.Request:
        async with RefusingPeer(486, host=host) as peer:
            call = SipCall(peer.uri, on_audio=lambda pcm, t: None)
            try:
                with pytest.raises(CallRejected):
                    await call.place(timeout_s=5)
            finally:
                await call.close(linger_s=0.1)
            return peer.invites[0]
    return asyncio.run(main())


def test_a_peer_off_loopback_is_called_from_the_routed_interface() -> None:
    try:
        source = route_source(("192.0.2.1", 5060))  # TEST-NET-1: routed, never sent to
    except CallRejected as exc:  # a machine with no route off loopback says so
        assert "no route to 192.0.2.1" in str(exc)
        return
    assert not source.startswith("127.")
    # a peer listening on that interface gets an INVITE that names it, not loopback
    invite = _invite_to(source)
    assert invite.via.host == source
    assert f"@{source}:" in (invite.headers.get("Contact") or "")
    assert parse_sdp(invite.body.decode()).address == source


def test_a_host_name_that_does_not_resolve_fails_the_call_with_the_reason() -> None:
    async def main() -> CallRejected:
        call = SipCall("sip:agent@no-such-host.invalid:5060", on_audio=lambda pcm, t: None)
        with pytest.raises(CallRejected) as info:
            await call.place(timeout_s=5)
        await call.close(linger_s=0.1)
        return info.value
    rejected = asyncio.run(main())
    assert rejected.status == 503 and "cannot resolve no-such-host.invalid" in str(rejected)
