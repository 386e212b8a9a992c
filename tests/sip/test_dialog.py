"""An Outgoing and an Incoming call wired to each other in memory: whole calls, lost datagrams
and the RFC 3261 timers that recover them, rejections, a digest challenge, CANCEL, re-INVITE."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.sip import sdp
from harness.sip.dialog import (
    Acked,
    Answered,
    Cancelled,
    Event,
    Failed,
    HungUp,
    Incoming,
    MediaChanged,
    Outgoing,
    Ringing,
    Trying,
    dialog_key,
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

CALLER = ("127.0.0.1", 5062)
AGENT = ("127.0.0.1", 5060)
TARGET = SipUri.parse("sip:agent@127.0.0.1:5060")

Message = Request | Response


def label(message: Message) -> str:
    """``INVITE`` for a request, ``200/INVITE`` for a response."""
    if isinstance(message, Request):
        return message.method
    return f"{message.status}/{message.cseq[1]}"


class Wire:
    """Carries datagrams between the two user agents, like a UDP transport that routes by
    Call-ID, and can lose chosen ones. ``log`` holds (sender, time, message) of every datagram
    sent, lost or not."""

    def __init__(self, credentials: tuple[str, str] | None = None, *, answer: bool = True,
                 verifier: Verifier | None = None, challenge_status: int = 401,
                 agent_sdp: str | None = None,
                 lose: Callable[[str, Message], bool] = lambda side, message: False) -> None:
        self.now = 0.0
        self.challenge_status = challenge_status
        self.agent_sdp = agent_sdp
        self.log: list[tuple[str, float, Message]] = []
        self.lose = lose
        self.verifier = verifier
        self.answer = answer
        self.agents: list[Incoming] = []
        self.agent_events: list[Event] = []
        self.caller_events: list[Event] = []
        self.caller = Outgoing(TARGET, local=CALLER, remote=AGENT, credentials=credentials,
                               sdp_offer=sdp.offer(CALLER[0], 40000, session_id=1), now=0.0)
        self.run()

    @property
    def agent(self) -> Incoming:
        return self.agents[-1]

    def sent(self, side: str) -> list[str]:
        return [label(m) for s, _, m in self.log if s == side]

    def run(self) -> None:
        """Deliver everything in flight until both outboxes are empty."""
        moved = True
        while moved:
            moved = False
            for data, address in self.caller.take():
                moved = True
                assert address == AGENT
                self._to_agent(parse(data))
            for agent in self.agents:
                for data, address in agent.take():
                    moved = True
                    assert address == CALLER
                    message = parse(data)
                    self.log.append(("agent", self.now, message))
                    if not self.lose("agent", message):
                        self.caller.receive(message, self.now, source=AGENT)
            self.caller_events += self.caller.take_events()
            for agent in self.agents:
                self.agent_events += agent.take_events()

    def _to_agent(self, message: Message) -> None:
        self.log.append(("caller", self.now, message))
        if self.lose("caller", message):
            return
        assert dialog_key(message) == self.caller.dialog.call_id
        if isinstance(message, Request) and (not self.agents
                                             or self.agent.is_new_invite(message)):
            self.agents.append(Incoming(message, local=AGENT, remote=CALLER, now=self.now))
            self._answer_invite(self.agent, message)
        else:
            self.agent.receive(message, self.now, source=CALLER)

    def _answer_invite(self, agent: Incoming, invite: Request) -> None:
        if self.verifier is not None:
            proxy = self.challenge_status == 407
            answer = invite.headers.get("Proxy-Authorization" if proxy else "Authorization")
            if self.verifier.check("INVITE", answer) is None:
                asking = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
                agent.reject(self.challenge_status, now=self.now,
                             extra_headers={asking: self.verifier.challenge()})
                return
        agent.ringing()
        if self.answer:
            self.accept()

    def accept(self) -> None:
        assert self.agent.offer is not None
        text, _ = sdp.answer(self.agent.offer, AGENT[0], 50000)
        self.agent.accept(self.agent_sdp or text, self.now)
        self.run()

    def advance(self, until: float) -> None:
        """Let time pass to ``until``, running each timer when it is due."""
        while True:
            deadlines = [d for ua in [self.caller, *self.agents]
                         if (d := ua.next_deadline()) is not None and d <= until]
            if not deadlines:
                break
            self.now = min(deadlines)
            self.caller.tick(self.now)
            for agent in self.agents:
                agent.tick(self.now)
            self.run()
        self.now = until


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


def lose_first(wanted: str, count: int = 1) -> Callable[[str, Message], bool]:
    """A loss rule: the first ``count`` datagrams labelled ``wanted`` are lost."""
    lost: list[Message] = []

    def rule(side: str, message: Message) -> bool:
        if label(message) == wanted and len(lost) < count:
            lost.append(message)
            return True
        return False

    return rule


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
    assert invite.headers.get("Contact") == "<sip:harness@127.0.0.1:5062;transport=tls>"
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
    for route in routes:
        ok.headers.add("Record-Route", route)
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
