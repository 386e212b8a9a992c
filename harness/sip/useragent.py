"""What both ends of a SIP call share, without I/O: events, RFC 3261 timers, the dialog, and the
handling of requests inside a dialog (BYE, re-INVITE, ACK, OPTIONS, INFO).

:class:`UserAgent` is the base of :class:`harness.sip.dialog.Outgoing` and
:class:`harness.sip.dialog.Incoming`. It collects the datagrams to send in :attr:`outbox` and
what happened in :attr:`events`; retransmissions and timeouts run from :meth:`tick`, which the
transport calls at :meth:`next_deadline`. Times are seconds on any monotonic clock the caller
chooses.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.sip.message import (
    Headers,
    Request,
    Response,
    SipError,
    format_name_addr,
    new_branch,
    parse_name_addr,
    response_to,
    serialize,
)
from harness.sip.sdp import Media, SdpError
from harness.sip.sdp import parse as parse_sdp

T1 = 0.5
"""RTT estimate (s): the first retransmission interval (RFC 3261 §17.1.1.1)."""
T2 = 4.0
"""Longest retransmission interval (s) of non-INVITE requests and of responses."""
TRANSACTION_TIMEOUT = 64 * T1
"""Timers B, F and H, and the wait for the ACK of a 2xx: 32 s."""
RELIABLE_TRANSPORTS = ("TCP", "TLS", "WS", "WSS")
"""Transports on which nothing is retransmitted (only the timeouts run)."""
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE"
"""The methods the user agents answer (the ``Allow`` header)."""

Address = tuple[str, int]
"""(host, port) of a datagram's destination."""


# --------------------------------------------------------------------------------- events


@dataclass
class Event:
    """Base of what happened to a call."""


@dataclass
class Trying(Event):
    """The far end (or a proxy) answered ``100 Trying``: the INVITE arrived."""


@dataclass
class Ringing(Event):
    """The far end rings (18x). ``sdp``/``media`` describe early media when it sent some."""

    status: int = 180
    sdp: str | None = None
    media: Media | None = None


@dataclass
class Answered(Event):
    """The call is answered: ``media`` is where and how to send RTP, from the far end's ``sdp``.
    On an :class:`Incoming` call this reports the SDP of an ACK (an offer made late)."""

    media: Media
    sdp: str


@dataclass
class Failed(Event):
    """The call did not come about, or could not go on: the SIP status and reason."""

    status: int
    reason: str


@dataclass
class HungUp(Event):
    """The call ended: ``by`` ``"local"`` (our BYE or CANCEL, with the far end's final status, or
    408 when it never answered) or ``"remote"`` (their BYE or CANCEL; ``status`` None)."""

    by: str
    status: int | None = None


@dataclass
class Acked(Event):
    """The caller acknowledged our 200 OK: the call is confirmed."""


@dataclass
class Cancelled(Event):
    """The caller cancelled before the call was accepted (487 sent for the INVITE)."""


@dataclass
class MediaChanged(Event):
    """A re-INVITE described the far end's media anew (answered with our SDP again)."""

    media: Media
    sdp: str


# --------------------------------------------------------------------------------- timers


@dataclass
class Retransmission:
    """A message resent until answered (``next_at`` None: not resent) and the time to give up."""

    data: bytes
    destination: Address
    next_at: float | None
    interval: float
    cap: float | None
    give_up_at: float | None
    branch: str | None = None

    def deadline(self) -> float | None:
        times = [t for t in (self.next_at, self.give_up_at) if t is not None]
        return min(times) if times else None


@dataclass
class Dialog:
    """The dialog of a call (RFC 3261 §12): its identifiers, the far end's target and route set,
    and both CSeq spaces. ``local_uri``/``remote_uri`` are name-addrs without tags."""

    call_id: str
    local_tag: str
    remote_tag: str | None
    local_uri: str
    remote_uri: str
    remote_target: str
    route_set: list[str]
    local_cseq: int
    remote_cseq: int | None = None


def without_tag(name_addr: str) -> str:
    """A From/To value with its ``tag`` parameter dropped."""
    display, uri, params = parse_name_addr(name_addr)
    params.pop("tag", None)
    return format_name_addr(display, uri, params)


def host_port(address: Address) -> str:
    host, port = address
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class UserAgent:
    """The shared machinery of a call's user agent. Subclasses set :attr:`dialog` and
    :attr:`state` and implement :meth:`_on_response`, :meth:`_timeout` and
    :meth:`_request_destination`."""

    state: str
    dialog: Dialog

    def __init__(self, local: Address, remote: Address, transport: str, now: float) -> None:
        self.local = local
        self.remote = remote
        self.transport = transport.upper()
        self.reliable = self.transport in RELIABLE_TRANSPORTS
        self.outbox: list[tuple[bytes, Address]] = []
        self.events: list[Event] = []
        self.local_sdp: str | None = None
        self._now = now
        self._timers: dict[str, Retransmission] = {}
        self._responses: dict[tuple[str | None, str], tuple[bytes, Address]] = {}
        self._awaiting_ack: int | None = None
        self._bye_reports = True
        self._bye: Request | None = None

    # ------------------------------------------------------------------ the transport's side

    def take(self) -> list[tuple[bytes, Address]]:
        """The datagrams to send, in order, and their destinations (the outbox is emptied)."""
        out, self.outbox = self.outbox, []
        return out

    def take_events(self) -> list[Event]:
        """What happened since the last call, in order."""
        out, self.events = self.events, []
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has work (a retransmission or a timeout), or None."""
        times = [t for timer in self._timers.values() if (t := timer.deadline()) is not None]
        return min(times) if times else None

    def tick(self, now: float) -> None:
        """Run the retransmissions and timeouts due at ``now``."""
        self._now = now
        for name, timer in list(self._timers.items()):
            if self._timers.get(name) is not timer:
                continue
            if timer.give_up_at is not None and now >= timer.give_up_at:
                del self._timers[name]
                self._timeout(name, now)
            elif timer.next_at is not None and now >= timer.next_at:
                self.outbox.append((timer.data, timer.destination))
                timer.interval = min(timer.interval * 2, timer.cap or float("inf"))
                timer.next_at = now + timer.interval

    def receive(self, message: Request | Response, now: float,
                source: Address | None = None) -> None:
        """Feed a message of this call. ``source``: where it came from (responses go back
        there, RFC 3581); without it, the top Via says where. A message whose Via, From, To,
        Call-ID or CSeq cannot be read is dropped, as a malformed datagram is (RFC 3261 §18)."""
        self._now = now
        try:
            message.via, message.cseq, message.from_tag, message.to_tag  # noqa: B018
        except SipError:
            return
        if isinstance(message, Response):
            self._on_response(message, now)
        else:
            self._on_request(message, now, source)

    # ------------------------------------------------------------------ subclass hooks

    def _on_response(self, response: Response, now: float) -> None:
        raise NotImplementedError

    def _timeout(self, name: str, now: float) -> None:
        raise NotImplementedError

    def _request_destination(self) -> Address:
        raise NotImplementedError

    def _contact(self) -> str:
        raise NotImplementedError

    # ------------------------------------------------------------------ sending

    def _start(self, name: str, data: bytes, destination: Address, now: float, *,
               invite: bool = False, sent: bool = False) -> None:
        """Send ``data`` (unless already ``sent``) and keep resending it under timer ``name``
        (A/B for an INVITE, E/F for other requests, the 2xx rule for responses) until stopped
        or timed out."""
        if not sent:
            self.outbox.append((data, destination))
        resend = not self.reliable
        self._timers[name] = Retransmission(
            data, destination, now + T1 if resend else None, T1, None if invite else T2,
            now + TRANSACTION_TIMEOUT)

    def _via(self, branch: str) -> str:
        return f"SIP/2.0/{self.transport} {host_port(self.local)};branch={branch};rport"

    def _request(self, method: str, *, cseq: int | None = None, branch: str | None = None,
                 body: bytes = b"", content_type: str | None = None) -> Request:
        """A request inside the dialog (its tags, target, route set; the next local CSeq)."""
        dialog = self.dialog
        if cseq is None:
            dialog.local_cseq += 1
            cseq = dialog.local_cseq
        remote = dialog.remote_uri
        if dialog.remote_tag is not None:
            remote = f"{remote};tag={dialog.remote_tag}"
        headers = Headers([
            ("Via", self._via(branch or new_branch())), ("Max-Forwards", "70"),
            ("From", f"{dialog.local_uri};tag={dialog.local_tag}"), ("To", remote),
            ("Call-ID", dialog.call_id), ("CSeq", f"{cseq} {method}")])
        for route in dialog.route_set:
            headers.add("Route", route)
        if content_type and body:
            headers.add("Content-Type", content_type)
        return Request(method, dialog.remote_target, headers, body)

    def _respond(self, request: Request, status: int, reason: str | None = None, *,
                 destination: Address, tag: bool = True, sdp: str | None = None,
                 extra_headers: dict[str, str] | None = None) -> bytes:
        """Send a response (with our To-tag, and Contact and SDP when given) and keep it to
        answer the request's retransmissions."""
        body = sdp.encode() if sdp else b""
        response = response_to(request, status, reason,
                               to_tag=self.dialog.local_tag if tag else None, body=body,
                               content_type="application/sdp" if sdp else None)
        if request.method == "INVITE" and 100 < status < 300:
            # a response that makes the dialog carries the request's Record-Routes, in order, so
            # the caller learns the route set the proxies asked for (RFC 3261 §12.1.1)
            for route in request.headers.get_all("Record-Route"):
                response.headers.add("Record-Route", route)
            response.headers.add("Contact", self._contact())
            response.headers.add("Allow", ALLOW)
        for name, value in (extra_headers or {}).items():
            response.headers.add(name, value)
        data = serialize(response)
        self.outbox.append((data, destination))
        self._responses[(request.branch, request.method)] = (data, destination)
        return data

    def _send_bye(self, now: float, *, reports: bool = True) -> None:
        self._bye_reports = reports
        self.state = "terminating"
        bye = self._request("BYE")
        self._bye = bye
        self._start("bye", serialize(bye), self._request_destination(), now)

    # ------------------------------------------------------------------ receiving requests

    def _response_destination(self, request: Request, source: Address | None) -> Address:
        if source is not None:
            return source
        try:
            return request.via.response_address()
        except SipError:
            return self.remote

    def _on_request(self, request: Request, now: float, source: Address | None) -> None:
        destination = self._response_destination(request, source)
        cached = self._responses.get((request.branch, request.method))
        if request.method != "ACK" and cached is not None:
            self.outbox.append(cached)  # a retransmitted request: the same answer again
            return
        if request.method == "ACK":
            self._on_ack(request, now)
            return
        dialog = self.dialog
        if request.call_id != dialog.call_id or request.to_tag != dialog.local_tag:
            self._respond(request, 481, destination=destination, tag=False)
            return
        number = request.cseq[0]
        if dialog.remote_cseq is not None and number < dialog.remote_cseq:
            self._respond(request, 500, "CSeq out of order", destination=destination)
            return
        dialog.remote_cseq = number
        if request.method in ("BYE", "CANCEL"):
            self._respond(request, 200, destination=destination)
            self._ended_by_remote()
        elif request.method == "INVITE":
            self._on_reinvite(request, now, destination)
        elif request.method in ("OPTIONS", "INFO", "UPDATE", "NOTIFY"):
            self._respond(request, 200, destination=destination)
        else:
            self._respond(request, 501, destination=destination)

    def _ended_by_remote(self) -> None:
        if self.state == "ended":
            return
        self.state = "ended"
        self._timers = {name: t for name, t in self._timers.items() if name == "final"}
        self._awaiting_ack = None
        self.events.append(HungUp("remote"))

    def _on_reinvite(self, request: Request, now: float, destination: Address) -> None:
        if request.body:
            text = request.body.decode("utf-8", "replace")
            try:
                self.events.append(MediaChanged(parse_sdp(text), text))
            except SdpError as exc:
                self._respond(request, 488, f"Not Acceptable Here ({exc})",
                              destination=destination)
                self._start_final(request, now, destination)
                return
        data = self._respond(request, 200, destination=destination, sdp=self.local_sdp)
        self._awaiting_ack = request.cseq[0]
        self._start("reinvite-ok", data, destination, now, sent=True)

    def _start_final(self, request: Request, now: float, destination: Address) -> None:
        """Resend the non-2xx final response to an INVITE until its ACK (Timers G and H)."""
        data = self._responses[(request.branch, "INVITE")][0]
        self._timers["final"] = Retransmission(
            data, destination, None if self.reliable else now + T1, T1, T2,
            now + TRANSACTION_TIMEOUT, request.branch)

    def _on_ack(self, ack: Request, now: float) -> None:
        final = self._timers.get("final")
        if final is not None and final.branch == ack.branch:
            del self._timers["final"]
            return
        if self._awaiting_ack is not None and ack.cseq[0] == self._awaiting_ack:
            self._awaiting_ack = None
            self._timers.pop("reinvite-ok", None)
            if self._timers.pop("ok", None) is not None:
                self._acked(ack, now)

    def _acked(self, ack: Request, now: float) -> None:
        """The ACK of the 200 OK to the initial INVITE arrived (an :class:`Incoming` call)."""

    def _on_bye_response(self, response: Response, now: float) -> bool:
        """Handle a response to our BYE; True when it ended the call."""
        if response.status < 200:
            timer = self._timers.get("bye")
            if timer is not None and timer.next_at is not None:
                timer.interval = T2
            return False
        if "bye" not in self._timers:
            return False
        del self._timers["bye"]
        self.state = "ended"
        if self._bye_reports:
            self.events.append(HungUp("local", response.status))
        return True

    def _bye_timed_out(self) -> None:
        self.state = "ended"
        if self._bye_reports:
            self.events.append(HungUp("local", 408))
