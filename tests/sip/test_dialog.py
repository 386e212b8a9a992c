"""An Outgoing and an Incoming call wired to each other in memory: whole calls, lost datagrams
and the RFC 3261 timers that recover them, rejections, a digest challenge, CANCEL, re-INVITE."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from sip_wire import AGENT, CALLER, Wire, label, lose_first  # noqa: E402

from harness.sip import sdp
from harness.sip.dialog import (
    Acked,
    Answered,
    Cancelled,
    Failed,
    HungUp,
    MediaChanged,
    Ringing,
    Trying,
)
from harness.sip.digest import Verifier
from harness.sip.message import (
    Headers,
    Request,
    Response,
    parse,
    serialize,
)


def test_a_whole_call_invite_to_bye() -> None:
    wire = Wire()
    assert wire.caller.state == "confirmed" and wire.agent.state == "confirmed"
    assert wire.sent("caller") == ["INVITE", "ACK"]
    assert wire.sent("agent") == ["100/INVITE", "180/INVITE", "200/INVITE"]
    assert [type(e) for e in wire.caller_events] == [Trying, Ringing, Answered]
    answered = wire.caller_events[-1]
    assert isinstance(answered, Answered)
    assert (answered.media.address, answered.media.port) == (AGENT[0], 50000)
    assert answered.media.codec == "PCMU" and answered.media.dtmf_payload_type == 101
    assert wire.agent_events == [Acked()]

    invite, ok, ack = (m for _, _, m in wire.log if label(m) in ("INVITE", "200/INVITE", "ACK"))
    assert isinstance(invite, Request) and isinstance(ack, Request)
    assert ack.uri == "sip:agent@127.0.0.1:5060"  # the Contact of the 200 OK
    assert ack.cseq == (invite.cseq[0], "ACK") and ack.branch != invite.branch
    assert ok.to_tag and ack.to_tag == ok.to_tag and ack.from_tag == invite.from_tag
    assert ok.headers.get("Contact") == "<sip:agent@127.0.0.1:5060>"

    wire.caller.hang_up(wire.now)
    wire.run()
    assert wire.sent("caller")[-1] == "BYE" and wire.sent("agent")[-1] == "200/BYE"
    assert wire.caller_events[-1] == HungUp("local", 200)
    assert wire.agent_events[-1] == HungUp("remote")
    assert wire.caller.state == wire.agent.state == "ended"
    assert wire.caller.next_deadline() is None and wire.agent.next_deadline() is None


def test_the_agent_hangs_up_with_a_bye_to_the_callers_contact() -> None:
    wire = Wire()
    wire.agent.hang_up(wire.now)
    bye = wire.agent.outbox[0]
    assert bye[1] == CALLER
    wire.run()
    message = next(m for s, _, m in wire.log if s == "agent" and label(m) == "BYE")
    assert isinstance(message, Request) and message.uri == "sip:harness@127.0.0.1:5062"
    assert message.to_tag == wire.caller.dialog.local_tag
    assert wire.caller_events[-1] == HungUp("remote")
    assert wire.agent_events[-1] == HungUp("local", 200)


def test_a_lost_invite_is_sent_again_by_timer_a() -> None:
    wire = Wire(lose=lose_first("INVITE"))
    assert wire.caller.state == "calling" and not wire.agents
    assert wire.caller.next_deadline() == pytest.approx(0.5)
    wire.advance(0.6)
    invites = [(t, m) for s, t, m in wire.log if label(m) == "INVITE"]
    assert [t for t, _ in invites] == [0.0, 0.5]
    assert invites[0][1].branch == invites[1][1].branch  # the same transaction, sent again
    assert wire.caller.state == "confirmed" and wire.agent.state == "confirmed"
    assert len(wire.agents) == 1


def test_an_unanswered_invite_times_out_with_408_after_timer_b() -> None:
    wire = Wire(lose=lambda side, message: side == "caller")
    wire.advance(40.0)
    times = [t for s, t, m in wire.log if label(m) == "INVITE"]
    assert times == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # Timer A doubles from T1
    assert wire.caller_events == [Failed(408, "Request Timeout")]
    assert wire.caller.state == "ended" and wire.caller.next_deadline() is None


def test_the_agent_answers_a_retransmitted_invite_with_its_last_response() -> None:
    wire = Wire(answer=False, lose=lose_first("100/INVITE"))
    # 100 lost, 180 arrived: the caller stopped retransmitting at the 180.
    assert wire.caller.state == "ringing" and wire.caller.next_deadline() is None
    wire.agent.receive(next(m for s, _, m in wire.log if label(m) == "INVITE"), 0.1)
    assert [label(parse(d)) for d, _ in wire.agent.take()] == ["180/INVITE"]
    assert len(wire.agents) == 1 and wire.caller_events == [Ringing()]


def test_a_lost_200_ok_is_resent_until_the_ack() -> None:
    wire = Wire(answer=False, lose=lose_first("200/INVITE", count=2))
    wire.now = 1.0
    wire.accept()
    assert wire.agent.state == "answered" and wire.caller.state == "ringing"
    wire.advance(10.0)
    oks = [t for s, t, m in wire.log if label(m) == "200/INVITE"]
    assert oks == [1.0, 1.5, 2.5]  # resent at T1, then 2*T1, until the ACK came
    assert wire.sent("caller").count("ACK") == 1
    assert wire.agent.state == "confirmed" and wire.agent_events == [Acked()]
    assert wire.agent.next_deadline() is None


def test_an_ack_that_never_comes_ends_the_call_with_a_bye() -> None:
    wire = Wire(answer=False, lose=lambda side, message: label(message) == "200/INVITE")
    wire.accept()
    wire.advance(33.0)
    oks = [t for s, t, m in wire.log if label(m) == "200/INVITE"]
    assert oks[:6] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]  # capped at T2 = 4 s
    assert wire.agent_events[0] == Failed(408, "no ACK for the 200 OK")
    assert "BYE" in wire.sent("agent")


@pytest.mark.parametrize("status, reason", [(486, "Busy Here"), (404, "Not Found")])
def test_a_rejected_call_fails_with_the_sip_status(status: int, reason: str) -> None:
    wire = Wire(answer=False)
    wire.agent.reject(status, now=wire.now)
    wire.run()
    assert wire.caller_events[-1] == Failed(status, reason)
    assert wire.caller.state == "ended" and wire.agent.state == "ended"
    invite = next(m for s, _, m in wire.log if label(m) == "INVITE")
    ack = next(m for s, _, m in wire.log if label(m) == "ACK")
    assert ack.branch == invite.branch and ack.to_tag == wire.agent.dialog.local_tag
    # The ACK stopped the retransmission of the final response (Timer G).
    assert wire.agent.next_deadline() is None and wire.caller.next_deadline() is None


def test_a_lost_ack_of_a_rejection_is_recovered_by_the_resent_final() -> None:
    wire = Wire(answer=False, lose=lose_first("ACK"))
    wire.agent.reject(486, now=wire.now)
    wire.run()
    wire.advance(5.0)
    assert [t for s, t, m in wire.log if label(m) == "486/INVITE"] == [0.0, 0.5]
    assert wire.sent("caller").count("ACK") == 2
    assert wire.caller_events == [Trying(), Ringing(), Failed(486, "Busy Here")]


def test_a_challenge_is_answered_once_with_credentials() -> None:
    verifier = Verifier("agent.test", {"harness": "s3cret"})
    wire = Wire(("harness", "s3cret"), verifier=verifier)
    assert wire.sent("caller") == ["INVITE", "ACK", "INVITE", "ACK"]
    assert wire.sent("agent") == ["100/INVITE", "401/INVITE", "100/INVITE", "180/INVITE",
                                  "200/INVITE"]
    first, second = (m for s, _, m in wire.log if label(m) == "INVITE")
    assert isinstance(second, Request) and second.cseq == (2, "INVITE")
    assert second.call_id == first.call_id and second.branch != first.branch
    assert second.from_tag == first.from_tag
    assert verifier.check("INVITE", second.headers.get("Authorization")) == "harness"
    assert wire.caller.state == "confirmed"
    assert not any(isinstance(e, Failed) for e in wire.caller_events)
    assert "s3cret" not in "".join(str(m) for _, _, m in wire.log)


def test_a_challenge_without_credentials_fails_with_401() -> None:
    wire = Wire(verifier=Verifier("agent.test", {"harness": "s3cret"}))
    assert wire.caller_events[-1] == Failed(401, "Unauthorized")
    assert wire.sent("caller") == ["INVITE", "ACK"] and wire.caller.state == "ended"


def test_wrong_credentials_are_tried_only_once() -> None:
    wire = Wire(("harness", "wrong"), verifier=Verifier("agent.test", {"harness": "s3cret"}))
    assert wire.sent("caller") == ["INVITE", "ACK", "INVITE", "ACK"]
    assert wire.caller_events[-1] == Failed(401, "Unauthorized")


def test_hanging_up_before_the_answer_cancels_the_invite() -> None:
    wire = Wire(answer=False)
    wire.caller.hang_up(wire.now)
    wire.run()
    assert wire.sent("caller") == ["INVITE", "CANCEL", "ACK"]
    assert wire.sent("agent") == ["100/INVITE", "180/INVITE", "200/CANCEL", "487/INVITE"]
    cancel = next(m for s, _, m in wire.log if label(m) == "CANCEL")
    invite = next(m for s, _, m in wire.log if label(m) == "INVITE")
    assert cancel.branch == invite.branch and cancel.cseq == (invite.cseq[0], "CANCEL")
    assert wire.agent_events == [Cancelled()]
    assert wire.caller_events[-1] == HungUp("local", 487)
    assert wire.caller.state == wire.agent.state == "ended"
    assert wire.agent.next_deadline() is None


def test_a_cancel_waits_for_the_first_provisional_response() -> None:
    wire = Wire(answer=False,
                lose=lambda side, message: side == "caller" and label(message) == "INVITE")
    wire.caller.hang_up(0.1)
    wire.run()
    assert wire.sent("caller") == ["INVITE"] and wire.caller.state == "terminating"
    wire.lose = lambda side, message: False
    wire.advance(0.6)  # the INVITE is resent, the agent answers 100: now the CANCEL goes
    assert wire.sent("caller") == ["INVITE", "INVITE", "CANCEL", "ACK"]
    assert wire.caller_events == [HungUp("local", 487)]
    assert wire.agent_events == [Cancelled()]


def test_an_answer_that_crosses_the_cancel_is_ended_with_a_bye() -> None:
    wire = Wire(lose=lambda side, message: side == "caller" and label(message) == "INVITE")
    wire.caller.hang_up(0.1)
    wire.lose = lambda side, message: False
    wire.advance(0.6)  # the agent answers at once: its 200 OK crosses our CANCEL
    assert wire.sent("caller") == ["INVITE", "INVITE", "CANCEL", "ACK", "BYE"]
    assert wire.sent("agent")[-2:] == ["200/CANCEL", "200/BYE"]
    assert wire.caller_events == [HungUp("local", 200)]
    assert wire.agent_events == [Acked(), HungUp("remote")]
    assert wire.caller.state == wire.agent.state == "ended"


def test_a_reinvite_is_answered_with_our_sdp_until_acked() -> None:
    wire = Wire()
    dialog = wire.agent.dialog
    moved = sdp.offer("127.0.0.1", 50002, session_id=9)
    reinvite = Request("INVITE", "sip:harness@127.0.0.1:5062", Headers([
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKre1"),
        ("From", f"{dialog.local_uri};tag={dialog.local_tag}"),
        ("To", f"{dialog.remote_uri};tag={dialog.remote_tag}"),
        ("Call-ID", dialog.call_id), ("CSeq", "5 INVITE"),
        ("Contact", "<sip:agent@127.0.0.1:5060>")]), moved.encode())
    wire.caller.receive(parse(serialize(reinvite)), 1.0, source=AGENT)
    changed = wire.caller.take_events()
    assert changed == [MediaChanged(sdp.parse(moved), moved)]
    (data, address), = wire.caller.take()
    ok = parse(data)
    assert isinstance(ok, Response) and (ok.status, address) == (200, AGENT)
    assert ok.body.decode() == wire.caller.local_sdp and ok.to_tag == dialog.remote_tag
    wire.caller.tick(1.5)
    assert [parse(d).cseq for d, _ in wire.caller.take()] == [(5, "INVITE")]  # resent
    ack = Request("ACK", "sip:harness@127.0.0.1:5062", Headers([
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKack5"),
        ("From", f"{dialog.local_uri};tag={dialog.local_tag}"),
        ("To", f"{dialog.remote_uri};tag={dialog.remote_tag}"),
        ("Call-ID", dialog.call_id), ("CSeq", "5 ACK")]))
    wire.caller.receive(ack, 1.6, source=AGENT)
    assert wire.caller.next_deadline() is None and wire.caller.state == "confirmed"


def test_requests_outside_the_dialog_get_481() -> None:
    wire = Wire()
    stray = Request("BYE", "sip:harness@127.0.0.1:5062", Headers([
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx"), ("From", "<sip:a@b>;tag=zz"),
        ("To", "<sip:harness@127.0.0.1>;tag=not-ours"),
        ("Call-ID", wire.caller.dialog.call_id), ("CSeq", "9 BYE")]))
    wire.caller.receive(stray, 1.0, source=AGENT)
    assert [parse(d).status for d, _ in wire.caller.take()] == [481]  # type: ignore[union-attr]
    assert wire.caller.state == "confirmed" and wire.caller.take_events() == []


def test_a_lost_bye_is_resent_and_a_silent_far_end_times_out() -> None:
    wire = Wire()
    wire.lose = lambda side, message: label(message) == "BYE"
    wire.caller.hang_up(0.0)
    wire.run()
    wire.advance(40.0)
    times = [t for s, t, m in wire.log if label(m) == "BYE"]
    assert times[:6] == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5]  # Timer E, capped at T2
    assert wire.caller_events[-1] == HungUp("local", 408)
    assert wire.caller.state == "ended"
