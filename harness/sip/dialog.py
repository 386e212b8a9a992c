"""The two ends of a SIP call as state machines without I/O (RFC 3261 user agents).

:class:`Outgoing` is a call the harness places (the UAC): its INVITE is in :attr:`outbox` once
it is built. :class:`Incoming` is a call the local agent answers (the UAS), built from the INVITE
the transport received. Both are fed every message of their call with ``receive(msg, now)``,
emit datagrams through ``take()`` and report :mod:`events <harness.sip.useragent>` through
``take_events()``; ``tick(now)`` at ``next_deadline()`` runs the RFC 3261 timers of UDP.

Requests outside any dialog are the transport's business: it routes messages to calls by
:func:`dialog_key` (the Call-ID) and builds an :class:`Incoming` for a new INVITE, and for an
INVITE that :meth:`Incoming.is_new_invite` says is not the current call's (the caller's retry
with credentials after a 401 keeps the Call-ID but starts a new transaction).
"""

from __future__ import annotations

from harness.sip.digest import Challenge, authorization
from harness.sip.message import (
    Headers,
    Request,
    Response,
    SipError,
    SipUri,
    dialog_key,
    format_name_addr,
    new_call_id,
    new_tag,
    parse_name_addr,
    serialize,
)
from harness.sip.sdp import SdpError, check_answer
from harness.sip.sdp import parse as parse_sdp
from harness.sip.useragent import (
    ALLOW,
    T1,
    TRANSACTION_TIMEOUT,
    Acked,
    Address,
    Answered,
    Cancelled,
    Dialog,
    Event,
    Failed,
    HungUp,
    MediaChanged,
    Retransmission,
    Ringing,
    Trying,
    UserAgent,
    host_port,
    without_tag,
)

__all__ = [
    "Acked", "Answered", "Cancelled", "Event", "Failed", "HungUp", "Incoming", "MediaChanged",
    "Outgoing", "Ringing", "Trying", "dialog_key",
]


class Outgoing(UserAgent):
    """A call the harness places to ``target`` through ``remote`` (the next hop of every request
    of the call: the far end itself, or a proxy). ``local`` is the address the transport
    receives on (Via and Contact). ``credentials`` (user, password) answer one 401/407 challenge
    per request. ``state``: calling, ringing, confirmed, terminating, ended."""

    def __init__(self, target: SipUri, *, local: Address, remote: Address, sdp_offer: str,
                 from_user: str = "harness", display: str | None = None,
                 credentials: tuple[str, str] | None = None, transport: str = "UDP",
                 extra_headers: dict[str, str] | None = None, now: float,
                 from_host: str | None = None) -> None:
        super().__init__(local, remote, transport, now)
        self.target = target
        self.local_sdp = sdp_offer
        self.state = "calling"
        self._credentials = credentials
        self._extra_headers = dict(extra_headers or {})
        scheme = "sips" if target.scheme == "sips" else "sip"
        host = from_host or (f"[{local[0]}]" if ":" in local[0] else local[0])
        self.from_uri = SipUri(scheme, from_user, host)
        self.dialog = Dialog(new_call_id(local[0]), new_tag(), None,
                             format_name_addr(display, self.from_uri),
                             format_name_addr(None, target), str(target), [], 0)
        self._provisional = False
        self._cancelling = False
        self._auth_tried = False
        self._bye_auth_tried = False
        self._acks: dict[str, bytes] = {}
        self._ack_2xx: bytes | None = None
        self._invite = self._send_invite(now, None)

    def hang_up(self, now: float) -> None:
        """End the call: CANCEL before the answer (once a provisional response arrived, RFC 3261
        §9.1), BYE after it. :class:`HungUp` ``("local", status)`` follows."""
        self._now = now
        if self.state in ("calling", "ringing"):
            self.state = "terminating"
            self._cancelling = True
            if self._provisional:
                self._send_cancel(now)
        elif self.state == "confirmed":
            self._send_bye(now)

    # ------------------------------------------------------------------ requests we send

    def _contact(self) -> str:
        return contact(self.from_uri.user, self.local, self.transport,
                       secure=self.target.scheme == "sips")

    def _request_destination(self) -> Address:
        return self.remote

    def _send_invite(self, now: float, authorization_header: tuple[str, str] | None) -> Request:
        invite = self._request("INVITE", body=(self.local_sdp or "").encode(),
                               content_type="application/sdp")
        invite.headers.add("Contact", self._contact())
        invite.headers.add("Allow", ALLOW)
        for name, value in self._extra_headers.items():
            invite.headers.add(name, value)
        if authorization_header is not None:
            invite.headers.add(*authorization_header)
        self._start("invite", serialize(invite), self.remote, now, invite=True)
        return invite

    def _send_cancel(self, now: float) -> None:
        invite = self._invite
        headers = Headers([("Via", invite.headers.get_all("Via")[0]), ("Max-Forwards", "70")])
        for name in ("From", "To", "Call-ID"):
            headers.add(name, invite.headers.get(name) or "")
        headers.add("CSeq", f"{invite.cseq[0]} CANCEL")
        for route in invite.headers.get_all("Route"):
            headers.add("Route", route)
        self._start("cancel", serialize(Request("CANCEL", invite.uri, headers)), self.remote, now)

    def _ack_for_final(self, response: Response) -> bytes:
        """The ACK of a non-2xx final response: part of the INVITE transaction (same branch)."""
        invite = self._invite
        headers = Headers([("Via", invite.headers.get_all("Via")[0]), ("Max-Forwards", "70"),
                           ("From", invite.headers.get("From") or ""),
                           ("To", response.headers.get("To") or ""),
                           ("Call-ID", invite.call_id), ("CSeq", f"{invite.cseq[0]} ACK")])
        for route in invite.headers.get_all("Route"):
            headers.add("Route", route)
        return serialize(Request("ACK", invite.uri, headers))

    def _authorize(self, request: Request, response: Response) -> tuple[str, str] | None:
        """The Authorization (401) or Proxy-Authorization (407) header answering a challenge,
        or None when there are no credentials or the challenge cannot be answered."""
        if self._credentials is None:
            return None
        asking = "WWW-Authenticate" if response.status == 401 else "Proxy-Authenticate"
        value = response.headers.get(asking)
        if value is None:
            return None
        try:
            header = authorization(Challenge.parse(value), method=request.method,
                                   uri=request.uri, username=self._credentials[0],
                                   password=self._credentials[1])
        except SipError:
            return None
        return ("Authorization" if response.status == 401 else "Proxy-Authorization", header)

    # ------------------------------------------------------------------ responses we get

    def _on_response(self, response: Response, now: float) -> None:
        if response.call_id != self.dialog.call_id:
            return
        method = response.cseq[1]
        if method == "INVITE":
            self._on_invite_response(response, now)
        elif method == "BYE" and self._bye is not None and response.branch == self._bye.branch:
            if response.status in (401, 407) and "bye" in self._timers:
                header = None if self._bye_auth_tried else self._authorize(self._bye, response)
                if header is not None:
                    self._bye_auth_tried = True
                    bye = self._request("BYE")
                    bye.headers.add(*header)
                    self._bye = bye
                    self._start("bye", serialize(bye), self.remote, now)
                    return
            self._on_bye_response(response, now)
        elif method == "CANCEL" and response.status >= 200 and "cancel" in self._timers:
            del self._timers["cancel"]
            # The INVITE's 487 should follow; if it never comes, give up after 64*T1.
            self._timers["cancel-wait"] = Retransmission(b"", self.remote, None, T1, None,
                                                         now + TRANSACTION_TIMEOUT)

    def _on_invite_response(self, response: Response, now: float) -> None:
        status, branch = response.status, response.branch
        if status >= 300 and branch in self._acks:
            self.outbox.append((self._acks[branch], self.remote))  # a final again: ACK again
            return
        if branch != self._invite.branch and not 200 <= status < 300:
            return  # a late answer to an INVITE we replaced (after a challenge)
        if status < 200:
            self._on_provisional(response, now)
        elif status >= 300:
            self._on_final_failure(response, now)
        else:
            self._on_success(response, now)

    def _on_provisional(self, response: Response, now: float) -> None:
        if self.state not in ("calling", "ringing", "terminating") or self._ack_2xx is not None:
            return
        self._timers.pop("invite", None)  # no Timer A/B once the far end answered
        first = not self._provisional
        self._provisional = True
        if self._cancelling:
            if first:
                self._send_cancel(now)
            return
        if response.status == 100:
            if first:
                self.events.append(Trying())
            return
        if self.state == "calling":
            self.state = "ringing"
            sdp = response.body.decode("utf-8", "replace") if response.body else None
            media = None
            if sdp is not None:
                try:
                    media = parse_sdp(sdp)
                except SdpError:
                    sdp = None
            self.events.append(Ringing(response.status, sdp, media))

    def _on_final_failure(self, response: Response, now: float) -> None:
        ack = self._ack_for_final(response)
        self._acks[response.branch or ""] = ack
        self.outbox.append((ack, self.remote))
        self._timers.pop("invite", None)
        if self.state == "ended" or self._ack_2xx is not None:
            return
        if response.status in (401, 407) and not self._cancelling and not self._auth_tried:
            header = self._authorize(self._invite, response)
            if header is not None:
                self._auth_tried = True
                self._provisional = False
                self._invite = self._send_invite(now, header)
                return
        self._finish()
        if self._cancelling:
            self.events.append(HungUp("local", response.status))
        else:
            self.events.append(Failed(response.status, response.reason))

    def _on_success(self, response: Response, now: float) -> None:
        remote_tag = response.to_tag
        dialog = self.dialog
        if self._ack_2xx is not None:
            if remote_tag == dialog.remote_tag:
                self.outbox.append((self._ack_2xx, self.remote))  # the 200 again: ACK again
            else:
                self._end_stray_answer(response)
            return
        if self.state == "ended":  # answered after we gave up (Timer B) or after a failure
            self._end_stray_answer(response)
            return
        self._timers.pop("invite", None)
        self._timers.pop("cancel-wait", None)
        self._timers.pop("cancel", None)
        contact = response.headers.get_all("Contact")
        dialog.remote_tag = remote_tag
        if contact:
            dialog.remote_target = parse_name_addr(contact[0])[1]
        dialog.route_set = list(reversed(response.headers.get_all("Record-Route")))
        ack = self._request("ACK", cseq=self._invite.cseq[0])
        self._ack_2xx = serialize(ack)
        self.outbox.append((self._ack_2xx, self.remote))
        if self._cancelling:  # answered while our CANCEL was on its way: end it with a BYE
            self._send_bye(now)
            return
        sdp = response.body.decode("utf-8", "replace")
        try:
            media = check_answer(self.local_sdp or "", sdp)
        except SdpError as exc:
            self.events.append(Failed(488, f"Not Acceptable Here: {exc}"))
            self._send_bye(now, reports=False)
            return
        self.state = "confirmed"
        self.events.append(Answered(media, sdp))

    def _end_stray_answer(self, response: Response) -> None:
        """A 2xx the call does not want (from a second fork of the INVITE, or after the call
        ended): acknowledge it and hang it up at once (RFC 3261 §13.2.2.4)."""
        contact = response.headers.get_all("Contact")
        fork = Dialog(self.dialog.call_id, self.dialog.local_tag, response.to_tag,
                      self.dialog.local_uri, self.dialog.remote_uri,
                      parse_name_addr(contact[0])[1] if contact else str(self.target),
                      list(reversed(response.headers.get_all("Record-Route"))),
                      self.dialog.local_cseq)
        main, self.dialog = self.dialog, fork
        try:
            self.outbox.append((serialize(self._request("ACK", cseq=self._invite.cseq[0])),
                                self.remote))
            self.outbox.append((serialize(self._request("BYE")), self.remote))
        finally:
            self.dialog = main

    def _finish(self) -> None:
        self.state = "ended"
        for name in ("invite", "cancel", "cancel-wait", "bye"):
            self._timers.pop(name, None)

    def _timeout(self, name: str, now: float) -> None:
        if name == "invite":  # Timer B: nobody answered the INVITE
            self._finish()
            if self._cancelling:
                self.events.append(HungUp("local", 408))
            else:
                self.events.append(Failed(408, "Request Timeout"))
        elif name in ("cancel", "cancel-wait"):
            self._finish()
            self.events.append(HungUp("local", 408 if name == "cancel" else None))
        elif name == "bye":
            self._bye_timed_out()


class Incoming(UserAgent):
    """A call the local agent answers, from the ``invite`` received from ``remote`` on ``local``;
    ``100 Trying`` is in the outbox once it is built. ``offer`` is the caller's SDP, if any.
    ``state``: proceeding, ringing, answered (200 sent, no ACK yet), confirmed, terminating,
    ended."""

    def __init__(self, invite: Request, *, local: Address, remote: Address, now: float,
                 user: str | None = None) -> None:
        super().__init__(local, remote, invite.via.transport, now)
        if invite.method != "INVITE":
            raise SipError(f"an incoming call starts with an INVITE, not {invite.method}")
        self.invite = invite
        self.state = "proceeding"
        self.offer = invite.body.decode("utf-8", "replace") if invite.body else None
        contact = invite.headers.get_all("Contact")
        from_header = invite.headers.get("From") or ""
        self.dialog = Dialog(
            invite.call_id, new_tag(), invite.from_tag,
            without_tag(invite.headers.get("To") or ""), without_tag(from_header),
            parse_name_addr(contact[0] if contact else from_header)[1],
            invite.headers.get_all("Record-Route"), 0, invite.cseq[0])
        self._user = user if user is not None else _request_user(invite.uri)
        self._bye_pending = False
        self._respond(invite, 100, destination=remote, tag=False)

    def is_new_invite(self, request: Request) -> bool:
        """True for an INVITE outside this call's dialog that is not a retransmission of its
        INVITE: a new call attempt with the same Call-ID (a retry after a challenge)."""
        return (request.method == "INVITE" and request.to_tag is None
                and (request.branch, "INVITE") not in self._responses)

    def ringing(self) -> None:
        """Send ``180 Ringing`` (before the call is accepted)."""
        if self.state in ("proceeding", "ringing"):
            self.state = "ringing"
            self._respond(self.invite, 180, destination=self.remote)

    def accept(self, sdp: str, now: float) -> None:
        """Answer with ``200 OK`` carrying ``sdp`` (the answer to :attr:`offer`, or an offer when
        the INVITE had none), resent until the caller's ACK."""
        self._now = now
        if self.state not in ("proceeding", "ringing"):
            raise SipError(f"cannot accept a call that is {self.state}")
        self.local_sdp = sdp
        data = self._respond(self.invite, 200, destination=self.remote, sdp=sdp)
        self._awaiting_ack = self.invite.cseq[0]
        self._start("ok", data, self.remote, now, sent=True)
        self.state = "answered"

    def reject(self, status: int, reason: str | None = None, *, now: float | None = None,
               extra_headers: dict[str, str] | None = None) -> None:
        """Refuse the call with a final ``status`` (486, 404, 603, ...), resent until its ACK;
        ``extra_headers`` such as ``WWW-Authenticate`` (a challenge from a
        :class:`~harness.sip.digest.Verifier`) go into the response."""
        if self.state not in ("proceeding", "ringing"):
            raise SipError(f"cannot reject a call that is {self.state}")
        if not 300 <= status < 700:
            raise SipError(f"a rejection needs a status from 300 to 699, not {status}")
        self._respond(self.invite, status, reason, destination=self.remote,
                      extra_headers=extra_headers)
        self._start_final(self.invite, self._now if now is None else now, self.remote)
        self.state = "ended"

    def hang_up(self, now: float) -> None:
        """End the call: BYE to the caller once it is confirmed (after the ACK, RFC 3261 §15),
        603 Decline before it is accepted."""
        self._now = now
        if self.state in ("proceeding", "ringing"):
            self.reject(603, now=now)
            self.events.append(HungUp("local", 603))
        elif self.state == "answered":
            self.state = "terminating"
            self._bye_pending = True
        elif self.state == "confirmed":
            self._send_bye(now)

    def _contact(self) -> str:
        return contact(self._user, self.local, self.transport,
                       secure=self.invite.uri.lower().startswith("sips:"))

    def _request_destination(self) -> Address:
        target = self.dialog.route_set[0] if self.dialog.route_set else self.dialog.remote_target
        try:
            return SipUri.parse(parse_name_addr(target)[1]).address
        except SipError:
            return self.remote

    def _on_request(self, request: Request, now: float, source: Address | None) -> None:
        cancels_invite = (request.method == "CANCEL" and request.branch == self.invite.branch
                          and (request.branch, "CANCEL") not in self._responses)
        if not cancels_invite:
            if self.is_new_invite(request):
                return  # a new call attempt with this Call-ID: the transport's business
            super()._on_request(request, now, source)
            return
        destination = self._response_destination(request, source)
        self._respond(request, 200, destination=destination)
        if self.state in ("proceeding", "ringing"):
            self._respond(self.invite, 487, destination=self.remote)
            self._start_final(self.invite, now, self.remote)
            self.state = "ended"
            self.events.append(Cancelled())

    def _on_response(self, response: Response, now: float) -> None:
        if (response.call_id == self.dialog.call_id and response.cseq[1] == "BYE"
                and self._bye is not None and response.branch == self._bye.branch):
            self._on_bye_response(response, now)

    def _acked(self, ack: Request, now: float) -> None:
        if ack.body and self.offer is None:
            text = ack.body.decode("utf-8", "replace")
            try:
                self.events.append(Answered(parse_sdp(text), text))
            except SdpError as exc:
                self.events.append(Failed(488, f"Not Acceptable Here: {exc}"))
                self._send_bye(now, reports=False)
                return
        self.events.append(Acked())
        if self._bye_pending:
            self._bye_pending = False
            self._send_bye(now)
        elif self.state == "answered":
            self.state = "confirmed"

    def _timeout(self, name: str, now: float) -> None:
        if name == "ok":  # 64*T1 without the ACK of our 200 OK: end the session (§13.3.1.4)
            self._awaiting_ack = None
            reports = self._bye_pending
            if not reports:
                self.events.append(Failed(408, "no ACK for the 200 OK"))
            self._bye_pending = False
            self._send_bye(now, reports=reports)
        elif name == "bye":
            self._bye_timed_out()


def contact(user: str | None, local: Address, transport: str, *, secure: bool) -> str:
    """A Contact value: ``<sips:USER@HOST:PORT>`` in a call to a ``sips:`` URI (RFC 3261
    §8.1.1.8: its Contact must be a SIPS URI too), else ``<sip:USER@HOST:PORT>`` with the
    transport named unless it is UDP (``;transport=tls``)."""
    at = f"{user}@" if user else ""
    if secure:
        return f"<sips:{at}{host_port(local)}>"
    named = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
    return f"<sip:{at}{host_port(local)}{named}>"


def _request_user(uri: str) -> str | None:
    try:
        return SipUri.parse(uri).user
    except SipError:
        return None

