"""SIP on a stream (TLS): the framer cuts a connection's bytes into whole messages by their
Content-Length, wherever the bytes were split, skips keep-alive CRLFs, and refuses a message
whose end it cannot find."""

from __future__ import annotations

import pytest

from harness.sip.message import Request, SipParseError, parse
from harness.sip.stream import StreamFramer

BODY = b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"


def _invite(call_id: str, body: bytes = BODY, length: bool = True) -> bytes:
    head = (f"INVITE sips:agent@127.0.0.1:5061 SIP/2.0\r\n"
            f"Via: SIP/2.0/TLS 127.0.0.1:40000;branch=z9hG4bK{call_id}\r\n"
            f"From: <sips:harness@127.0.0.1>;tag=a\r\nTo: <sips:agent@127.0.0.1>\r\n"
            f"Call-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n")
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


def test_a_message_split_across_chunks_comes_out_whole_once_its_body_is_in() -> None:
    data = _invite("one")
    for size in (1, 7, 64, len(data) - 1):
        framer = StreamFramer()
        out: list[bytes] = []
        for i in range(0, len(data), size):
            out += framer.feed(data[i:i + size])
            if i + size < len(data):
                assert out == []  # nothing before the last byte of the body
        assert out == [data] and framer.pending == 0
        message = parse(out[0])
        assert isinstance(message, Request) and message.body == BODY


def test_two_messages_in_one_chunk_and_a_third_begun() -> None:
    first, second, third = _invite("one"), _invite("two", b""), _invite("three")
    framer = StreamFramer()
    assert framer.feed(first + second + third[:30]) == [first, second]
    assert framer.pending == 30
    assert framer.feed(third[30:]) == [third]
    assert [parse(m).call_id for m in (first, second, third)] == ["one", "two", "three"]


def test_keep_alive_crlfs_between_messages_are_skipped() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n\r\n") == []
    assert framer.feed(b"\r\n" + _invite("one") + b"\r\n\r\n") == [_invite("one")]
    assert framer.pending == 0


def test_the_compact_form_of_content_length_counts() -> None:
    data = _invite("one").replace(b"Content-Length:", b"l:")
    assert StreamFramer().feed(data + data) == [data, data]


def test_a_message_without_content_length_is_refused_with_a_reason() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="INVITE sips:agent.* has no Content-Length"):
        framer.feed(_invite("one", length=False))


@pytest.mark.parametrize(("value", "says"), [(b"ten", "bad Content-Length"),
                                             (b"99999999", "larger than")])
def test_a_bad_content_length_is_refused(value: bytes, says: str) -> None:
    data = _invite("one", b"").replace(b"Content-Length: 0", b"Content-Length: " + value)
    with pytest.raises(SipParseError, match=says):
        StreamFramer().feed(data)


def test_a_head_that_never_ends_is_refused() -> None:
    framer = StreamFramer()
    with pytest.raises(SipParseError, match="no end of the message head"):
        framer.feed(b"INVITE sips:a@b SIP/2.0\r\n" + b"X-Filler: y\r\n" * 6000)
