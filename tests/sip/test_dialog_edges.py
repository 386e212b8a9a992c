"""SIP dialogs off the main path: proxy challenges, forks, early media, delayed offers, reliable
transports, record-routes, and damaged messages."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent))
from sip_wire import AGENT, CALLER, TARGET, Wire, label, lose_first  # noqa: E402

from harness.sip import sdp
from harness.sip.dialog import (
    Acked,
    Answered,
    Failed,
    HungUp,
    Incoming,
    Outgoing,
    Ringing,
)
from harness.sip.digest import Verifier
from harness.sip.message import (
    Headers,
    Request,
    Response,
    SipError,
    SipParseError,
    SipUri,
    parse,
    response_to,
    serialize,
)


def test_a_proxy_challenge_is_answered_with_proxy_authorization() -> None:
    verifier = Verifier("proxy.test", {"trunk-user": "pw"})
    wire = Wire(("trunk-user", "pw"), verifier=verifier, challenge_status=407)
    second = [m for s, _, m in wire.log if label(m) == "INVITE"][1]
    assert verifier.check("INVITE", second.headers.get("Proxy-Authorization")) == "trunk-user"
    assert second.headers.get("Authorization") is None
    assert wire.caller.state == "confirmed"


def test_a_challenged_bye_is_sent_again_with_credentials() -> None:
    verifier = Verifier("agent.test", {"harness": "s3cret"})
    wire = Wire(("harness", "s3cret"))
    wire.caller.hang_up(1.0)
    (data, _), = wire.caller.take()
    bye = parse(data)
    assert isinstance(bye, Request)
    challenge = response_to(bye, 401, to_tag=bye.to_tag)
    challenge.headers.add("WWW-Authenticate", verifier.challenge())
    wire.caller.receive(challenge, 1.1, source=AGENT)
    (data, _), = wire.caller.take()
    again = parse(data)
    assert isinstance(again, Request) and again.method == "BYE"
    assert again.cseq[0] == bye.cseq[0] + 1
    assert verifier.check("BYE", again.headers.get("Authorization")) == "harness"
    wire.caller.receive(response_to(again, 200, to_tag=again.to_tag), 1.2, source=AGENT)
    assert wire.caller.take_events() == [HungUp("local", 200)]


def test_a_second_fork_answering_is_acknowledged_and_hung_up() -> None:
    wire = Wire()
    ok = next(m for s, _, m in wire.log if label(m) == "200/INVITE")
    assert isinstance(ok, Response)
    fork = parse(serialize(ok))
    assert isinstance(fork, Response)
    fork.headers.set("To", "<sip:agent@127.0.0.1:5060>;tag=other-fork")
    fork.headers.set("Contact", "<sip:agent@127.0.0.1:5070>")
    wire.caller.receive(fork, 1.0, source=AGENT)
    sent = [parse(d) for d, _ in wire.caller.take()]
    assert [label(m) for m in sent] == ["ACK", "BYE"]
    assert all(m.to_tag == "other-fork" for m in sent)
    assert sent[0].uri == "sip:agent@127.0.0.1:5070"  # type: ignore[union-attr]
    assert wire.caller.take_events() == [] and wire.caller.state == "confirmed"
    # The first fork's 200 again is acknowledged again, and nothing else.
    wire.caller.receive(ok, 1.1, source=AGENT)
    assert [label(parse(d)) for d, _ in wire.caller.take()] == ["ACK"]


def test_the_agent_hanging_up_before_the_ack_waits_for_it() -> None:
    wire = Wire(answer=False, lose=lose_first("200/INVITE"))
    wire.accept()
    wire.agent.hang_up(wire.now)
    assert wire.agent.state == "terminating" and "BYE" not in wire.sent("agent")
    wire.advance(1.0)
    assert wire.sent("agent").index("BYE") > wire.sent("agent").index("200/INVITE")
    assert wire.agent_events == [Acked(), HungUp("local", 200)]
    assert wire.caller_events[-1] == HungUp("remote")


def test_an_answer_the_caller_cannot_use_fails_with_488_and_is_hung_up() -> None:
    wire = Wire(agent_sdp="v=0\r\nc=IN IP4 127.0.0.1\r\nm=audio 5000 RTP/AVP 9\r\n")
    assert isinstance(wire.caller_events[-1], Failed)
    assert wire.caller_events[-1].status == 488
    assert "G722" in wire.caller_events[-1].reason
    assert wire.sent("caller") == ["INVITE", "ACK", "BYE"]
    assert wire.caller.state == "ended" and wire.agent_events[-1] == HungUp("remote")
    assert not any(isinstance(e, HungUp) for e in wire.caller_events)


def test_a_reliable_transport_resends_nothing_but_still_times_out() -> None:
    caller = Outgoing(SipUri.parse("sips:agent@example.test"), local=CALLER, remote=AGENT,
                      sdp_offer=sdp.offer("127.0.0.1", 4000), transport="TLS", now=0.0)
    (data, _), = caller.take()
    invite = parse(data)
    assert invite.via.transport == "TLS"
    assert invite.headers.get("Contact") == "<sips:harness@127.0.0.1:5062>"
    assert (invite.headers.get("From") or "").startswith("<sips:harness@127.0.0.1>;tag=")
    assert caller.next_deadline() == pytest.approx(32.0)
    caller.tick(31.9)
    assert caller.take() == []
    caller.tick(32.0)
    assert caller.take_events() == [Failed(408, "Request Timeout")]


def test_the_invite_carries_the_callers_identity_and_extra_headers() -> None:
    caller = Outgoing(SipUri.parse("tel:+15551234567"), local=CALLER, remote=AGENT,
                      sdp_offer=sdp.offer("127.0.0.1", 4000), display="Eval Caller",
                      from_user="+15550001111", from_host="trunk.example",
                      extra_headers={"X-Scenario": "cancel-order"}, now=0.0)
    invite = parse(caller.take()[0][0])
    assert isinstance(invite, Request)
    assert invite.uri == "tel:+15551234567"
    assert invite.headers.get("To") == "<tel:+15551234567>"
    assert (invite.headers.get("From") or "").startswith(
        '"Eval Caller" <sip:+15550001111@trunk.example>;tag=')
    assert invite.headers.get("X-Scenario") == "cancel-order"
    assert invite.headers.get("Content-Type") == "application/sdp"
    assert sdp.parse(invite.body.decode()).port == 4000


def test_early_media_in_a_183_is_reported_with_ringing() -> None:
    caller = Outgoing(TARGET, local=CALLER, remote=AGENT, sdp_offer=sdp.offer("h", 1), now=0.0)
    invite = parse(caller.take()[0][0])
    assert isinstance(invite, Request)
    early = sdp.offer("127.0.0.1", 50010, codecs=("PCMA",))
    progress = response_to(invite, 183, to_tag="agent-tag", body=early.encode(),
                           content_type="application/sdp")
    caller.receive(parse(serialize(progress)), 0.2, source=AGENT)
    assert caller.take_events() == [Ringing(183, early, sdp.parse(early))]
    assert caller.state == "ringing" and caller.next_deadline() is None


def test_a_delayed_offer_in_the_ack_is_reported_as_answered() -> None:
    invite = parse(
        b"INVITE sip:agent@127.0.0.1:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKdelayed\r\n"
        b"From: <sip:bob@127.0.0.1>;tag=b1\r\nTo: <sip:agent@127.0.0.1>\r\n"
        b"Call-ID: delayed@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
        b"Contact: <sip:bob@127.0.0.1:5062>\r\nContent-Length: 0\r\n\r\n")
    assert isinstance(invite, Request)
    agent = Incoming(invite, local=AGENT, remote=CALLER, now=0.0)
    trying = parse(agent.take()[0][0])
    assert isinstance(trying, Response) and trying.status == 100 and trying.to_tag is None
    assert agent.offer is None
    agent.accept(sdp.offer(AGENT[0], 50000), 0.1)
    ok = parse(agent.take()[0][0])
    assert isinstance(ok, Response) and ok.status == 200
    answer_text, _ = sdp.answer(ok.body.decode(), "127.0.0.1", 40000)
    ack = Request("ACK", "sip:agent@127.0.0.1:5060", Headers([
        ("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKack1"),
        ("From", "<sip:bob@127.0.0.1>;tag=b1"), ("To", ok.headers.get("To") or ""),
        ("Call-ID", "delayed@127.0.0.1"), ("CSeq", "1 ACK")]), answer_text.encode())
    agent.receive(ack, 0.2, source=CALLER)
    assert agent.take_events() == [Answered(sdp.parse(answer_text), answer_text), Acked()]
    assert agent.state == "confirmed"
    # A retransmitted BYE gets the same 200 again and is reported once.
    bye = Request("BYE", "sip:agent@127.0.0.1:5060", Headers([
        ("Via", "SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bKbye1"),
        ("From", "<sip:bob@127.0.0.1>;tag=b1"), ("To", ok.headers.get("To") or ""),
        ("Call-ID", "delayed@127.0.0.1"), ("CSeq", "2 BYE")]))
    agent.receive(bye, 1.0, source=CALLER)
    agent.receive(bye, 1.5, source=CALLER)
    assert [label(parse(d)) for d, _ in agent.take()] == ["200/BYE", "200/BYE"]
    assert agent.take_events() == [HungUp("remote")]


def test_a_cancel_from_the_far_end_ends_an_outgoing_call() -> None:
    wire = Wire()
    dialog = wire.agent.dialog
    cancel = Request("CANCEL", "sip:harness@127.0.0.1:5062", Headers([
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc1"),
        ("From", f"{dialog.local_uri};tag={dialog.local_tag}"),
        ("To", f"{dialog.remote_uri};tag={dialog.remote_tag}"),
        ("Call-ID", dialog.call_id), ("CSeq", "3 CANCEL")]))
    wire.caller.receive(cancel, 2.0, source=AGENT)
    assert [label(parse(d)) for d, _ in wire.caller.take()] == ["200/CANCEL"]
    assert wire.caller.take_events() == [HungUp("remote")]
    assert wire.caller.state == "ended"


def test_an_incoming_call_starts_with_an_invite() -> None:
    bye = Request("BYE", "sip:a@b", Headers([
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bK1"), ("From", "<sip:x@h>;tag=1"),
        ("To", "<sip:a@b>"), ("Call-ID", "c"), ("CSeq", "1 BYE")]))
    with pytest.raises(SipError, match="starts with an INVITE"):
        Incoming(bye, local=AGENT, remote=CALLER, now=0.0)


def test_a_message_without_a_usable_via_or_cseq_is_dropped() -> None:
    wire = Wire()
    dialog = wire.agent.dialog
    bad = Request("BYE", "sip:harness@127.0.0.1:5062", Headers([
        ("Via", "not a via"), ("From", f"{dialog.local_uri};tag={dialog.local_tag}"),
        ("To", f"{dialog.remote_uri};tag={dialog.remote_tag}"),
        ("Call-ID", dialog.call_id), ("CSeq", "7 BYE")]))
    wire.caller.receive(bad, 1.0, source=AGENT)
    assert wire.caller.take() == [] and wire.caller.take_events() == []
    assert wire.caller.state == "confirmed"


def test_an_answer_after_timer_b_is_acknowledged_and_hung_up() -> None:
    caller = Outgoing(TARGET, local=CALLER, remote=AGENT, sdp_offer=sdp.offer("h", 1), now=0.0)
    invite = parse(caller.take()[0][0])
    assert isinstance(invite, Request)
    caller.tick(32.0)
    assert caller.take_events() == [Failed(408, "Request Timeout")]
    caller.take()
    late = response_to(invite, 200, to_tag="late", body=sdp.offer("127.0.0.1", 7000).encode(),
                       content_type="application/sdp")
    late.headers.add("Contact", "<sip:agent@127.0.0.1:5060>")
    caller.receive(parse(serialize(late)), 40.0, source=AGENT)
    assert [label(parse(d)) for d, _ in caller.take()] == ["ACK", "BYE"]
    assert caller.take_events() == [] and caller.state == "ended"


@given(seed=st.integers(0, 10**6), junk=st.binary(max_size=30))
def test_damaged_messages_of_a_call_never_raise(seed: int, junk: bytes) -> None:
    """Any message of a call with one line cut and filled with junk is handled or dropped."""
    chooser = random.Random(seed)
    wire = Wire(answer=chooser.random() < 0.5)
    lines = serialize(chooser.choice([m for _, _, m in wire.log])).split(b"\r\n")
    index = chooser.randrange(len(lines))
    lines[index] = lines[index][:chooser.randrange(len(lines[index]) + 1)] + junk
    try:
        damaged = parse(b"\r\n".join(lines))
    except SipParseError:
        return
    for user_agent in [wire.caller, *wire.agents]:
        user_agent.receive(damaged, 1.0)
        user_agent.tick(100.0)


def test_record_routes_make_the_route_set_of_both_ends() -> None:
    # RFC 3665 §3.2 style: two proxies record-route between the caller and the agent.
    routes = ["<sip:ss2.biloxi.example.com;lr>", "<sip:127.0.0.9:5070;lr>"]
    caller = Outgoing(TARGET, local=CALLER, remote=("127.0.0.9", 5070),
                      sdp_offer=sdp.offer("127.0.0.1", 4000), now=0.0)
    invite = parse(caller.take()[0][0])
    assert isinstance(invite, Request)
    # What the agent receives: the proxies' Vias on top and their Record-Routes.
    invite.headers.set("Via", "SIP/2.0/UDP ss2.biloxi.example.com;branch=z9hG4bK721e4.1")
    invite.headers.add("Via", f"SIP/2.0/UDP {CALLER[0]}:{CALLER[1]};branch={invite.branch}")
    for route in routes:
        invite.headers.add("Record-Route", route)
    agent = Incoming(invite, local=AGENT, remote=("127.0.0.8", 5060), now=0.0)
    text, _ = sdp.answer(invite.body.decode(), AGENT[0], 50000)
    agent.accept(text, 0.1)
    ok = [parse(d) for d, _ in agent.take()][-1]
    assert isinstance(ok, Response)
    assert ok.headers.get_all("Via")[0].startswith("SIP/2.0/UDP ss2.biloxi")  # all Vias kept
    ok.headers.remove("Via")
    ok.headers.add("Via", f"SIP/2.0/UDP {CALLER[0]}:{CALLER[1]};branch={invite.branch}")
    # the agent copied the Record-Routes into its answer, as received (RFC 3261 §12.1.1): a
    # proxy adds none to responses, so without them the caller's ACK and BYE would skip it
    assert ok.headers.get_all("Record-Route") == routes
    caller.receive(ok, 0.2)
    ack, = [parse(d) for d, _ in caller.take()]
    assert ack.headers.get_all("Route") == list(reversed(routes))  # the caller's order
    assert isinstance(ack, Request) and ack.uri == "sip:agent@127.0.0.1:5060"
    agent.receive(ack, 0.3)
    assert agent.take_events() == [Acked()]
    agent.hang_up(1.0)
    (data, destination), = agent.take()
    bye = parse(data)
    assert bye.headers.get_all("Route") == routes  # the agent's order: as received
    assert isinstance(bye, Request) and bye.uri == "sip:harness@127.0.0.1:5062"
    assert destination == ("ss2.biloxi.example.com", 5060)  # the first route
