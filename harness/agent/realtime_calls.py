"""The local agent's SIP endpoint as the OpenAI Realtime API's SIP interface ("realtime calls").

In this mode an incoming call is not answered by the agent on its own: as the service does,

- **Incoming call → webhook.** The INVITE gets ``180 Ringing`` and an id ``rtc_`` + 32 hex
  digits, and a ``realtime.call.incoming`` event is POSTed to the configured webhook URL
  (``{"id": "evt_…", "object": "event", "type": "realtime.call.incoming", "created_at": …,
  "data": {"call_id": "rtc_…", "sip_headers": [{"name", "value"}, …]}}``, the INVITE's headers
  in order without ``Authorization`` and ``Proxy-Authorization``), signed as Standard Webhooks
  and OpenAI sign it (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,<base64 of
  HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``, the key the base64 after ``whsec_`` of the
  secret, else the secret's bytes). A webhook that is refused or not answered 2xx is retried
  :data:`WEBHOOK_ATTEMPTS` times in all, then the call is rejected ``480``.
- **The call waits to be accepted** through the REST API
  (:mod:`harness.agent.realtime_calls_api`): accepted, its session starts configured by the
  accept's body; rejected, the INVITE gets the status asked for (603 by default); not decided
  within :data:`ACCEPT_TIMEOUT_S`, it is rejected ``408``.
- **The sideband.** WebSocket clients attached with ``?call_id=rtc_…``
  (:meth:`SidebandConnection.serve`) are the session's client: they get the server events it
  emits from then on (the agent's audio goes out only as RTP, so no
  ``response.output_audio.delta``), and their client events go into the session. The session's
  function calls are not POSTed to a tool webhook: a sideband answers them.

The secret is read from :data:`WEBHOOK_SECRET_ENV` by :meth:`RealtimeCalls.from_env`; it is
never logged, and appears in no ``repr``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlsplit

from harness.agent import config
from harness.agent.sip_call import CallConnection
from harness.errors import InputError

log = logging.getLogger(__name__)

WEBHOOK_SECRET_ENV = "OPENAI_WEBHOOK_SECRET"
"""The environment variable holding the webhook signing secret (``whsec_…``)."""
ACCEPT_TIMEOUT_S = 30.0
"""A call neither accepted nor rejected this long after its INVITE is rejected ``408``."""
WEBHOOK_ATTEMPTS = 3
"""Tries of the ``realtime.call.incoming`` webhook before the call is rejected ``480``."""
WEBHOOK_RETRY_S = 0.5
"""The pause before the second try; it doubles for each one after."""
WEBHOOK_TIMEOUT_S = 5.0
"""How long one try may take."""
DEFAULT_REJECT_STATUS = 603
HIDDEN_HEADERS = frozenset({"authorization", "proxy-authorization"})
"""INVITE headers the webhook leaves out, as the service does."""
KEPT_ENDED = 256
"""Ended calls remembered (their routes answer 409, not 404)."""


@dataclass(frozen=True)
class RealtimeCalls:
    """Realtime calls switched on: where the incoming-call webhook goes and its signing secret
    (``whsec_`` and base64, as OpenAI's, or any other text, whose UTF-8 bytes are the key)."""

    webhook_url: str
    secret: str = field(repr=False)

    def __post_init__(self) -> None:
        parts = urlsplit(self.webhook_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InputError(f"expected an http:// or https:// URL, got {self.webhook_url!r}",
                             field="--realtime-webhook")
        signing_key(self.secret)

    @classmethod
    def from_env(cls, webhook_url: str,
                 environ: Mapping[str, str] | None = None) -> RealtimeCalls:
        """Realtime calls with the secret of :data:`WEBHOOK_SECRET_ENV`; :class:`InputError`
        naming the variable when it is not set."""
        secret = (os.environ if environ is None else environ).get(WEBHOOK_SECRET_ENV, "")
        if not secret.strip():
            raise InputError(f"realtime calls sign their webhooks: set {WEBHOOK_SECRET_ENV} to "
                             "the webhook secret (whsec_…)", field=WEBHOOK_SECRET_ENV)
        return cls(webhook_url, secret.strip())


def signing_key(secret: str) -> bytes:
    """The HMAC key of a webhook secret; :class:`InputError` (not quoting it) when it is empty or
    a ``whsec_`` secret whose rest is not base64."""
    if not secret:
        raise InputError("the webhook secret is empty", field=WEBHOOK_SECRET_ENV)
    if not secret.startswith("whsec_"):
        return secret.encode("utf-8")
    try:
        key = base64.b64decode(secret[6:], validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if not key:
        raise InputError("the webhook secret starts with whsec_ but the rest is not base64 "
                         "(the secret is not shown)", field=WEBHOOK_SECRET_ENV)
    return key


def signature(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` header of a body: ``v1,`` and the base64 of its HMAC-SHA256."""
    signed = f"{webhook_id}.{timestamp}.{body}".encode()
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def new_call_id() -> str:
    """``rtc_`` and 32 hex digits."""
    return "rtc_" + secrets.token_hex(16)


def incoming_event(call_id: str, headers: list[tuple[str, str]],
                   now: float | None = None) -> dict[str, Any]:
    """The ``realtime.call.incoming`` event of a call whose INVITE had ``headers``."""
    return {"id": "evt_" + secrets.token_hex(12), "object": "event",
            "type": "realtime.call.incoming",
            "created_at": int(time.time() if now is None else now),
            "data": {"call_id": call_id, "sip_headers": [
                {"name": name, "value": value} for name, value in headers
                if name.lower() not in HIDDEN_HEADERS]}}


def post_webhook(url: str, secret: str, event: dict[str, Any]) -> int:
    """POST one signed event (blocking); the answer's status. Raises ``OSError`` (``URLError``,
    ``HTTPError`` for a status of 400 and up) when it is not delivered."""
    body = json.dumps(event, separators=(",", ":"))
    timestamp = int(time.time())
    request = urllib.request.Request(url, data=body.encode("utf-8"), method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "harness-local-agent",
        "webhook-id": event["id"], "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, event["id"], timestamp, body)})
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as answer:  # noqa: S310
        answer.read()
        return int(answer.status)


def _where(url: str) -> str:
    """A URL as logged: without its query (it may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"


async def deliver(calls: RealtimeCalls, event: dict[str, Any]) -> bool:
    """Send the webhook off the event loop, retrying; whether it was answered 2xx."""
    pause = WEBHOOK_RETRY_S
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            status = await asyncio.to_thread(post_webhook, calls.webhook_url, calls.secret, event)
        except urllib.error.HTTPError as exc:
            problem = f"answered {exc.code}"
        except (OSError, ValueError) as exc:
            problem = f"failed: {getattr(exc, 'reason', None) or exc}"
        else:
            if 200 <= status < 300:
                log.info("realtime call %s: webhook delivered to %s", event["data"]["call_id"],
                         _where(calls.webhook_url))
                return True
            problem = f"answered {status}"
        log.warning("realtime call %s: webhook to %s %s (try %d of %d)",
                    event["data"]["call_id"], _where(calls.webhook_url), problem, attempt,
                    WEBHOOK_ATTEMPTS)
        if attempt < WEBHOOK_ATTEMPTS:
            await asyncio.sleep(pause)
            pause *= 2
    return False


class Sideband(Protocol):
    """What a sideband connection is to the call: a WebSocket server connection."""

    async def send(self, message: str) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...

    def __aiter__(self) -> AsyncIterator[str | bytes]: ...


class SidebandConnection(CallConnection):
    """The connection of a realtime call's session: server events go to every sideband attached
    at the time; client events come from the sidebands (held until the session has taken its
    configuration from the accept) and from the call itself."""

    def __init__(self) -> None:
        super().__init__()
        self.sidebands: set[Sideband] = set()
        self._held: list[str] | None = []
        self._over = asyncio.Event()

    async def send(self, frame: str) -> None:
        for ws in list(self.sidebands):
            try:
                await ws.send(frame)
            except Exception:  # noqa: BLE001 - a sideband gone must not stop the call
                self.sidebands.discard(ws)

    def client_event(self, frame: str | bytes) -> None:
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        if self._held is not None:
            self._held.append(text)
        else:
            self._inbox.put_nowait(text)

    async def __aiter__(self) -> AsyncIterator[str]:
        held, self._held = self._held or [], None
        for frame in held:  # after what the session put in first (its configuration)
            self._inbox.put_nowait(frame)
        async for frame in super().__aiter__():
            yield frame

    async def serve(self, ws: Sideband) -> None:
        """Attach a sideband until it closes or the call is over (then it is closed)."""
        self.sidebands.add(ws)

        async def read() -> None:
            with contextlib.suppress(Exception):
                async for frame in ws:
                    self.client_event(frame)

        reader = asyncio.ensure_future(read())
        over = asyncio.ensure_future(self._over.wait())
        try:
            await asyncio.wait({reader, over}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.sidebands.discard(ws)
            reader.cancel()
            over.cancel()
            if self._over.is_set():
                with contextlib.suppress(Exception):
                    await ws.close(1000, "call ended")

    def finish(self) -> None:
        """The call is over: its session ends and its sidebands are closed."""
        self.ended()
        self._over.set()


@dataclass(frozen=True)
class Decision:
    """How a pending call was decided: ``session`` (the accept's body) to answer it, else the
    final ``status`` to reject it with."""

    session: dict[str, Any] | None = None
    status: int = DEFAULT_REJECT_STATUS


class ApiError(Exception):
    """A request the REST API refuses: an HTTP status and an OpenAI-style error object."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": "invalid_request_error",
                               "param": param, "code": code}}


@dataclass
class RealtimeCall:
    """A call of the endpoint in realtime-calls mode: ``pending``, ``accepted`` or ``ended``."""

    id: str
    connection: SidebandConnection = field(default_factory=SidebandConnection)
    state: str = "pending"
    hang_up: Callable[[], None] | None = None
    """Ends the answered call (BYE); set by the endpoint."""
    decision: asyncio.Future[Decision] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())

    def decide(self, decision: Decision) -> None:
        self.state = "accepted" if decision.session is not None else "ended"
        if not self.decision.done():
            self.decision.set_result(decision)

    def ended(self) -> None:
        self.state = "ended"
        if not self.decision.done():
            self.decision.cancel()
        self.connection.finish()


class RealtimeCallBook:
    """The endpoint's realtime calls by id, and what the REST API does to them."""

    def __init__(self, calls: RealtimeCalls) -> None:
        self.config = calls
        self.calls: dict[str, RealtimeCall] = {}

    def open(self) -> RealtimeCall:
        """A new pending call."""
        ended = [k for k, c in self.calls.items() if c.state == "ended"]
        for key in ended[: max(0, len(ended) - KEPT_ENDED)]:
            del self.calls[key]
        call = RealtimeCall(new_call_id())
        self.calls[call.id] = call
        return call

    def live(self, call_id: str) -> RealtimeCall | None:
        """A pending or accepted call (one a sideband may attach to)."""
        call = self.calls.get(call_id)
        return call if call is not None and call.state != "ended" else None

    async def decide(self, call: RealtimeCall, headers: list[tuple[str, str]]) -> Decision:
        """Send the call's webhook and wait for the REST API's decision (480 when the webhook
        cannot be delivered, 408 when none comes in time)."""
        deadline = asyncio.get_running_loop().time() + ACCEPT_TIMEOUT_S
        if not await deliver(self.config, incoming_event(call.id, headers)) and \
                not call.decision.done():
            call.decide(Decision(status=480))
        try:
            left = max(0.0, deadline - asyncio.get_running_loop().time())
            return await asyncio.wait_for(asyncio.shield(call.decision), left)
        except TimeoutError:
            log.info("realtime call %s: not accepted within %g s", call.id, ACCEPT_TIMEOUT_S)
            call.decide(Decision(status=408))
            return call.decision.result()

    def _pending(self, call_id: str) -> RealtimeCall:
        call = self.calls.get(call_id)
        if call is None:
            raise ApiError(404, f"Call '{call_id}' not found.", code="call_not_found")
        if call.state != "pending":
            raise ApiError(409, f"Call '{call_id}' is {call.state}, no longer pending.",
                           code="call_not_pending")
        return call

    def accept(self, call_id: str, body: Any) -> None:
        """Answer a pending call with ``body`` as its session (checked as a ``session.update``
        of it would be: 400 when the service would refuse it)."""
        call = self._pending(call_id)
        try:
            config.apply_update(config.default_session("gpt-realtime"), body)
        except config.ConfigError as exc:
            raise ApiError(400, exc.message, code=exc.code, param=exc.param) from None
        call.decide(Decision(session=body))

    def reject(self, call_id: str, body: Any) -> None:
        """Refuse a pending call with ``status_code`` (603 when none is given)."""
        status = body.get("status_code") if isinstance(body, dict) else None
        status = DEFAULT_REJECT_STATUS if status is None else status
        if not isinstance(status, int) or isinstance(status, bool) or not 300 <= status < 700:
            raise ApiError(400, "Invalid 'status_code': expected a SIP status from 300 to 699.",
                           code="invalid_value", param="status_code")
        self._pending(call_id).decide(Decision(status=status))

    def hangup(self, call_id: str, body: Any = None) -> None:
        """End an accepted call (BYE); a pending one is declined (603)."""
        call = self.calls.get(call_id)
        if call is None:
            raise ApiError(404, f"Call '{call_id}' not found.", code="call_not_found")
        if call.state == "pending":
            call.decide(Decision(status=DEFAULT_REJECT_STATUS))
        elif call.state == "accepted" and call.hang_up is not None:
            call.hang_up()
        else:
            raise ApiError(409, f"Call '{call_id}' has ended.", code="call_not_active")
