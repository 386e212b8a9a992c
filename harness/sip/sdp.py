"""SDP for audio calls (RFC 4566, offer/answer after RFC 3264): G.711 and telephone-event.

The subset a telephone call needs: one audio stream, G.711 µ-law (PCMU) or A-law (PCMA) at
8 kHz, RFC 4733 DTMF events, plain RTP. :func:`offer` writes what the harness proposes,
:func:`answer` picks from a far end's offer and :func:`parse` reads either side's description
into a :class:`Media`. SRTP (``RTP/SAVP``) is refused with :class:`SdpError` for now.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field

from harness.sip.message import SipError

PCMU = 0
PCMA = 8
DTMF_PAYLOAD_TYPE = 101
"""The payload type the harness offers for telephone-event/8000."""

CODECS = {"PCMU": PCMU, "PCMA": PCMA}
"""The codecs supported, by encoding name, with their static payload types."""

_STATIC = {PCMU: ("PCMU", 8000), 3: ("GSM", 8000), 4: ("G723", 8000), PCMA: ("PCMA", 8000),
           9: ("G722", 8000), 13: ("CN", 8000), 18: ("G729", 8000)}
"""Static payload types (RFC 3551) that may appear without an rtpmap."""
_DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
_REVERSED = {"sendonly": "recvonly", "recvonly": "sendonly"}


class SdpError(SipError):
    """A session description the harness cannot use (the caller of :func:`answer` replies 488)."""


@dataclass(frozen=True)
class Media:
    """The audio stream of a session description: where its RTP goes and how it is encoded.

    ``address``/``port`` are where the described side receives RTP; ``payload_type`` carries
    ``codec`` at ``clock_rate``; ``dtmf_payload_type`` carries telephone-event, if any.
    """

    address: str
    port: int
    codec: str
    payload_type: int
    clock_rate: int
    dtmf_payload_type: int | None
    ptime_ms: int = 20
    direction: str = "sendrecv"
    srtp: bool = False


def offer(address: str, port: int, *, codecs: tuple[str, ...] = ("PCMU", "PCMA"),
          dtmf: bool = True, session_id: int | None = None) -> str:
    """An SDP offer of ``codecs`` (in preference order) and, with ``dtmf``, telephone-event."""
    unknown = [codec for codec in codecs if codec not in CODECS]
    if unknown or not codecs:
        raise SdpError(f"cannot offer codecs {list(codecs)} (supported: {sorted(CODECS)})")
    types = [CODECS[codec] for codec in codecs]
    lines = _session_lines(address, session_id)
    formats = " ".join(str(t) for t in types + ([DTMF_PAYLOAD_TYPE] if dtmf else []))
    lines.append(f"m=audio {port} RTP/AVP {formats}")
    lines += [f"a=rtpmap:{t} {codec}/8000" for t, codec in zip(types, codecs, strict=True)]
    if dtmf:
        lines += [f"a=rtpmap:{DTMF_PAYLOAD_TYPE} telephone-event/8000",
                  f"a=fmtp:{DTMF_PAYLOAD_TYPE} 0-16"]
    lines += ["a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def answer(offer_sdp: str, address: str, port: int, *,
           codecs: tuple[str, ...] = ("PCMU", "PCMA")) -> tuple[str, Media]:
    """Answer an offer: the first codec of the offer (in its order) that ``codecs`` has, and
    telephone-event with the offer's payload type when it offers one.

    Returns the answer's text and the offerer's :class:`Media` (where to send, in what codec).
    :class:`SdpError` when no codec is common, the stream is refused or SRTP is required.
    """
    description = _Description.read(offer_sdp)
    if description.srtp:
        raise SdpError(f"the offer requires SRTP ({description.proto}), which is not supported")
    if description.port == 0:
        raise SdpError("the offer's audio stream is disabled (port 0)")
    chosen = next(((pt, name, rate) for pt, (name, rate) in description.formats()
                   if name.upper() in codecs and rate == 8000), None)
    if chosen is None:
        offered = [f"{name}/{rate}" for _, (name, rate) in description.formats()]
        raise SdpError(f"no common codec: offered {offered}, supported {list(codecs)}")
    payload_type, codec, rate = chosen
    dtmf = description.dtmf_payload_type()
    lines = _session_lines(address, None)
    formats = " ".join(str(t) for t in [payload_type] + ([dtmf] if dtmf is not None else []))
    lines.append(f"m=audio {port} RTP/AVP {formats}")
    lines.append(f"a=rtpmap:{payload_type} {codec.upper()}/{rate}")
    if dtmf is not None:
        lines += [f"a=rtpmap:{dtmf} telephone-event/8000", f"a=fmtp:{dtmf} 0-16"]
    lines.append(f"a=ptime:{description.ptime_ms}")
    lines.append(f"a={_REVERSED.get(description.direction, description.direction)}")
    media = Media(description.address, description.port, codec.upper(), payload_type, rate,
                  dtmf, description.ptime_ms, description.direction, False)
    return "\r\n".join(lines) + "\r\n", media


def parse(sdp_text: str) -> Media:
    """The first audio stream of a description; its codec is its first payload type that is
    not telephone-event or comfort noise (in an answer, the codec chosen)."""
    description = _Description.read(sdp_text)
    formats = [(pt, name, rate) for pt, (name, rate) in description.formats()
               if name.lower() not in ("telephone-event", "cn")]
    if not formats:
        raise SdpError(f"the audio stream names no codec: m=audio {description.port} "
                       f"{description.proto} {' '.join(map(str, description.payload_types))}")
    payload_type, codec, rate = formats[0]
    if codec.upper() not in CODECS:
        raise SdpError(f"unsupported codec {codec}/{rate} (payload type {payload_type})")
    return Media(description.address, description.port, codec.upper(), payload_type, rate,
                 description.dtmf_payload_type(), description.ptime_ms, description.direction,
                 description.srtp)


def _session_lines(address: str, session_id: int | None) -> list[str]:
    family = "IP6" if ":" in address else "IP4"
    sid = session_id if session_id is not None else secrets.randbelow(2**31)
    return ["v=0", f"o=harness {sid} {sid} IN {family} {address}", "s=harness",
            f"c=IN {family} {address}", "t=0 0"]


@dataclass
class _Description:
    """What the first audio m-line of a description says, with the session-level defaults."""

    address: str
    port: int
    proto: str
    payload_types: list[int]
    rtpmap: dict[int, tuple[str, int]] = field(default_factory=dict)
    ptime_ms: int = 20
    direction: str = "sendrecv"

    @property
    def srtp(self) -> bool:
        return "SAVP" in self.proto.upper()

    def formats(self) -> list[tuple[int, tuple[str, int]]]:
        """(payload type, (encoding name, clock rate)) of each payload type with a known name."""
        named = [(pt, self.rtpmap.get(pt) or _STATIC.get(pt)) for pt in self.payload_types]
        return [(pt, entry) for pt, entry in named if entry is not None]

    def dtmf_payload_type(self) -> int | None:
        return next((pt for pt, (name, rate) in self.formats()
                     if name.lower() == "telephone-event" and rate == 8000), None)

    @classmethod
    def read(cls, text: str) -> _Description:
        lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]
        if not lines or lines[0] != "v=0":
            raise SdpError("not an SDP body: the first line must be 'v=0'")
        session_address: str | None = None
        session_direction = "sendrecv"
        found: _Description | None = None
        media_address: str | None = None
        media_direction: str | None = None
        in_audio = seen_media = False
        for number, line in enumerate(lines, start=1):
            if not re.fullmatch(r"[a-z]=.*", line):
                raise SdpError(f"SDP line {number}: expected 'x=value', got {line!r}")
            kind, value = line[0], line[2:]
            if kind == "m":
                if found is not None:
                    break
                seen_media = True
                in_audio = value.startswith("audio ")
                if in_audio:
                    found = cls._media_line(value, number)
            elif kind == "c":
                address = _connection_address(value, number)
                if not seen_media:
                    session_address = address
                elif in_audio:
                    media_address = address
            elif kind == "a" and (in_audio or not seen_media):
                attribute, _, argument = value.partition(":")
                if attribute in _DIRECTIONS:
                    if found is None:
                        session_direction = attribute
                    else:
                        media_direction = attribute
                elif found is not None:
                    found.attribute(attribute, argument, number)
        if found is None:
            raise SdpError("the description has no audio stream (m=audio)")
        found.direction = media_direction or session_direction
        connection = media_address or session_address
        if connection is None:
            raise SdpError("the audio stream has no connection address (c=)")
        found.address = connection
        return found

    @classmethod
    def _media_line(cls, value: str, number: int) -> _Description:
        match = re.fullmatch(r"audio (\d+)(?:/\d+)? (\S+)((?: \d+)*)\s*", value)
        if not match:
            raise SdpError(f"SDP line {number}: bad media line 'm={value}'")
        port = int(match.group(1))
        if port > 65535:
            raise SdpError(f"SDP line {number}: port {port} out of range")
        return cls("", port, match.group(2), [int(t) for t in match.group(3).split()])

    def attribute(self, name: str, argument: str, number: int) -> None:
        if name == "rtpmap":
            match = re.fullmatch(r"(\d+) ([^/\s]+)/(\d+)(?:/\d+)?\s*", argument)
            if not match:
                raise SdpError(f"SDP line {number}: bad rtpmap 'a=rtpmap:{argument}'")
            self.rtpmap[int(match.group(1))] = (match.group(2), int(match.group(3)))
        elif name == "ptime":
            if not argument.strip().isdigit() or int(argument) == 0:
                raise SdpError(f"SDP line {number}: bad ptime 'a=ptime:{argument}'")
            self.ptime_ms = int(argument)


def _connection_address(value: str, number: int) -> str:
    match = re.fullmatch(r"IN IP[46] ([^\s/]+)(?:/\d+)*\s*", value)
    if not match:
        raise SdpError(f"SDP line {number}: bad connection line 'c={value}'")
    return match.group(1)
