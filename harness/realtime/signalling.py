"""WebRTC signalling with a realtime service: POST the SDP offer, read the SDP answer.

The service's calls endpoint (``POST /v1/realtime/calls``) takes the offer as the body with
``Content-Type: application/sdp`` and the target's credential headers, and answers ``201
Created`` with the SDP answer as the body and a ``Location`` header naming the call
(``/v1/realtime/calls/rtc_…``). The answer is read by what it is, an SDP (``v=0`` first), not by
its ``Content-Type``: the service has been recorded answering ``text/plain``. The request goes
through the standard library's HTTP client on a worker thread: one request per call, so no HTTP
client library is needed.

Where the target has a :attr:`~harness.realtime.targets.Target.secrets_url` (``openai-webrtc``,
``azure-webrtc``), the session config goes first to ``POST …/realtime/client_secrets`` as JSON
(``{"session": {"type": "realtime", "model": …, …}}``) with the target's credential headers (the
API key as bearer, or Azure's ``api-key``), and the ephemeral key the service answers with
(``{"value": "ek_…", …}``) is the offer's only credential, ``Authorization: Bearer``: the way a
browser or a phone app reaches the service, the API key never on the call itself
(:func:`mint_key`). The ephemeral key is a credential too: it is never recorded or printed.

Every way it can fail becomes one :mod:`harness.realtime.errors` exception whose message names
the target's label and its URL without the query, never a header (so never a key).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from harness.realtime.errors import (
    AuthRefused,
    ConnectFailed,
    HandshakeRejected,
    HandshakeTimeout,
    TLSFailure,
    UnknownModel,
    Unreachable,
)
from harness.realtime.targets import Target

SDP_CONTENT_TYPE = "application/sdp"
MAX_ANSWER_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Answer:
    """The service's answer to an offer: its SDP and the call id from ``Location``."""

    sdp: str
    call_id: str | None


def _status_error(target: Target, status: int, body: str) -> ConnectFailed:
    where = f"{target.label} ({target.safe_url})"
    text = body.strip()[:200]
    if status in (401, 403):
        return AuthRefused(f"auth refused by {where}: HTTP {status}; check the API key")
    if status == 404 and ("model" in text.lower() or "deployment" in text.lower()):
        return UnknownModel(f"unknown model at {where}: HTTP 404 ({text})")
    if status == 404:
        return HandshakeRejected(f"no realtime calls endpoint at {where}: HTTP 404")
    return HandshakeRejected(f"{where} refused the SDP offer: HTTP {status}"
                             + (f" ({text})" if text else ""))


def _post(url: str, body: bytes, headers: dict[str, str], timeout: float
          ) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    try:
        conn.request("POST", path or "/", body=body,
                     headers={**headers, "User-Agent": "realtime-voice-harness"})
        response = conn.getresponse()
        data = response.read(MAX_ANSWER_BYTES)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


async def _request(target: Target, url: str, body: bytes, headers: dict[str, str],
                   timeout: float, what: str) -> tuple[int, dict[str, str], str]:
    """POST ``body`` to ``url``; each failure as the :mod:`harness.realtime.errors` exception
    that says why (naming ``target``'s label and safe URL, never a header)."""
    where = f"{target.label} ({target.safe_url})"
    try:
        status, answer_headers, data = await asyncio.to_thread(_post, url, body, headers,
                                                               timeout)
    except ssl.SSLError as exc:
        raise TLSFailure(f"TLS handshake with {where} failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise HandshakeTimeout(f"{where} did not answer {what} within {timeout:g} s") from None
    except socket.gaierror as exc:
        raise Unreachable(f"cannot resolve the host of {where}: {exc.strerror}") from None
    except http.client.HTTPException as exc:
        raise HandshakeRejected(f"{where} did not answer as an HTTP server: "
                                f"{exc.__class__.__name__}") from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise Unreachable(f"{where} is unreachable: {reason}") from None
    return status, answer_headers, data.decode("utf-8", "replace")


async def mint_key(target: Target, session: dict[str, Any], *, timeout: float) -> str:
    """An ephemeral key for one call with ``session`` (the ``session`` object of a
    ``session.update``, with its ``model``), from the target's ``client_secrets`` URL."""
    assert target.secrets_url is not None
    body = json.dumps({"session": session}).encode("utf-8")
    headers = {**target.headers, "Content-Type": "application/json"}
    status, _, text = await _request(target, target.secrets_url, body, headers, timeout,
                                     "the request for an ephemeral key")
    if status not in (200, 201):
        if status in (401, 403):
            raise _status_error(target, status, "")
        raise HandshakeRejected(f"{target.label} ({target.safe_url}) refused to mint an "
                                f"ephemeral key for the session: HTTP {status}"
                                + _error_message(text))
    try:
        answer = json.loads(text)
        value = answer.get("value") if isinstance(answer, dict) else None
    except ValueError:
        value = None
    if not isinstance(value, str) or not value:
        raise HandshakeRejected(f"{target.label} ({target.safe_url}) answered the request for "
                                "an ephemeral key without one (no \"value\" in its JSON)")
    return value


def _error_message(text: str) -> str:
    """`` (message)`` of a service's JSON error body, else nothing: the body may echo a key."""
    try:
        error = json.loads(text).get("error")
    except (ValueError, AttributeError):
        return ""
    message = error.get("message") if isinstance(error, dict) else None
    if not isinstance(message, str) or "key" in message.lower():
        return ""
    return f" ({message[:200]})"


def call_id_of(location: str | None) -> str | None:
    """The call id a ``Location`` header names (its last path segment)."""
    if not location:
        return None
    segment = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return segment or None


async def post_offer(target: Target, offer: str, *, timeout: float,
                     key: str | None = None) -> Answer:
    """POST ``offer`` to the target's calls URL (with ``key``, an ephemeral key, as the bearer
    and none of the target's own headers: Azure's ``api-key`` would otherwise ride along); the
    answer, or the error that says why not."""
    where = f"{target.label} ({target.safe_url})"
    credentials = dict(target.headers) if key is None else {"Authorization": f"Bearer {key}"}
    headers = {**credentials, "Content-Type": SDP_CONTENT_TYPE}
    status, answer_headers, text = await _request(target, target.url, offer.encode("utf-8"),
                                                  headers, timeout, "the SDP offer")
    if status not in (200, 201):
        raise _status_error(target, status, text)
    content_type = answer_headers.get("content-type", "").split(";")[0].strip().lower()
    if not text.startswith("v=0"):
        raise HandshakeRejected(f"{where} answered the SDP offer with HTTP {status} but no SDP "
                                f"answer (Content-Type {content_type or 'missing'})")
    return Answer(text, call_id_of(answer_headers.get("location")))
