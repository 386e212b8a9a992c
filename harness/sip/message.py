"""SIP messages (RFC 3261): parse and serialise requests and responses, URIs and name-addrs.

Nothing here does I/O. :func:`parse` turns one datagram (or one framed stream message) into a
:class:`Request` or :class:`Response`; :func:`serialize` turns one back into bytes with CRLF line
ends and a correct ``Content-Length``. Header names are matched without regard to case and the
compact forms (``v``, ``f``, ``t``, ``i``, ``m``, ``l``, ``c``, ``k``, ``s``, ``e``) are read as
their full names.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field


class SipError(ValueError):
    """Base of every SIP error: a message, URI, SDP body or credential the core cannot use."""


class SipParseError(SipError):
    """Bytes that are not a SIP message; the text says what was wrong and where."""


COMPACT_FORMS = {
    "v": "Via", "f": "From", "t": "To", "i": "Call-ID", "m": "Contact", "l": "Content-Length",
    "c": "Content-Type", "k": "Supported", "s": "Subject", "e": "Content-Encoding",
}
"""Compact header names (RFC 3261 §7.3.3) and the full names they stand for."""

_CANONICAL = {name.lower(): name for name in (
    "Via", "From", "To", "Call-ID", "CSeq", "Contact", "Content-Length", "Content-Type",
    "Max-Forwards", "Route", "Record-Route", "WWW-Authenticate", "Proxy-Authenticate",
    "Authorization", "Proxy-Authorization", "User-Agent", "Server", "Allow", "Supported",
    "Require", "Subject", "Content-Encoding", "Expires", "Reason", "Accept")}

_LIST_HEADERS = {"via", "contact", "route", "record-route"}
"""Headers whose comma-separated values :meth:`Headers.get_all` splits into separate values."""

REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 202: "Accepted", 301: "Moved Permanently",
    302: "Moved Temporarily", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 407: "Proxy Authentication Required",
    408: "Request Timeout", 480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 500: "Server Internal Error", 501: "Not Implemented",
    503: "Service Unavailable", 603: "Decline",
}
"""Standard reason phrases of the status codes the core sends or expects."""


def canonical_name(name: str) -> str:
    """The full, conventionally capitalised form of a header name (compact forms expanded)."""
    key = name.strip()
    if key.lower() in COMPACT_FORMS:
        return COMPACT_FORMS[key.lower()]
    return _CANONICAL.get(key.lower(), key)


def split_list(value: str) -> list[str]:
    """Split a header value on the commas that are outside quotes and angle brackets."""
    parts: list[str] = []
    current: list[str] = []
    quoted = angled = False
    escaped = False
    for char in value:
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "<>":
            angled = char == "<"
        elif char == "," and not quoted and not angled:
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(char)
    parts.append("".join(current).strip())
    return [part for part in parts if part]


class Headers:
    """Ordered, case-insensitive, multi-valued message headers."""

    def __init__(self, items: list[tuple[str, str]] | None = None) -> None:
        self._items: list[tuple[str, str]] = []
        for name, value in items or []:
            self.add(name, value)

    def get(self, name: str) -> str | None:
        """The first value of the header as written (a list header's whole line), or None."""
        key = canonical_name(name).lower()
        return next((v for n, v in self._items if n.lower() == key), None)

    def get_all(self, name: str) -> list[str]:
        """Every value, in order; Via, Contact, Route and Record-Route split on their commas."""
        key = canonical_name(name).lower()
        values = [v for n, v in self._items if n.lower() == key]
        if key in _LIST_HEADERS:
            return [part for value in values for part in split_list(value)]
        return values

    def set(self, name: str, value: str) -> None:
        """Replace every value of the header by one, kept where the first one was."""
        key = canonical_name(name).lower()
        index = next((i for i, (n, _) in enumerate(self._items) if n.lower() == key), None)
        self.remove(name)
        entry = (canonical_name(name), value)
        if index is None:
            self._items.append(entry)
        else:
            self._items.insert(index, entry)

    def add(self, name: str, value: str) -> None:
        """Append a value (after any the header already has)."""
        self._items.append((canonical_name(name), value.strip()))

    def remove(self, name: str) -> None:
        """Remove every value of the header."""
        key = canonical_name(name).lower()
        self._items = [(n, v) for n, v in self._items if n.lower() != key]

    def items(self) -> list[tuple[str, str]]:
        """(name, value) pairs in order, names in their full form."""
        return list(self._items)

    def copy(self) -> Headers:
        return Headers(self.items())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self.items())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and self._items == other._items

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def parse_params(text: str) -> dict[str, str | None]:
    """``;a=1;lr;tag="x"`` → ``{"a": "1", "lr": None, "tag": "x"}`` (names lower-cased)."""
    params: dict[str, str | None] = {}
    for part in split_params(text):
        name, sep, value = part.partition("=")
        if name.strip():
            params[name.strip().lower()] = unquote(value.strip()) if sep else None
    return params


def split_params(text: str) -> list[str]:
    """Split on the semicolons outside quotes (the leading empty part dropped)."""
    parts = re.findall(r'(?:[^;"]|"(?:[^"\\]|\\.)*")+', text)
    return [part.strip() for part in parts if part.strip()]


def unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(frozen=True)
class SipUri:
    """A ``sip:``, ``sips:`` or ``tel:`` URI. ``tel:`` has the number as ``user`` and ``host=""``.

    ``params`` are the URI parameters in order (``None`` for a flag such as ``lr``); ``headers``
    is the raw text after ``?``, if any.
    """

    scheme: str
    user: str | None
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)
    headers: str = ""

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Read a URI (without angle brackets); :class:`SipError` says what is wrong."""
        raw = text.strip()
        scheme, colon, rest = raw.partition(":")
        scheme = scheme.lower()
        if not colon or scheme not in ("sip", "sips", "tel"):
            raise SipError(f"not a SIP URI: {raw!r} (expected sip:, sips: or tel:)")
        rest, _, headers = rest.partition("?")
        if scheme == "tel":
            main, *param_parts = rest.split(";")
            if not re.fullmatch(r"\+?[0-9A-Fa-f*#().\-]+", main):
                raise SipError(f"bad telephone number in {raw!r}")
            return cls("tel", main, "", None, parse_params(";".join(param_parts)), headers)
        user, at, host_part = rest.rpartition("@")  # a user part may hold ';' (user params)
        hostport, *param_parts = host_part.split(";")
        params = parse_params(";".join(param_parts))
        if at and not user:
            raise SipError(f"empty user part in {raw!r}")
        match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.\-_]+)(?::(\d{1,5}))?", hostport)
        if not match:
            raise SipError(f"bad host or port in {raw!r}")
        port = int(match.group(2)) if match.group(2) else None
        if port is not None and not 0 < port < 65536:
            raise SipError(f"port out of range in {raw!r}")
        return cls(scheme, user if at else None, match.group(1), port, params, headers)

    def __str__(self) -> str:
        if self.scheme == "tel":
            text = f"tel:{self.user}"
        else:
            user = f"{self.user}@" if self.user is not None else ""
            port = f":{self.port}" if self.port is not None else ""
            text = f"{self.scheme}:{user}{self.host}{port}"
        return text + format_params(self.params) + (f"?{self.headers}" if self.headers else "")

    def __hash__(self) -> int:
        return hash((self.scheme, self.user, self.host, self.port,
                     tuple(self.params.items()), self.headers))

    @property
    def transport(self) -> str:
        """The ``transport`` parameter, lower case; else ``tls`` for ``sips:``, else ``udp``."""
        given = self.params.get("transport")
        if given:
            return given.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def address(self) -> tuple[str, int]:
        """Host and port to send to (5061 for ``sips:`` or TLS, else 5060, when none is given)."""
        default = 5061 if self.transport == "tls" else 5060
        return self.host.strip("[]"), self.port or default


def parse_name_addr(text: str) -> tuple[str | None, str, dict[str, str | None]]:
    """``"Bob" <sip:bob@x>;tag=abc`` → ``("Bob", "sip:bob@x", {"tag": "abc"})``.

    Without angle brackets the parameters after the URI belong to the header (RFC 3261 §20.10).
    """
    value = text.strip()
    match = re.fullmatch(r'\s*(?:"((?:[^"\\]|\\.)*)"|([^<"]*?))\s*<([^>]*)>(.*)', value,
                         re.DOTALL)
    if match:
        quoted, token, uri, rest = match.groups()
        display = unquote(f'"{quoted}"') if quoted is not None else (token.strip() or None)
        return display, uri.strip(), parse_params(rest)
    if not value or "<" in value or ">" in value:
        raise SipError(f"bad name-addr: {text!r}")
    uri, _, rest = value.partition(";")
    return None, uri.strip(), parse_params(rest)


def format_name_addr(display: str | None, uri: SipUri | str,
                     params: dict[str, str | None] | None = None) -> str:
    """The name-addr form, always with angle brackets: ``"Bob" <sip:bob@x>;tag=abc``."""
    name = ""
    if display:
        escaped = display.replace("\\", "\\\\").replace('"', '\\"')
        name = f'"{escaped}" '
    return f"{name}<{uri}>{format_params(params or {})}"


@dataclass(frozen=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host:port;branch=...;rport``."""

    transport: str
    host: str
    port: int | None
    params: dict[str, str | None]

    @classmethod
    def parse(cls, text: str) -> Via:
        match = re.fullmatch(
            r"\s*SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+(\[[0-9A-Fa-f:.]+\]|[^\s:;]+)"
            r"(?:\s*:\s*(\d+))?\s*(.*)", text, re.DOTALL)
        if not match:
            raise SipParseError(f"bad Via header: {text!r}")
        transport, host, port, rest = match.groups()
        return cls(transport.upper(), host, int(port) if port else None, parse_params(rest))

    def response_address(self) -> tuple[str, int]:
        """Where a response goes (RFC 3261 §18.2.2, RFC 3581): ``received``/``rport`` first."""
        host = self.params.get("received") or self.host.strip("[]")
        rport = self.params.get("rport")
        port = int(rport) if rport and rport.isdigit() else self.port or 5060
        return host, port


class _Message:
    """What requests and responses share: the headers that identify a transaction and a call."""

    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        return self._required("Call-ID")

    @property
    def cseq(self) -> tuple[int, str]:
        """(sequence number, method) of the CSeq header."""
        value = self._required("CSeq")
        match = re.fullmatch(r"\s*(\d+)\s+([A-Za-z]+)\s*", value)
        if not match:
            raise SipParseError(f"bad CSeq header: {value!r}")
        return int(match.group(1)), match.group(2).upper()

    @property
    def from_tag(self) -> str | None:
        return parse_name_addr(self._required("From"))[2].get("tag")

    @property
    def to_tag(self) -> str | None:
        return parse_name_addr(self._required("To"))[2].get("tag")

    @property
    def via(self) -> Via:
        """The top Via."""
        values = self.headers.get_all("Via")
        if not values:
            raise SipParseError("the message has no Via header")
        return Via.parse(values[0])

    @property
    def branch(self) -> str | None:
        """The ``branch`` parameter of the top Via."""
        return self.via.params.get("branch")

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise SipParseError(f"the message has no {name} header")
        return value


@dataclass
class Request(_Message):
    """A SIP request: ``method`` upper case, ``uri`` the Request-URI as written."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""


@dataclass
class Response(_Message):
    """A SIP response."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""


_REQUIRED = ("Via", "From", "To", "Call-ID", "CSeq")


def parse(data: bytes) -> Request | Response:
    """One SIP message from bytes; :class:`SipParseError` says what is wrong."""
    head, body = _split_head(data)
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SipParseError(f"the message head is not UTF-8 (byte {exc.start})") from exc
    lines = text.replace("\r\n", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)  # keep-alive CRLFs before a message on a stream
    if not lines:
        raise SipParseError("empty message")
    start = lines[0].strip()
    headers = Headers()
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if line[0] in " \t":  # a folded continuation of the previous header
            items = headers.items()
            if not items:
                raise SipParseError(f"line {number}: continuation line before any header")
            name, value = items[-1]
            headers._items[-1] = (name, f"{value} {line.strip()}")
            continue
        name, colon, value = line.partition(":")
        if not colon or not re.fullmatch(r"[A-Za-z0-9!%*_+`'~.\-]+", name.strip()):
            raise SipParseError(f"line {number}: not a header: {line!r}")
        headers.add(name, value)
    message = _start_line(start, headers)
    length = headers.get("Content-Length")
    if length is not None:
        if not length.strip().isdigit():
            raise SipParseError(f"bad Content-Length: {length!r}")
        size = int(length)
        if len(body) < size:
            raise SipParseError(
                f"body shorter than Content-Length ({len(body)} of {size} bytes)")
        body = body[:size]
    message.body = body
    missing = [name for name in _REQUIRED if name not in headers]
    if missing:
        raise SipParseError(f"{start!r}: missing header(s) {', '.join(missing)}")
    message.cseq  # noqa: B018 - validates the CSeq header
    return message


def _split_head(data: bytes) -> tuple[bytes, bytes]:
    found = [(i, len(sep)) for sep in (b"\r\n\r\n", b"\n\n") if (i := data.find(sep)) >= 0]
    if not found:
        return data, b""
    index, size = min(found)
    return data[:index], data[index + size:]


def _start_line(start: str, headers: Headers) -> Request | Response:
    if start.startswith("SIP/"):
        match = re.fullmatch(r"SIP/2\.0\s+(\d{3})(?:\s+(.*))?", start)
        if not match:
            raise SipParseError(f"bad status line: {start!r}")
        return Response(int(match.group(1)), (match.group(2) or "").strip(), headers)
    match = re.fullmatch(r"([A-Za-z]+)\s+(\S+)\s+SIP/2\.0", start)
    if not match:
        raise SipParseError(f"bad request line: {start!r} (expected 'METHOD URI SIP/2.0')")
    return Request(match.group(1).upper(), match.group(2), headers)


def serialize(message: Request | Response) -> bytes:
    """Bytes of a message: CRLF line ends, ``Content-Length`` set to the body's length."""
    if isinstance(message, Request):
        start = f"{message.method} {message.uri} SIP/2.0"
    else:
        start = f"SIP/2.0 {message.status} {message.reason}"
    lines = [start] + [f"{name}: {value}" for name, value in message.headers.items()
                       if name != "Content-Length"]
    lines.append(f"Content-Length: {len(message.body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + message.body


def new_branch() -> str:
    """A fresh Via branch with the RFC 3261 magic cookie."""
    return "z9hG4bK" + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id(host: str) -> str:
    return f"{secrets.token_hex(12)}@{host}"


def response_to(request: Request, status: int, reason: str | None = None, *,
                to_tag: str | None = None, body: bytes = b"",
                content_type: str | None = None) -> Response:
    """A response to ``request`` (RFC 3261 §8.2.6): its Vias, From, To (with ``to_tag`` added
    unless it has one), Call-ID and CSeq copied."""
    headers = Headers()
    for via in request.headers.get_all("Via"):
        headers.add("Via", via)
    headers.add("From", request._required("From"))
    to = request._required("To")
    if to_tag and parse_name_addr(to)[2].get("tag") is None:
        to = f"{to};tag={to_tag}"
    headers.add("To", to)
    headers.add("Call-ID", request.call_id)
    headers.add("CSeq", request._required("CSeq"))
    if body and content_type:
        headers.add("Content-Type", content_type)
    return Response(status, reason or REASONS.get(status, "Unknown"), headers, body)


def dialog_key(message: Request | Response) -> str:
    """The key the transport routes a message to its call by: the Call-ID."""
    return message.call_id
