"""SIP messages on a stream (TCP, TLS): cut the bytes of a connection into whole messages.

A datagram holds one message; a stream holds messages back to back, and only ``Content-Length``
says where a body ends (RFC 3261 §18.3: on a stream it is mandatory). :class:`StreamFramer` takes
the bytes as the connection delivers them, split anywhere, and returns each message once it is
whole, to be read by :func:`harness.sip.message.parse`. Nothing here does I/O.

CRLFs between messages are keep-alives (RFC 5626 §3.5.1: a ``CRLFCRLF`` ping, a ``CRLF`` pong)
and are skipped.
"""

from __future__ import annotations

import re

from harness.sip.message import SipParseError

MAX_HEAD = 64 * 1024
"""The longest message head (start line and headers) waited for before the stream is refused."""
MAX_BODY = 1024 * 1024
"""The largest ``Content-Length`` taken (an SDP body is a few hundred bytes)."""

_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)",
                     re.IGNORECASE | re.MULTILINE)


class StreamFramer:
    """Bytes of one connection in (:meth:`feed`), whole messages out.

    A message whose head has no ``Content-Length`` raises :class:`SipParseError`: the stream
    cannot be read past it, so the connection has to be closed.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()

    @property
    def pending(self) -> int:
        """Bytes received that are not yet part of a whole message."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Take the next bytes of the stream; the messages they complete, in order."""
        self._buffer += data
        messages: list[bytes] = []
        while True:
            keep_alive = len(self._buffer) - len(self._buffer.lstrip(b"\r\n"))
            if keep_alive:
                del self._buffer[:keep_alive]
            if not self._buffer:
                return messages
            end = self._head_end()
            if end is None:
                if len(self._buffer) > MAX_HEAD:
                    raise SipParseError(f"no end of the message head within {MAX_HEAD} bytes")
                return messages
            head_end, body_start = end
            size = _content_length(bytes(self._buffer[:head_end]))
            if len(self._buffer) < body_start + size:
                return messages
            messages.append(bytes(self._buffer[:body_start + size]))
            del self._buffer[:body_start + size]

    def _head_end(self) -> tuple[int, int] | None:
        """(where the head ends, where the body starts), or None while the head is incomplete."""
        found = [(i, i + len(sep)) for sep in (b"\r\n\r\n", b"\n\n")
                 if (i := self._buffer.find(sep)) >= 0]
        return min(found) if found else None


def _content_length(head: bytes) -> int:
    match = _LENGTH.search(head)
    if match is None:
        first = head.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
        raise SipParseError(f"{first!r} on a stream has no Content-Length, so its end "
                            "cannot be found (RFC 3261 §18.3)")
    value = match.group(1).strip()
    if not value.isdigit():
        raise SipParseError(f"bad Content-Length: {value.decode('utf-8', 'replace')!r}")
    size = int(value)
    if size > MAX_BODY:
        raise SipParseError(f"Content-Length {size} is larger than {MAX_BODY} bytes")
    return size
