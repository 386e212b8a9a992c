"""WebRTC signalling with a realtime service: POST the SDP offer, read the SDP answer.

The service's calls endpoint (``POST /v1/realtime/calls``) takes the offer as the body with
``Content-Type: application/sdp`` and the target's credential headers, and answers ``201
Created`` with the SDP answer as the body and a ``Location`` header naming the call
(``/v1/realtime/calls/rtc_…``). The answer is read by what it is, an SDP (``v=0`` first), not by
its ``Content-Type``: the service has been recorded answering ``text/plain``. The request goes
through the standard library's HTTP client on a worker thread: one request per call, so no HTTP
client library is needed.

Every way it can fail becomes one :mod:`harness.realtime.errors` exception whose message names
the target's label and its URL without the query, never a header (so never a key).
"""

from __future__ import annotations

import asyncio
import http.client
import socket
import ssl
from dataclasses import dataclass
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


def _post(target: Target, offer: str, timeout: float) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(target.url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout,
                                           context=ssl.create_default_context())
    else:
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    try:
        headers = {**target.headers, "Content-Type": SDP_CONTENT_TYPE,
                   "User-Agent": "realtime-voice-harness"}
        conn.request("POST", path or "/", body=offer.encode("utf-8"), headers=headers)
        response = conn.getresponse()
        body = response.read(MAX_ANSWER_BYTES)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    finally:
        conn.close()


def call_id_of(location: str | None) -> str | None:
    """The call id a ``Location`` header names (its last path segment)."""
    if not location:
        return None
    segment = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return segment or None


async def post_offer(target: Target, offer: str, *, timeout: float) -> Answer:
    """POST ``offer`` to the target's calls URL; the answer, or the error that says why not."""
    where = f"{target.label} ({target.safe_url})"
    try:
        status, headers, body = await asyncio.to_thread(_post, target, offer, timeout)
    except ssl.SSLError as exc:
        raise TLSFailure(f"TLS handshake with {where} failed: {exc.reason or exc}") from None
    except TimeoutError:
        raise HandshakeTimeout(f"{where} did not answer the SDP offer within {timeout:g} s"
                               ) from None
    except socket.gaierror as exc:
        raise Unreachable(f"cannot resolve the host of {where}: {exc.strerror}") from None
    except http.client.HTTPException as exc:
        raise HandshakeRejected(f"{where} did not answer as an HTTP server: "
                                f"{exc.__class__.__name__}") from None
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise Unreachable(f"{where} is unreachable: {reason}") from None
    text = body.decode("utf-8", "replace")
    if status not in (200, 201):
        raise _status_error(target, status, text)
    content_type = headers.get("content-type", "").split(";")[0].strip().lower()
    if not text.startswith("v=0"):
        raise HandshakeRejected(f"{where} answered the SDP offer with HTTP {status} but no SDP "
                                f"answer (Content-Type {content_type or 'missing'})")
    return Answer(text, call_id_of(headers.get("location")))
