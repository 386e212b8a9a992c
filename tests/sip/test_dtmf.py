"""DTMF: RFC 4733 event payloads and their receiver, in-band tones and their detector."""

from __future__ import annotations

import numpy as np
import pytest

from harness.audio import NOISE_GENERATORS, decode_g711, encode_g711, synthesize
from harness.audio import dtmf_tones as tones
from harness.sip.dtmf import (
    DIGITS,
    DtmfEvent,
    DtmfReceiver,
    block_keys,
    detect,
    event_payloads,
)
from harness.sip.rtp import RtpPacket, RtpSender


def test_event_codes_follow_rfc_4733() -> None:
    assert [DtmfEvent(d, False, 10, 0).pack()[0] for d in "0123456789*#ABCD"] == list(range(16))
    assert DIGITS == "0123456789*#ABCD"


def test_event_pack_and_parse() -> None:
    event = DtmfEvent("#", True, 10, 800)
    assert event.pack() == bytes([11, 0x80 | 10]) + (800).to_bytes(2, "big")
    assert DtmfEvent.parse(event.pack()) == event
    assert DtmfEvent.parse(bytes([5, 63, 0, 160])) == DtmfEvent("5", False, 63, 160)
    # the reserved bit is ignored
    assert DtmfEvent.parse(bytes([1, 0x40 | 7, 1, 0])) == DtmfEvent("1", False, 7, 256)


@pytest.mark.parametrize("payload, message", [
    (b"\x01\x8a", "4 bytes"),
    (bytes([16, 0x80, 0, 160]), "event code 16"),  # flash, not a key
    (bytes([200, 0, 0, 0]), "event code 200"),
])
def test_bad_payloads_raise_value_error(payload: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DtmfEvent.parse(payload)


def test_event_fields_are_checked() -> None:
    with pytest.raises(ValueError, match="not a DTMF key"):
        DtmfEvent("E", False, 10, 0)
    with pytest.raises(ValueError, match="volume"):
        DtmfEvent("1", False, 64, 0)
    with pytest.raises(ValueError, match="duration"):
        DtmfEvent("1", False, 10, 70000)


def test_event_payloads_grow_then_end_three_times() -> None:
    pairs = event_payloads("7", duration_ms=100)
    events = [DtmfEvent.parse(payload) for payload, _ in pairs]
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert [marker for _, marker in pairs] == [True] + [False] * 6
    assert {e.digit for e in events} == {"7"} and {e.volume for e in events} == {10}
    # a press shorter than a packet is its end packet alone, the first copy marked
    short = event_payloads("1", duration_ms=10, volume=20)
    assert [(DtmfEvent.parse(p).duration, m) for p, m in short] == [(80, True), (80, False),
                                                                     (80, False)]
    # at another clock rate the durations count its samples
    assert DtmfEvent.parse(event_payloads("1", duration_ms=50, rate=16000)[-1][0]).duration == 800
    with pytest.raises(ValueError, match="not a DTMF key"):
        event_payloads("x")


def test_receiver_reports_each_press_once_over_rtp() -> None:
    sender = RtpSender(0, ssrc=11)
    receiver = DtmfReceiver()
    got: list[str | None] = []
    t = 0.0
    for digit in "1223#":
        sender.packet(b"\xff" * 160, 160)  # audio between the presses
        for data in sender.event_packets(event_payloads(digit), 101):
            t += 0.020
            got.append(receiver.receive(RtpPacket.parse(data), t))
    assert [g for g in got if g is not None] == list("1223#")
    assert receiver.digits == "1223#"
    assert len(got) == 5 * 7
    # the same key twice is two presses (two timestamps); arrival times are those of the first
    # packet of each press
    assert [round(t, 3) for _, t in receiver.pressed] == [0.02, 0.16, 0.30, 0.44, 0.58]


def test_receiver_reports_a_press_whose_first_packets_were_lost() -> None:
    sender = RtpSender(0)
    packets = [RtpPacket.parse(d) for d in sender.event_packets(event_payloads("9"), 101)]
    receiver = DtmfReceiver()
    assert [receiver.receive(p, 1.0) for p in packets[4:]] == ["9", None, None]
    assert receiver.receive(RtpPacket(101, 1, 2, 3, b"\x20\x00"), 2.0) is None
    assert receiver.malformed == 1 and receiver.digits == "9"


def test_tones_have_the_keys_frequencies_and_level() -> None:
    rate = 8000
    clip = tones("5", rate, on_ms=200, off_ms=0, level_dbfs=-10)
    assert clip.dtype == np.int16 and clip.size == 1600
    spectrum = np.abs(np.fft.rfft(clip.astype(float)))
    freqs = np.fft.rfftfreq(clip.size, 1 / rate)
    top = sorted(freqs[np.argsort(spectrum)[-2:]])
    assert top == pytest.approx([770, 1336], abs=5)
    peak = np.max(np.abs(clip[100:-100])) / 32767
    assert 2 * 10 ** (-10 / 20) * 0.95 < peak <= 2 * 10 ** (-10 / 20)
    gaps = tones("12", rate, on_ms=100, off_ms=80)
    assert gaps.size == 800 + 640 + 800 and not gaps[800:1440].any()
    with pytest.raises(ValueError, match="not a DTMF key"):
        tones("1x", rate)


@pytest.mark.parametrize("rate", [8000, 16000, 24000])
def test_detect_finds_every_key(rate: int) -> None:
    keys = "0123456789*#ABCD" + "1133"
    assert detect(tones(keys, rate), rate) == keys


@pytest.mark.parametrize("snr_db", [20, 10, 6])
def test_detect_in_white_noise(snr_db: float) -> None:
    rate = 8000
    keys = "4815162342#"
    clip = tones(keys, rate, level_dbfs=-16).astype(float)
    rng = np.random.default_rng(int(snr_db))
    power = np.mean(clip[clip != 0] ** 2)
    noisy = clip + rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), clip.size)
    assert detect(np.rint(noisy).astype(np.int16), rate) == keys


def test_detect_through_g711_and_at_the_shortest_timing() -> None:
    """Q.24's shortest press (40 ms) and pause (40 ms), coded as a phone line would."""
    keys = "90210*"
    clip = decode_g711(encode_g711(tones(keys, 24000, on_ms=45, off_ms=40), "ulaw"), "ulaw")
    assert detect(clip, 8000) == keys


def test_detect_refuses_what_is_not_a_key() -> None:
    rate = 8000
    t = np.arange(rate) / rate
    single = np.rint(8000 * np.sin(2 * np.pi * 770 * t)).astype(np.int16)  # one tone only
    assert detect(single, rate) == ""
    # a row and column with 12 dB of twist, beyond what a phone may send
    twisted = np.rint(8000 * np.sin(2 * np.pi * 770 * t)
                      + 2000 * np.sin(2 * np.pi * 1336 * t)).astype(np.int16)
    assert detect(twisted, rate) == ""
    # a key with its second harmonics (a voice-like buzz) is not a key
    buzz = sum(np.sin(2 * np.pi * h * f * t) / h for f in (770, 1336) for h in (1, 2))
    assert detect(np.rint(6000 * buzz).astype(np.int16), rate) == ""
    assert detect(np.zeros(rate, np.int16), rate) == ""
    assert detect(np.zeros(50, np.int16), rate) == ""
    assert block_keys(tones("5", rate, level_dbfs=-60), rate) == [None] * 9  # too faint


SENTENCES = [
    "Hi, I need to cancel an order.",
    "It's eight, three, five, two, one. One one three three, nine nine.",
    "My account number is four seven seven two, and my pin is zero zero zero.",
    "Beep boop. Press one for sales, two for support, star to repeat, pound to finish.",
    "Mmmmm. Hmmmm. Oooooh. Eeeeee. Aaaaah.",
]


@pytest.mark.parametrize("voice", ["en-us", "en-gb", "en-us+f3"])
def test_speech_gives_no_key(voice: str) -> None:
    speech = np.concatenate([synthesize(s, voice=voice) for s in SENTENCES])
    assert detect(speech, 24000) == ""
    coded = decode_g711(encode_g711(speech, "alaw"), "alaw")
    assert detect(coded, 8000) == ""


@pytest.mark.parametrize("name", sorted(NOISE_GENERATORS))
def test_noise_beds_give_no_key_and_do_not_hide_keys(name: str) -> None:
    """Each bed (hold music, television, babble, coloured noise) alone gives no key; keys
    pressed over it at 10 dB above it are all found."""
    rate = 24000
    bed = np.asarray(NOISE_GENERATORS[name](3), dtype=float)[:rate * 8]
    assert detect(np.rint(bed).astype(np.int16), rate) == "", name
    keys = "159#7"
    clip = tones(keys, rate, level_dbfs=-16).astype(float)
    on = clip != 0
    gain = np.sqrt(np.mean(clip[on] ** 2) / np.mean(bed**2) / 10)
    mixed = clip + gain * bed[:clip.size]
    assert detect(np.rint(mixed).astype(np.int16), rate) == keys, name
