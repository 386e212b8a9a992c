"""SIP messages: parsing real call-flow texts (RFC 3665 §3.1), compact headers, round trips,
URIs, name-addrs and responses built from requests."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.sip.message import (
    Headers,
    Request,
    Response,
    SipError,
    SipParseError,
    SipUri,
    Via,
    format_name_addr,
    new_branch,
    new_call_id,
    new_tag,
    parse,
    parse_name_addr,
    response_to,
    serialize,
)

# RFC 3665 §3.1, message F1 (Alice's INVITE to Bob), with the RFC's CRLF line ends.
ALICE_SDP = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
)
F1_INVITE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    "Max-Forwards: 70\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 151\r\n"
    "\r\n" + ALICE_SDP
).encode()

# RFC 3665 §3.1, message F2 (Bob's 180 Ringing).
F2_RINGING = (
    b"SIP/2.0 180 Ringing\r\n"
    b"Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    b" ;received=192.0.2.101\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
    b"Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Contact: <sip:bob@client.biloxi.example.com;transport=tcp>\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)


def test_rfc3665_invite_parses_with_its_body() -> None:
    invite = parse(F1_INVITE)
    assert isinstance(invite, Request)
    assert invite.method == "INVITE" and invite.uri == "sip:bob@biloxi.example.com"
    assert invite.call_id == "3848276298220188511@atlanta.example.com"
    assert invite.cseq == (1, "INVITE")
    assert invite.from_tag == "9fxced76sl" and invite.to_tag is None
    assert invite.branch == "z9hG4bK74bf9"
    assert invite.body == ALICE_SDP.encode()
    assert invite.headers.get("max-forwards") == "70"


def test_rfc3665_ringing_parses_a_folded_via() -> None:
    ringing = parse(F2_RINGING)
    assert isinstance(ringing, Response)
    assert (ringing.status, ringing.reason) == (180, "Ringing")
    assert ringing.to_tag == "8321234356"
    assert ringing.via.params["received"] == "192.0.2.101"
    assert ringing.via.response_address() == ("192.0.2.101", 5060)
    assert ringing.body == b""


def test_lf_only_line_ends_are_tolerated() -> None:
    text = F1_INVITE.decode().replace("\r\n", "\n").replace("Content-Length: 151",
                                                           "Content-Length: 144")
    invite = parse(text.encode())
    assert invite.body == ALICE_SDP.replace("\r\n", "\n").encode()


def test_content_length_bounds_the_body_and_a_short_body_is_an_error() -> None:
    padded = parse(F1_INVITE + b"\r\n\r\ntrailing")
    assert padded.body == ALICE_SDP.encode()
    with pytest.raises(SipParseError, match="shorter than Content-Length"):
        parse(F1_INVITE[:-10])


def test_compact_headers_read_as_full_names() -> None:
    compact = (
        b"BYE sip:alice@client.atlanta.example.com SIP/2.0\r\n"
        b"v: SIP/2.0/UDP 192.0.2.4;branch=z9hG4bKnashds7\r\n"
        b"f: Bob <sip:bob@biloxi.example.com>;tag=8321234356\r\n"
        b"t: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
        b"i: 3848276298220188511@atlanta.example.com\r\n"
        b"CSeq: 1 BYE\r\n"
        b"m: <sip:bob@192.0.2.4>\r\n"
        b"k: timer\r\n"
        b"l: 0\r\n\r\n"
    )
    bye = parse(compact)
    assert isinstance(bye, Request)
    assert bye.call_id == "3848276298220188511@atlanta.example.com"
    assert bye.from_tag == "8321234356" and bye.to_tag == "9fxced76sl"
    assert bye.headers.get("Contact") == "<sip:bob@192.0.2.4>"
    assert bye.headers.get("Supported") == "timer"
    assert b"\r\nVia: SIP/2.0/UDP" in serialize(bye) and b"\r\nv:" not in serialize(bye)


def test_list_headers_split_on_commas_outside_quotes() -> None:
    headers = Headers([("Via", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"),
                       ("Via", "SIP/2.0/UDP c"),
                       ("Contact", '"Smith, Bob" <sip:bob@x>, <sip:bob@y>'),
                       ("Subject", "hello, world")])
    assert headers.get_all("via") == ["SIP/2.0/UDP a;branch=z9hG4bK1",
                                      "SIP/2.0/UDP b;branch=z9hG4bK2", "SIP/2.0/UDP c"]
    assert headers.get_all("m") == ['"Smith, Bob" <sip:bob@x>', "<sip:bob@y>"]
    assert headers.get_all("Subject") == ["hello, world"]


def test_headers_set_replaces_in_place_and_remove_removes_all() -> None:
    headers = Headers([("To", "a"), ("Via", "1"), ("Via", "2"), ("CSeq", "1 INVITE")])
    headers.set("via", "3")
    assert headers.items() == [("To", "a"), ("Via", "3"), ("CSeq", "1 INVITE")]
    headers.remove("VIA")
    assert headers.get("Via") is None and headers.get_all("Via") == []


@pytest.mark.parametrize("data, message", [
    (b"", "empty message"),
    (b"HELLO\r\n\r\n", "bad request line"),
    (b"SIP/2.0 2000 OK\r\n\r\n", "bad status line"),
    (b"INVITE sip:a@b SIP/2.0\r\nVia SIP/2.0/UDP x\r\n\r\n", "line 2: not a header"),
    (b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP x\r\n\r\n", "missing header"),
    (F1_INVITE.replace(b"CSeq: 1 INVITE", b"CSeq: one INVITE"), "bad CSeq"),
    (F1_INVITE.replace(b"Content-Length: 151", b"Content-Length: x"), "bad Content-Length"),
])
def test_malformed_messages_raise_a_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(SipParseError, match=message):
        parse(data)


def test_serialize_sets_content_length_and_round_trips() -> None:
    invite = parse(F1_INVITE)
    invite.body = b"v=0\r\n"
    again = parse(serialize(invite))
    assert again.headers.get("Content-Length") == "5" and again.body == b"v=0\r\n"
    assert without_length(again) == without_length(invite)
    assert serialize(again) == serialize(invite)


def without_length(message: Request | Response) -> list[tuple[str, str]]:
    return [(n, v) for n, v in message.headers.items() if n != "Content-Length"]


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-.", min_size=1, max_size=12)
_value = st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
                 min_size=1, max_size=30)


@given(method=st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "INFO"]),
       user=_token, host=_token, cseq=st.integers(min_value=0, max_value=2**31 - 1),
       extra=st.lists(st.tuples(st.sampled_from(["X-A", "Subject", "User-Agent", "Route"]),
                                _value), max_size=4),
       body=st.binary(max_size=200))
def test_requests_round_trip(method: str, user: str, host: str, cseq: int,
                             extra: list[tuple[str, str]], body: bytes) -> None:
    headers = Headers([("Via", f"SIP/2.0/UDP {host}:5060;branch={new_branch()}"),
                       ("From", f"<sip:{user}@{host}>;tag={new_tag()}"),
                       ("To", f"<sip:{user}@{host}>"), ("Call-ID", new_call_id(host)),
                       ("CSeq", f"{cseq} {method}"), *extra])
    request = Request(method, f"sip:{user}@{host}", headers, body)
    again = parse(serialize(request))
    assert isinstance(again, Request)
    assert (again.method, again.uri, again.body) == (method, request.uri, body)
    assert without_length(again) == without_length(request)
    assert again.cseq == (cseq, method)


@given(status=st.integers(min_value=100, max_value=699),
       reason=st.text(alphabet="abcdefghijklmnopqrstuvwxyz /", max_size=20).map(str.strip))
def test_responses_round_trip(status: int, reason: str) -> None:
    response = Response(status, reason, Headers([
        ("Via", "SIP/2.0/UDP h;branch=z9hG4bKx"), ("From", "<sip:a@h>;tag=1"),
        ("To", "<sip:b@h>"), ("Call-ID", "c@h"), ("CSeq", "7 INVITE")]))
    again = parse(serialize(response))
    assert isinstance(again, Response)
    assert (again.status, again.reason) == (status, reason)


@pytest.mark.parametrize("text, scheme, user, host, port, transport", [
    ("sip:agent@127.0.0.1:5060", "sip", "agent", "127.0.0.1", 5060, "udp"),
    ("sips:agent@example.org", "sips", "agent", "example.org", None, "tls"),
    ("sip:example.org;transport=TCP;lr", "sip", None, "example.org", None, "tcp"),
    ("sip:bob@[::1]:5070", "sip", "bob", "[::1]", 5070, "udp"),
    ("tel:+15551234567", "tel", "+15551234567", "", None, "udp"),
])
def test_uris_parse_and_print_back(text: str, scheme: str, user: str | None, host: str,
                                   port: int | None, transport: str) -> None:
    uri = SipUri.parse(text)
    assert (uri.scheme, uri.user, uri.host, uri.port) == (scheme, user, host, port)
    assert uri.transport == transport
    assert SipUri.parse(str(uri)) == uri
    assert hash(SipUri.parse(str(uri))) == hash(uri)


def test_uri_params_and_default_addresses() -> None:
    uri = SipUri.parse("sip:example.org;transport=TCP;lr")
    assert uri.params == {"transport": "TCP", "lr": None}
    assert str(uri) == "sip:example.org;transport=TCP;lr"
    assert uri.address == ("example.org", 5060)
    assert SipUri.parse("sips:a@b").address == ("b", 5061)
    assert SipUri.parse("sip:a@[::1]:7000").address == ("::1", 7000)


@pytest.mark.parametrize("text", ["http://x", "sip:", "sip:@host", "sip:a@host:99999",
                                  "sip:a@ho st", "tel:call-me", "agent@host"])
def test_bad_uris_raise(text: str) -> None:
    with pytest.raises(SipError):
        SipUri.parse(text)


def test_name_addr_parse_and_format() -> None:
    assert parse_name_addr('"Bob" <sip:bob@x>;tag=abc') == ("Bob", "sip:bob@x", {"tag": "abc"})
    assert parse_name_addr("Bob Smith <sip:bob@x>") == ("Bob Smith", "sip:bob@x", {})
    assert parse_name_addr("<sip:bob@x;lr>") == (None, "sip:bob@x;lr", {})
    # Without angle brackets, parameters belong to the header, not the URI.
    assert parse_name_addr("sip:bob@x;tag=1") == (None, "sip:bob@x", {"tag": "1"})
    assert parse_name_addr(r'"Say \"hi\"" <sip:a@b>')[0] == 'Say "hi"'
    text = format_name_addr('A "B"', SipUri.parse("sip:a@b"), {"tag": "t"})
    assert text == r'"A \"B\"" <sip:a@b>;tag=t'
    assert parse_name_addr(text) == ('A "B"', "sip:a@b", {"tag": "t"})
    with pytest.raises(SipError):
        parse_name_addr("Bob <sip:bob@x")


def test_identifiers_are_fresh_and_branches_carry_the_magic_cookie() -> None:
    branches = {new_branch() for _ in range(100)}
    assert len(branches) == 100 and all(b.startswith("z9hG4bK") for b in branches)
    assert len({new_tag() for _ in range(100)}) == 100
    assert new_call_id("h.example").endswith("@h.example")


def test_response_copies_the_transaction_headers_and_adds_the_to_tag() -> None:
    invite = parse(F1_INVITE)
    assert isinstance(invite, Request)
    invite.headers.add("Via", "SIP/2.0/UDP proxy.example;branch=z9hG4bK2")
    ringing = response_to(invite, 180, to_tag="8321234356")
    assert ringing.reason == "Ringing"
    assert ringing.headers.get_all("Via") == invite.headers.get_all("Via")
    assert ringing.to_tag == "8321234356" and ringing.from_tag == "9fxced76sl"
    assert (ringing.call_id, ringing.cseq) == (invite.call_id, invite.cseq)
    busy = response_to(ringing_request_with_tag(), 486, to_tag="other")
    assert busy.reason == "Busy Here" and busy.to_tag == "existing"
    ok = response_to(invite, 200, to_tag="t", body=b"v=0\r\n", content_type="application/sdp")
    assert ok.headers.get("Content-Type") == "application/sdp" and ok.body == b"v=0\r\n"
    for status in (100, 183, 401, 404, 407, 408, 481, 487, 488, 500, 503, 603):
        assert response_to(invite, status).reason not in ("", "Unknown")


def ringing_request_with_tag() -> Request:
    invite = parse(F1_INVITE)
    assert isinstance(invite, Request)
    invite.headers.set("To", "Bob <sip:bob@biloxi.example.com>;tag=existing")
    return invite


def test_via_parse() -> None:
    via = Via.parse("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKabc;rport=40000;received=1.2.3.4")
    assert (via.transport, via.host, via.port) == ("UDP", "10.0.0.1", 5062)
    assert via.response_address() == ("1.2.3.4", 40000)
    assert Via.parse("SIP/2.0/UDP host;rport").response_address() == ("host", 5060)
    with pytest.raises(SipParseError):
        Via.parse("HTTP/1.1 host")


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_a_sip_parse_error(data: bytes) -> None:
    try:
        parse(data)
    except SipParseError:
        pass


@given(st.sampled_from(F1_INVITE.split(b"\r\n")), st.binary(max_size=40))
def test_damaged_real_messages_parse_or_raise_a_sip_parse_error(line: bytes,
                                                                 junk: bytes) -> None:
    try:
        parse(F1_INVITE.replace(line, junk, 1))
    except SipParseError:
        pass


_user = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789+-._", min_size=1, max_size=12)
_param_value = st.one_of(st.none(), _token)


@given(scheme=st.sampled_from(["sip", "sips"]), user=st.one_of(st.none(), _user),
       host=st.sampled_from(["example.org", "127.0.0.1", "[::1]", "agent-1.local"]),
       port=st.one_of(st.none(), st.integers(min_value=1, max_value=65535)),
       params=st.dictionaries(st.sampled_from(["transport", "lr", "maddr", "ttl"]),
                              _param_value, max_size=3))
def test_sip_uris_round_trip(scheme: str, user: str | None, host: str, port: int | None,
                             params: dict[str, str | None]) -> None:
    uri = SipUri(scheme, user, host, port, params)
    assert SipUri.parse(str(uri)) == uri


def test_user_parameters_stay_in_the_user_part() -> None:
    uri = SipUri.parse("sip:+15551234567;npdi;rn=+1555@trunk.example:5080;user=phone")
    assert uri.user == "+15551234567;npdi;rn=+1555"
    assert (uri.host, uri.port, uri.params) == ("trunk.example", 5080, {"user": "phone"})
    assert str(uri) == "sip:+15551234567;npdi;rn=+1555@trunk.example:5080;user=phone"
