"""SDP for audio calls (RFC 4566, offer/answer after RFC 3264): G.711 and telephone-event.

The subset a telephone call needs: one audio stream, G.711 µ-law (PCMU) or A-law (PCMA) at
8 kHz, RFC 4733 DTMF events, plain RTP or SRTP keyed in the description (SDES, RFC 4568:
``RTP/SAVP`` with ``a=crypto``). :func:`offer` writes what the harness proposes, :func:`answer`
picks from a far end's offer, :func:`parse` reads either side's description into a
:class:`Media` and :func:`check_answer` says whether an answer fits the offer it answers.

SDES puts the SRTP master key in the SDP, in the clear: it is secret only when the signalling
is (SIP over TLS). The transports therefore offer SRTP only over TLS.
"""

from __future__ import annotations

import base64
import binascii
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


SRTP_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32")
"""The SRTP crypto suites taken (RFC 4568 §6.2), in the order the harness prefers them."""
KEY_SALT_BYTES = 30
"""An AES_CM_128 suite's inline key: a 16-byte master key and a 14-byte master salt."""


class SdpError(SipError):
    """A session description the harness cannot use (the caller of :func:`answer` replies 488)."""


@dataclass(frozen=True)
class Crypto:
    """One ``a=crypto`` attribute (RFC 4568): ``tag``, ``suite`` and the master key and salt
    (``key``, :data:`KEY_SALT_BYTES` long) its side protects its packets with. ``repr`` leaves
    the key out."""

    tag: int
    suite: str
    key: bytes = field(repr=False)

    @classmethod
    def generate(cls, tag: int = 1, suite: str = SRTP_SUITES[0]) -> Crypto:
        """A fresh random key and salt (``secrets``)."""
        return cls(tag, suite, secrets.token_bytes(KEY_SALT_BYTES))

    @classmethod
    def parse(cls, argument: str) -> Crypto:
        """``1 AES_CM_128_HMAC_SHA1_80 inline:KEY[|LIFETIME]`` → a Crypto; :class:`SdpError`
        for a suite not taken, a key of the wrong length, an MKI, several keys or session
        parameters (none of which the harness uses)."""
        parts = argument.split()
        if len(parts) < 3 or not parts[0].isdigit():
            raise SdpError(f"bad crypto attribute 'a=crypto:{argument}'")
        if len(parts) > 3:
            raise SdpError(f"crypto tag {parts[0]}: session parameters {parts[3:]} not supported")
        tag, suite, key_params = int(parts[0]), parts[1].upper(), parts[2]
        if suite not in SRTP_SUITES:
            raise SdpError(f"crypto tag {tag}: suite {parts[1]} not supported "
                           f"(supported: {', '.join(SRTP_SUITES)})")
        if ";" in key_params:
            raise SdpError(f"crypto tag {tag}: more than one key")
        method, _, value = key_params.partition(":")
        if method.lower() != "inline":
            raise SdpError(f"crypto tag {tag}: key method {method!r} (only inline: is defined)")
        encoded, *extra = value.split("|")
        if any(":" in part for part in extra):
            raise SdpError(f"crypto tag {tag}: an MKI is not supported")
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise SdpError(f"crypto tag {tag}: the inline key is not base64") from None
        if len(key) != KEY_SALT_BYTES:
            raise SdpError(f"crypto tag {tag}: the inline key has {len(key)} bytes, "
                           f"not {KEY_SALT_BYTES}")
        return cls(tag, suite, key)

    def attribute(self) -> str:
        """The ``a=crypto:`` line."""
        return f"a=crypto:{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"


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
    crypto: Crypto | None = None
    """With ``srtp``: the first usable ``a=crypto`` of the description (in an answer, the one
    chosen), the key the described side's packets are protected with; None when it has none
    (:func:`check_answer` says why)."""


def offer(address: str, port: int, *, codecs: tuple[str, ...] = ("PCMU", "PCMA"),
          dtmf: bool = True, session_id: int | None = None, crypto: Crypto | None = None) -> str:
    """An SDP offer of ``codecs`` (in preference order) and, with ``dtmf``, telephone-event;
    with ``crypto``, as SRTP (``RTP/SAVP``) keyed by it."""
    unknown = [codec for codec in codecs if codec not in CODECS]
    if unknown or not codecs:
        raise SdpError(f"cannot offer codecs {list(codecs)} (supported: {sorted(CODECS)})")
    types = [CODECS[codec] for codec in codecs]
    lines = _session_lines(address, session_id)
    formats = " ".join(str(t) for t in types + ([DTMF_PAYLOAD_TYPE] if dtmf else []))
    lines.append(f"m=audio {port} {'RTP/SAVP' if crypto else 'RTP/AVP'} {formats}")
    lines += [f"a=rtpmap:{t} {codec}/8000" for t, codec in zip(types, codecs, strict=True)]
    if crypto is not None:
        lines.append(crypto.attribute())
    if dtmf:
        lines += [f"a=rtpmap:{DTMF_PAYLOAD_TYPE} telephone-event/8000",
                  f"a=fmtp:{DTMF_PAYLOAD_TYPE} 0-16"]
    lines += ["a=ptime:20", "a=sendrecv"]
    return "\r\n".join(lines) + "\r\n"


def answer(offer_sdp: str, address: str, port: int, *,
           codecs: tuple[str, ...] = ("PCMU", "PCMA"),
           key: bytes | None = None) -> tuple[str, Media]:
    """Answer an offer: the first codec of the offer (in its order) that ``codecs`` has, and
    telephone-event with the offer's payload type when it offers one. An SRTP offer is answered
    with SRTP when ``key`` (:data:`KEY_SALT_BYTES` of master key and salt) is given: the first
    of its ``a=crypto`` lines that is usable, answered with the same tag and suite and ``key``.

    Returns the answer's text and the offerer's :class:`Media` (where to send, in what codec;
    for SRTP its ``crypto``, the key its packets come with). :class:`SdpError` when no codec is
    common, the stream is refused, or SRTP is required without ``key`` or without a usable key.
    """
    description = _Description.read(offer_sdp)
    chosen_crypto: Crypto | None = None
    if description.srtp:
        if key is None:
            raise SdpError(f"the offer requires SRTP ({description.proto}), which is not "
                           "supported here")
        chosen_crypto = description.usable_crypto()
        if len(key) != KEY_SALT_BYTES:
            raise SdpError(f"an SRTP key has {KEY_SALT_BYTES} bytes, not {len(key)}")
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
    lines.append(f"m=audio {port} {description.proto if chosen_crypto else 'RTP/AVP'} {formats}")
    lines.append(f"a=rtpmap:{payload_type} {codec.upper()}/{rate}")
    if dtmf is not None:
        lines += [f"a=rtpmap:{dtmf} telephone-event/8000", f"a=fmtp:{dtmf} 0-16"]
    if chosen_crypto is not None and key is not None:
        lines.append(Crypto(chosen_crypto.tag, chosen_crypto.suite, key).attribute())
    lines.append(f"a=ptime:{description.ptime_ms}")
    lines.append(f"a={_REVERSED.get(description.direction, description.direction)}")
    media = Media(description.address, description.port, codec.upper(), payload_type, rate,
                  dtmf, description.ptime_ms, description.direction, chosen_crypto is not None,
                  chosen_crypto)
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
    crypto = description.crypto[0] if description.srtp and description.crypto else None
    return Media(description.address, description.port, codec.upper(), payload_type, rate,
                 description.dtmf_payload_type(), description.ptime_ms, description.direction,
                 description.srtp, crypto)


def check_answer(offer_sdp: str, answer_sdp: str) -> Media:
    """The answer's :class:`Media` when it fits the offer it answers; :class:`SdpError` when
    it does not: plain RTP offered and SRTP answered (the far end requires SRTP), or SRTP
    offered and the answer has no key for it (plain RTP, no usable ``a=crypto``, or one whose
    tag and suite the offer did not make)."""
    media = parse(answer_sdp)
    offered = _Description.read(offer_sdp)
    if not offered.srtp:
        if media.srtp:
            raise SdpError("the far end requires SRTP (RTP/SAVP), and the offer was plain RTP: "
                           "SRTP is offered only over TLS (dial a sips: URI)")
        return media
    if not media.srtp:
        raise SdpError("the SRTP offer (RTP/SAVP) was answered with plain RTP")
    crypto = _Description.read(answer_sdp).usable_crypto()
    if not any(c.tag == crypto.tag and c.suite == crypto.suite for c in offered.crypto):
        raise SdpError(f"the answer's crypto tag {crypto.tag} ({crypto.suite}) is not one the "
                       "offer made")
    return media


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
    crypto: list[Crypto] = field(default_factory=list)
    crypto_problems: list[str] = field(default_factory=list)

    @property
    def srtp(self) -> bool:
        return "SAVP" in self.proto.upper()

    def usable_crypto(self) -> Crypto:
        """The first ``a=crypto`` the harness can use; :class:`SdpError` saying why none is."""
        if self.crypto:
            return self.crypto[0]
        if self.crypto_problems:
            raise SdpError("no usable SRTP key: " + "; ".join(self.crypto_problems))
        raise SdpError(f"SRTP ({self.proto}) without a key (no a=crypto line; keys exchanged "
                       "other than by SDES, such as DTLS-SRTP, are not supported)")

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
        elif name == "crypto":
            try:
                self.crypto.append(Crypto.parse(argument))
            except SdpError as exc:
                self.crypto_problems.append(str(exc))
        elif name == "ptime":
            if not argument.strip().isdigit() or int(argument) == 0:
                raise SdpError(f"SDP line {number}: bad ptime 'a=ptime:{argument}'")
            self.ptime_ms = int(argument)


def _connection_address(value: str, number: int) -> str:
    match = re.fullmatch(r"IN IP[46] ([^\s/]+)(?:/\d+)*\s*", value)
    if not match:
        raise SdpError(f"SDP line {number}: bad connection line 'c={value}'")
    return match.group(1)
