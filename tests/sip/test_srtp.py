"""SRTP keyed by SDES (RFC 4568): ``a=crypto`` in the offer and the answer, the checks that an
answer fits its offer (and the 488 a call fails with when it does not), and libsrtp protecting
what one side sends so that only the other side's context reads it."""

from __future__ import annotations

import base64

import pytest

from harness.sip.dialog import Answered, Failed, Outgoing
from harness.sip.message import Request, SipUri, parse, response_to, serialize
from harness.sip.rtp import RtpPacket, RtpSender
from harness.sip.sdp import KEY_SALT_BYTES, Crypto, SdpError, answer, check_answer, offer
from harness.sip.srtp import SrtpContext

KEY = bytes(range(KEY_SALT_BYTES))


def test_an_offer_with_a_key_is_srtp_and_its_answer_carries_the_answerers_key() -> None:
    caller = Crypto.generate()
    text = offer("127.0.0.1", 4000, crypto=caller)
    assert "m=audio 4000 RTP/SAVP 0 8 101\r\n" in text
    line = next(line for line in text.splitlines() if line.startswith("a=crypto:"))
    tag, suite, inline = line.removeprefix("a=crypto:").split()
    assert (tag, suite) == ("1", "AES_CM_128_HMAC_SHA1_80")
    assert len(base64.b64decode(inline.removeprefix("inline:"))) == 30
    assert caller.key.hex() not in repr(caller)  # the key stays out of logs

    answer_text, offerer = answer(text, "127.0.0.1", 5000, key=KEY)
    assert offerer.srtp and offerer.crypto == caller  # the key that reads the caller's packets
    assert "m=audio 5000 RTP/SAVP 0 101\r\n" in answer_text
    answered = check_answer(text, answer_text)
    assert answered.srtp and answered.crypto == Crypto(1, "AES_CM_128_HMAC_SHA1_80", KEY)
    assert (answered.port, answered.codec) == (5000, "PCMU")


def test_the_answer_takes_the_first_usable_of_several_crypto_lines() -> None:
    inline = base64.b64encode(KEY).decode()
    text = offer("127.0.0.1", 4000).replace("RTP/AVP", "RTP/SAVP") + (
        f"a=crypto:1 F8_128_HMAC_SHA1_80 inline:{inline}\r\n"
        f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{inline}\r\n")
    answer_text, offerer = answer(text, "127.0.0.1", 5000, key=KEY)
    assert offerer.crypto is not None and offerer.crypto.tag == 2
    assert f"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:{inline}" in answer_text


def test_a_plain_offer_is_answered_plainly_even_with_a_key() -> None:
    answer_text, offerer = answer(offer("127.0.0.1", 4000), "127.0.0.1", 5000, key=KEY)
    assert "RTP/AVP" in answer_text and "a=crypto" not in answer_text
    assert not offerer.srtp and offerer.crypto is None


@pytest.mark.parametrize(("crypto", "says"), [
    ("", "no a=crypto line"),
    ("a=crypto:1 F8_128_HMAC_SHA1_80 inline:" + base64.b64encode(KEY).decode(),
     "suite F8_128_HMAC_SHA1_80 not supported"),
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:c2hvcnQ=", "has 5 bytes, not 30"),
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" + base64.b64encode(KEY).decode() + "|2^20|1:4",
     "MKI"),
    ("a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:***", "not base64"),
])
def test_an_srtp_offer_without_a_usable_key_is_refused_saying_why(crypto: str,
                                                                   says: str) -> None:
    text = offer("127.0.0.1", 4000).replace("RTP/AVP", "RTP/SAVP") + (
        f"{crypto}\r\n" if crypto else "")
    with pytest.raises(SdpError, match=says):
        answer(text, "127.0.0.1", 5000, key=KEY)


def test_an_answerer_without_srtp_refuses_an_srtp_offer() -> None:
    with pytest.raises(SdpError, match="requires SRTP"):
        answer(offer("127.0.0.1", 4000, crypto=Crypto.generate()), "127.0.0.1", 5000)


def test_check_answer_refuses_answers_that_do_not_fit_the_offer() -> None:
    srtp_offer = offer("127.0.0.1", 4000, crypto=Crypto.generate())
    plain_answer, _ = answer(offer("127.0.0.1", 4000), "127.0.0.1", 5000)
    with pytest.raises(SdpError, match="answered with plain RTP"):
        check_answer(srtp_offer, plain_answer)
    srtp_answer, _ = answer(srtp_offer, "127.0.0.1", 5000, key=KEY)
    with pytest.raises(SdpError, match="far end requires SRTP.*sips:"):
        check_answer(offer("127.0.0.1", 4000), srtp_answer)
    with pytest.raises(SdpError, match="no a=crypto line"):
        check_answer(srtp_offer, "\r\n".join(
            line for line in srtp_answer.splitlines() if not line.startswith("a=crypto")))
    with pytest.raises(SdpError, match="crypto tag 7"):
        check_answer(srtp_offer, srtp_answer.replace("a=crypto:1 ", "a=crypto:7 "))


def _answered_call(target: str, transport: str, answer_sdp: str) -> list[object]:
    """A call placed (sans I/O) and answered 200 OK with ``answer_sdp``: its events."""
    crypto = Crypto.generate() if transport == "TLS" else None
    caller = Outgoing(SipUri.parse(target), local=("127.0.0.1", 5062),
                      remote=("127.0.0.1", 5061), sdp_offer=offer("127.0.0.1", 4000,
                                                                  crypto=crypto),
                      transport=transport, now=0.0)
    invite = parse(caller.take()[0][0])
    assert isinstance(invite, Request)
    ok = response_to(invite, 200, to_tag="agent", body=answer_sdp.encode(),
                     content_type="application/sdp")
    ok.headers.add("Contact", "<sips:agent@127.0.0.1:5061>")
    caller.receive(parse(serialize(ok)), 0.1)
    return list(caller.take_events())


def test_a_call_fails_with_488_when_the_far_end_wants_srtp_the_offer_lacked() -> None:
    srtp_answer, _ = answer(offer("127.0.0.1", 4000, crypto=Crypto.generate()), "127.0.0.1",
                            5000, key=KEY)
    events = _answered_call("sip:agent@127.0.0.1", "UDP", srtp_answer)
    assert len(events) == 1 and isinstance(events[0], Failed) and events[0].status == 488
    assert "the far end requires SRTP" in events[0].reason


def test_a_call_fails_with_488_when_its_srtp_offer_gets_no_key() -> None:
    plain_answer, _ = answer(offer("127.0.0.1", 4000), "127.0.0.1", 5000)
    events = _answered_call("sips:agent@127.0.0.1", "TLS", plain_answer)
    assert len(events) == 1 and isinstance(events[0], Failed) and events[0].status == 488
    assert "answered with plain RTP" in events[0].reason


def test_an_srtp_answer_to_an_srtp_offer_is_answered() -> None:
    srtp = offer("127.0.0.1", 4000, crypto=Crypto.generate())
    # the same tag and suite as the offer's own line: what any answer to this offer carries
    srtp_answer = answer(srtp, "127.0.0.1", 5000, key=KEY)[0]
    events = _answered_call("sips:agent@127.0.0.1", "TLS", srtp_answer)
    assert [type(e) for e in events] == [Answered]


def test_a_packet_protected_by_one_side_is_read_by_the_other_and_tampering_is_dropped() -> None:
    caller_key, agent_key = Crypto.generate(), Crypto(1, "AES_CM_128_HMAC_SHA1_80", KEY)
    caller, agent = SrtpContext(caller_key, agent_key), SrtpContext(agent_key, caller_key)
    sender = RtpSender(0, 8000)
    packets = [sender.packet(bytes([n]) * 160, 160) for n in range(3)]
    wire = [caller.protect(p) for p in packets]
    assert all(len(w) == len(p) + 10 for w, p in zip(wire, packets, strict=True))  # 80-bit tag
    assert all(p[12:] not in w for w, p in zip(wire, packets, strict=True))  # encrypted
    assert agent.unprotect(wire[0]) == packets[0]
    tampered = bytearray(wire[1])
    tampered[20] ^= 0x01
    assert agent.unprotect(bytes(tampered)) is None
    assert agent.unprotect(wire[0]) is None  # a replay
    assert agent.dropped == 2
    assert agent.unprotect(wire[2]) == packets[2]
    assert caller.unprotect(wire[2]) is None  # the caller's own key does not read its packets
    back = agent.protect(sender.packet(b"\x7f" * 160, 160))
    assert RtpPacket.parse(caller.unprotect(back) or b"").payload == b"\x7f" * 160
    rtcp = bytes([0x80, 200, 0, 6]) + bytes(24)
    assert agent.unprotect_rtcp(caller.protect_rtcp(rtcp)) == rtcp


