"""Two SIP user agents wired to each other in memory, for the dialog tests."""

from __future__ import annotations

from collections.abc import Callable

from harness.sip import sdp
from harness.sip.dialog import Event, Incoming, Outgoing, dialog_key
from harness.sip.digest import Verifier
from harness.sip.message import Request, Response, SipUri, parse

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


def lose_first(wanted: str, count: int = 1) -> Callable[[str, Message], bool]:
    """A loss rule: the first ``count`` datagrams labelled ``wanted`` are lost."""
    lost: list[Message] = []

    def rule(side: str, message: Message) -> bool:
        if label(message) == wanted and len(lost) < count:
            lost.append(message)
            return True
        return False

    return rule
