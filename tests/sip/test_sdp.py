"""SDP offer/answer for G.711 calls with telephone-event, against descriptions written the way
RFC 3665 and common phones write them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.sip.sdp import DTMF_PAYLOAD_TYPE, PCMA, PCMU, Media, SdpError, answer, offer, parse

# RFC 3665 §3.1 F1: Alice offers PCMU only, with a session-level connection line.
ALICE = (
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
)

# A phone offering A-law first, then G.722 and µ-law, DTMF as payload type 96, a media-level
# connection line that overrides the session's, and sendonly (a hold).
PHONE = (
    "v=0\n"
    "o=- 1 1 IN IP4 10.0.0.9\n"
    "s=call\n"
    "c=IN IP4 10.0.0.9\n"
    "t=0 0\n"
    "m=audio 30000 RTP/AVP 8 9 0 96\n"
    "c=IN IP4 10.0.0.10\n"
    "a=rtpmap:9 G722/8000\n"
    "a=rtpmap:96 telephone-event/8000\n"
    "a=fmtp:96 0-15\n"
    "a=ptime:30\n"
    "a=sendonly\n"
)


def test_offer_lists_both_g711_codecs_and_telephone_event() -> None:
    text = offer("192.0.2.5", 40000, session_id=7)
    lines = text.split("\r\n")
    assert text.endswith("\r\n")
    assert "m=audio 40000 RTP/AVP 0 8 101" in lines
    assert "c=IN IP4 192.0.2.5" in lines and "o=harness 7 7 IN IP4 192.0.2.5" in lines
    assert {"a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000",
            "a=rtpmap:101 telephone-event/8000", "a=fmtp:101 0-16"} <= set(lines)
    assert parse(text) == Media("192.0.2.5", 40000, "PCMU", PCMU, 8000, DTMF_PAYLOAD_TYPE)


def test_offer_order_and_options() -> None:
    text = offer("::1", 4000, codecs=("PCMA",), dtmf=False)
    assert "m=audio 4000 RTP/AVP 8" in text and "telephone-event" not in text
    assert "c=IN IP6 ::1" in text
    media = parse(text)
    assert (media.codec, media.payload_type, media.dtmf_payload_type) == ("PCMA", PCMA, None)
    with pytest.raises(SdpError, match="cannot offer"):
        offer("127.0.0.1", 4000, codecs=("G729",))


def test_answer_to_rfc3665_offer_picks_pcmu_without_dtmf() -> None:
    text, remote = answer(ALICE, "192.0.2.201", 3456)
    assert remote == Media("192.0.2.101", 49172, "PCMU", 0, 8000, None)
    assert "m=audio 3456 RTP/AVP 0\r\n" in text and "telephone-event" not in text
    assert parse(text) == Media("192.0.2.201", 3456, "PCMU", 0, 8000, None)


def test_answer_follows_the_offer_order_and_echoes_its_dtmf_payload_type() -> None:
    text, remote = answer(PHONE, "127.0.0.1", 5004)
    assert remote.codec == "PCMA" and remote.payload_type == PCMA
    assert remote.address == "10.0.0.10" and remote.port == 30000
    assert remote.dtmf_payload_type == 96 and remote.ptime_ms == 30
    assert remote.direction == "sendonly"
    mine = parse(text)
    assert (mine.codec, mine.dtmf_payload_type, mine.ptime_ms) == ("PCMA", 96, 30)
    assert mine.direction == "recvonly"
    assert "a=rtpmap:96 telephone-event/8000" in text


def test_answer_honours_our_codec_list() -> None:
    _, remote = answer(PHONE, "127.0.0.1", 5004, codecs=("PCMU",))
    assert (remote.codec, remote.payload_type) == ("PCMU", PCMU)


def test_answer_refuses_srtp_and_offers_without_a_common_codec() -> None:
    srtp = ALICE.replace("RTP/AVP", "RTP/SAVP") + (
        "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n")
    with pytest.raises(SdpError, match="SRTP"):
        answer(srtp, "127.0.0.1", 5004)
    g722 = ALICE.replace("RTP/AVP 0", "RTP/AVP 9").replace("0 PCMU", "9 G722")
    with pytest.raises(SdpError, match="no common codec"):
        answer(g722, "127.0.0.1", 5004)
    with pytest.raises(SdpError, match="port 0"):
        answer(ALICE.replace("audio 49172", "audio 0"), "127.0.0.1", 5004)


def test_dynamic_payload_types_are_read_from_rtpmap() -> None:
    dynamic = ALICE.replace("RTP/AVP 0", "RTP/AVP 97").replace("rtpmap:0 PCMU", "rtpmap:97 pcmu")
    _, remote = answer(dynamic, "127.0.0.1", 5004)
    assert (remote.codec, remote.payload_type) == ("PCMU", 97)


def test_parse_of_an_answer_takes_its_first_codec_and_srtp_flag() -> None:
    answer_text = ("v=0\r\no=- 2 2 IN IP4 h\r\ns=-\r\nt=0 0\r\n"
                   "m=audio 7000 RTP/SAVP 101 8\r\nc=IN IP4 10.1.1.1\r\n"
                   "a=rtpmap:101 telephone-event/8000\r\na=inactive\r\n")
    media = parse(answer_text)
    assert (media.address, media.port, media.codec, media.dtmf_payload_type) == (
        "10.1.1.1", 7000, "PCMA", 101)
    assert media.srtp and media.direction == "inactive"


def test_only_the_first_audio_stream_counts() -> None:
    two = ("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
           "m=video 6000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=sendonly\r\n"
           "m=audio 6002 RTP/AVP 8\r\n"
           "m=audio 6004 RTP/AVP 0\r\n")
    media = parse(two)
    assert (media.port, media.codec, media.direction) == (6002, "PCMA", "sendrecv")


@pytest.mark.parametrize("text, message", [
    ("", "first line must be 'v=0'"),
    ("v=0\r\nthis is not sdp\r\n", "line 2: expected 'x=value'"),
    ("v=0\r\nc=IN IP4 1.2.3.4\r\nm=video 1 RTP/AVP 96\r\n", "no audio stream"),
    ("v=0\r\nm=audio 49172 RTP/AVP 0\r\n", "no connection address"),
    ("v=0\r\nc=IN IP4 h\r\nm=audio x RTP/AVP 0\r\n", "bad media line"),
    ("v=0\r\nc=IN IP4 h\r\nm=audio 70000 RTP/AVP 0\r\n", "out of range"),
    ("v=0\r\nc=INET h\r\nm=audio 1 RTP/AVP 0\r\n", "bad connection line"),
    ("v=0\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\na=rtpmap:0 PCMU\r\n", "bad rtpmap"),
    ("v=0\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 0\r\na=ptime:x\r\n", "bad ptime"),
    ("v=0\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 101\r\n"
     "a=rtpmap:101 telephone-event/8000\r\n", "names no codec"),
    ("v=0\r\nc=IN IP4 h\r\nm=audio 1 RTP/AVP 9\r\n", "unsupported codec G722"),
])
def test_malformed_descriptions_raise_sdp_errors(text: str, message: str) -> None:
    with pytest.raises(SdpError, match=message):
        parse(text)


@given(st.sampled_from(PHONE.split("\n")[:-1]), st.text(max_size=40))
def test_damaged_descriptions_parse_or_raise_an_sdp_error(line: str, junk: str) -> None:
    try:
        parse(PHONE.replace(line, junk, 1))
        answer(PHONE.replace(line, junk, 1), "127.0.0.1", 5004)
    except SdpError:
        pass


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_an_sdp_error(text: str) -> None:
    try:
        parse("v=0\n" + text)
    except SdpError:
        pass
