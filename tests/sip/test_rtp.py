"""RTP packets, the sender's numbering, and G.711 payloads both ways (no sockets)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.audio import decode_g711, encode_g711, synthesize
from harness.sip.rtp import (
    FIR_DELAY_MS,
    FRAME_MS,
    G711Depacketizer,
    G711Packetizer,
    RtpError,
    RtpPacket,
    RtpSender,
    is_rtcp,
)


# Payload types 64-95 are left out: with RTCP on the same port they read as RTCP (RFC 5761 §4).
@given(st.integers(0, 63) | st.integers(96, 127), st.integers(0, 65535), st.integers(0, 2**32 - 1),
       st.integers(0, 2**32 - 1), st.binary(max_size=200), st.booleans())
def test_pack_parse_round_trip(pt: int, seq: int, ts: int, ssrc: int, payload: bytes,
                               marker: bool) -> None:
    packet = RtpPacket(pt, seq, ts, ssrc, payload, marker)
    data = packet.pack()
    assert len(data) == 12 + len(payload)
    assert data[0] == 0x80
    assert RtpPacket.parse(data) == packet


def test_parse_skips_csrcs_extension_and_padding() -> None:
    # version 2, padding, extension, 2 CSRCs; marker, PT 8
    header = struct.pack("!BBHII", 0x80 | 0x20 | 0x10 | 2, 0x80 | 8, 7, 1000, 0xDEADBEEF)
    csrcs = struct.pack("!II", 1, 2)
    extension = struct.pack("!HH", 0xBEDE, 2) + b"\x11" * 8
    payload = b"\xd5" * 160
    padding = b"\x00\x00\x00\x04"
    packet = RtpPacket.parse(header + csrcs + extension + payload + padding)
    assert packet == RtpPacket(8, 7, 1000, 0xDEADBEEF, payload, marker=True)


def test_agrees_with_an_independent_implementation() -> None:
    """aiortc's RTP packets (CSRCs, a header extension, padding) read the same here, and ours
    read the same there."""
    aiortc_rtp = pytest.importorskip("aiortc.rtp")
    parameters = pytest.importorskip("aiortc.rtcrtpparameters")
    extensions = aiortc_rtp.HeaderExtensionsMap()
    mid = parameters.RTCRtpHeaderExtensionParameters(id=1,
                                                     uri="urn:ietf:params:rtp-hdrext:sdes:mid")
    extensions.configure(parameters.RTCRtpParameters(headerExtensions=[mid]))
    theirs = aiortc_rtp.RtpPacket(payload_type=0, marker=1, sequence_number=65535,
                                  timestamp=123456, ssrc=0x1234)
    theirs.csrc, theirs.padding_size, theirs.payload = [7, 8], 3, b"\x01\x02" * 80
    theirs.extensions.mid = "audio0"
    assert RtpPacket.parse(theirs.serialize(extensions)) == RtpPacket(
        0, 65535, 123456, 0x1234, b"\x01\x02" * 80, marker=True)
    ours = aiortc_rtp.RtpPacket.parse(RtpPacket(8, 5, 6, 7, b"\xd5" * 160, True).pack())
    assert (ours.payload_type, ours.sequence_number, ours.timestamp, ours.ssrc, ours.marker,
            ours.payload) == (8, 5, 6, 7, 1, b"\xd5" * 160)


@pytest.mark.parametrize("data, message", [
    (b"\x80\x00\x00", "shorter than an RTP header"),
    (b"\x40" + bytes(11), "version 1"),
    (bytes([0x80 | 0x10]) + bytes(11) + b"\x00\x00", "extension is cut short"),
    (bytes([0x80 | 0x10]) + bytes(11) + b"\x00\x00\x00\x05", "runs past"),
    (bytes([0x80 | 3]) + bytes(11) + bytes(8), "runs past"),
    (bytes([0x80 | 0x20]) + bytes(11) + b"\x01\x09", "padding"),
    (bytes([0x80 | 0x20]) + bytes(11) + b"\x00", "padding"),
    (b"\x80\xc8" + bytes(10), "RTCP"),
])
def test_malformed_data_raises_rtp_error(data: bytes, message: str) -> None:
    with pytest.raises(RtpError, match=message):
        RtpPacket.parse(data)
    assert issubclass(RtpError, ValueError)


def test_fields_out_of_range_are_refused() -> None:
    with pytest.raises(RtpError, match="payload_type"):
        RtpPacket(128, 0, 0, 0, b"")
    with pytest.raises(RtpError, match="sequence"):
        RtpPacket(0, 65536, 0, 0, b"")


def test_rtcp_is_told_from_rtp() -> None:
    assert is_rtcp(b"\x80\xc8" + bytes(26))  # sender report
    assert is_rtcp(b"\x81\xc9" + bytes(30))  # receiver report
    assert not is_rtcp(RtpPacket(0, 1, 2, 3, b"x").pack())
    assert not is_rtcp(RtpPacket(101, 1, 2, 3, b"x", marker=True).pack())


def test_sender_numbers_packets_and_wraps() -> None:
    sender = RtpSender(0, ssrc=42)
    sender.sequence, sender.timestamp = 65534, 2**32 - 200
    packets = [RtpPacket.parse(sender.packet(b"\xff" * 160, 160, marker=i == 0))
               for i in range(4)]
    assert [p.sequence for p in packets] == [65534, 65535, 0, 1]
    assert [p.timestamp for p in packets] == [2**32 - 200, 2**32 - 40, 120, 280]
    assert [p.marker for p in packets] == [True, False, False, False]
    assert {p.ssrc for p in packets} == {42}
    assert sender.packets_sent == 4 and sender.octets_sent == 640


def test_senders_start_at_random_values() -> None:
    starts = {(s.sequence, s.timestamp, s.ssrc) for s in (RtpSender(0) for _ in range(8))}
    assert len(starts) == 8


def _end_payload(duration: int, end: bool = True) -> bytes:
    return bytes([1, 0x80 if end else 0]) + struct.pack("!H", duration)


def test_event_packets_share_the_sequence_and_hold_the_event_start() -> None:
    sender = RtpSender(0, ssrc=9)
    sender.sequence, sender.timestamp = 100, 8000
    audio = RtpPacket.parse(sender.packet(b"\xff" * 160, 160))
    payloads = [(_end_payload(160, False), True), (_end_payload(320, False), False),
                (_end_payload(400), False), (_end_payload(400), False),
                (_end_payload(400), False)]
    events = [RtpPacket.parse(d) for d in sender.event_packets(payloads, 101)]
    after = RtpPacket.parse(sender.packet(b"\xff" * 160, 160))
    assert audio.sequence == 100
    assert [e.sequence for e in events] == [101, 102, 103, 104, 105]
    assert {e.timestamp for e in events} == {8160}
    assert {e.payload_type for e in events} == {101}
    assert [e.marker for e in events] == [True, False, False, False, False]
    # 400 samples (50 ms) take three 20 ms slots: the audio goes on at 8160 + 480
    assert (after.sequence, after.timestamp, after.payload_type) == (106, 8640, 0)
    assert sender.event_packets([], 101) == []


def _tone(rate: int, ms: int, hz: float = 440.0, dbfs: float = -12.0) -> np.ndarray:
    t = np.arange(rate * ms // 1000) / rate
    return np.rint(32767 * 10 ** (dbfs / 20) * np.sin(2 * np.pi * hz * t)).astype(np.int16)


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 48000, 44100])
def test_packetizer_gives_exact_20_ms_payloads(rate: int) -> None:
    packetizer = G711Packetizer("ulaw", rate)
    clip = _tone(rate, 1010)
    chunk = rate * 7 // 1000  # 7 ms chunks: payloads cannot line up with them
    frames = [f for i in range(0, clip.size, chunk) for f in packetizer.frames(clip[i:i + chunk])]
    frames += packetizer.flush()
    assert {len(f) for f in frames} == {160}
    assert len(frames) in (51, 52)  # 1010 ms, the last payload padded (and the filter's tail)


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
def test_packetizer_sends_each_chunk_at_once_with_a_small_fixed_delay(rate: int) -> None:
    """A 20 ms chunk in gives a 20 ms payload out, every time: no resampler burst holds a
    paced stream back; the tone comes out as it went in, shifted by the filter's delay."""
    packetizer = G711Packetizer("alaw", rate)
    clip = np.concatenate([np.zeros(rate // 10, np.int16), _tone(rate, 400, hz=1000)])
    chunk = rate * FRAME_MS // 1000
    per_chunk = [packetizer.frames(clip[i:i + chunk]) for i in range(0, clip.size, chunk)]
    assert [len(frames) for frames in per_chunk] == [1] * len(per_chunk)
    decoded = decode_g711(b"".join(f for frames in per_chunk for f in frames), "alaw")
    onset = np.flatnonzero(np.abs(decoded) > 500)[0]
    assert abs(onset - (800 + FIR_DELAY_MS * 8)) <= 2
    reference = _tone(8000, 400, hz=1000)
    aligned = decoded[onset:onset + 3000].astype(float)
    lag = int(np.argmax(np.correlate(aligned, reference[:3000].astype(float), "full"))) - 2999
    assert abs(lag) <= 2  # the same 1 kHz tone, in phase


def test_packetizer_band_limits_before_decimating() -> None:
    """A 6 kHz tone at 24 kHz must not fold back into the telephone band as 2 kHz."""
    packetizer = G711Packetizer("ulaw", 24000)
    frames = packetizer.frames(_tone(24000, 500, hz=6000, dbfs=-6))
    decoded = decode_g711(b"".join(frames), "ulaw").astype(float)[400:]
    tone = _tone(8000, 500, hz=2000, dbfs=-6).astype(float)[400:]
    leaked = np.sqrt(np.mean(decoded**2)) + 1e-3  # G.711 may round all of it to zero
    assert 20 * np.log10(leaked / np.sqrt(np.mean(tone**2))) < -40


def test_speech_survives_the_round_trip() -> None:
    speech = synthesize("Eight three five two one.")
    packetizer, depacketizer = G711Packetizer("ulaw", 24000), G711Depacketizer("ulaw", 24000)
    sender = RtpSender(0)
    out = []
    for i in range(0, speech.size, 480):
        for payload in packetizer.frames(speech[i:i + 480]):
            out.append(depacketizer.decode(RtpPacket.parse(sender.packet(payload, 160))))
    received = np.concatenate(out).astype(float)
    shift = round(2 * FIR_DELAY_MS * 24)  # both filters' delays at 24 kHz
    sent = speech[:received.size - shift].astype(float)
    back = received[shift:shift + sent.size]
    # G.711 keeps about 35 dB SNR; the band limit to 3.6 kHz costs some of a 24 kHz clip
    snr = 10 * np.log10(np.sum(sent**2) / np.sum((sent - back) ** 2))
    assert snr > 10
    assert depacketizer.played == len(out) and depacketizer.lost == 0


def _packets(n: int, *, start_seq: int = 65530, start_ts: int = 2**32 - 480,
             law: str = "ulaw") -> list[RtpPacket]:
    """n 20 ms packets, each a constant level k so each packet can be told in the output."""
    packets = []
    for k in range(n):
        pcm = np.full(160, 1000 * (k % 30 + 1), np.int16)
        packets.append(RtpPacket(0, (start_seq + k) % 65536, (start_ts + 160 * k) % 2**32, 5,
                                 encode_g711(pcm, law, 8000)))
    return packets


def _levels(pcm: np.ndarray) -> list[int]:
    """Each 20 ms packet's level to the nearest 1000 (G.711 is exact to about 3 %)."""
    return [1000 * round(float(np.median(pcm[i:i + 160])) / 1000) for i in range(0, pcm.size, 160)]


def test_depacketizer_fills_a_loss_and_drops_late_and_duplicate_packets() -> None:
    packets = _packets(8)
    depacketizer = G711Depacketizer("ulaw", output_rate=8000)
    order = [0, 1, 3, 3, 2, 4, 7, 5]  # 2 arrives after 3; 3 twice; 5 and 6 lost before 7
    out = np.concatenate([depacketizer.decode(packets[i]) for i in order])
    assert _levels(out) == [1000, 2000, 0, 4000, 5000, 0, 0, 8000]
    assert (depacketizer.lost, depacketizer.late, depacketizer.duplicates) == (3, 2, 1)
    assert depacketizer.played == 5 and depacketizer.received == 8


def test_depacketizer_fills_by_packet_length_when_timestamps_do_not_say() -> None:
    packets = _packets(4)
    odd = RtpPacket(0, packets[3].sequence, packets[0].timestamp, 5, packets[3].payload)
    depacketizer = G711Depacketizer("ulaw", output_rate=8000)
    out = np.concatenate([depacketizer.decode(p) for p in (packets[0], odd)])
    assert _levels(out) == [1000, 0, 0, 4000]
    assert depacketizer.lost == 2


def test_depacketizer_restarts_on_a_new_ssrc_and_on_a_huge_jump() -> None:
    depacketizer = G711Depacketizer("alaw", output_rate=8000)
    first, second = _packets(2, law="alaw")
    depacketizer.decode(first)
    other = RtpPacket(0, 9, 123, ssrc=77, payload=second.payload)
    assert depacketizer.decode(other).size == 160  # no fill, not late
    jump = RtpPacket(0, 9 + 5000, 123 + 5000 * 160, 77, second.payload)
    assert depacketizer.decode(jump).size == 160
    assert depacketizer.lost == 0 and depacketizer.late == 0


def test_event_packets_between_audio_are_no_loss_and_their_time_is_silence() -> None:
    sender = RtpSender(0, ssrc=3)
    depacketizer = G711Depacketizer("ulaw", output_rate=8000)
    tone = encode_g711(np.full(160, 3000, np.int16), "ulaw", 8000)
    out = [depacketizer.decode(RtpPacket.parse(sender.packet(tone, 160)))]
    payloads = [(_end_payload(160, False), True), (_end_payload(320), False),
                (_end_payload(320), False), (_end_payload(320), False)]
    for data in sender.event_packets(payloads, 101):
        depacketizer.skip(RtpPacket.parse(data))
    out.append(depacketizer.decode(RtpPacket.parse(sender.packet(tone, 160))))
    assert _levels(np.concatenate(out)) == [3000, 0, 0, 3000]
    assert depacketizer.lost == 0


def test_depacketizer_output_rate_and_no_burst() -> None:
    depacketizer = G711Depacketizer("ulaw")  # 24 kHz
    sizes = [depacketizer.decode(p).size for p in _packets(10)]
    assert sizes == [480] * 10


def test_jitter_follows_rfc_3550() -> None:
    packets = _packets(200, start_seq=0, start_ts=1000)
    steady = G711Depacketizer("ulaw")
    for k, p in enumerate(packets):
        steady.decode(p, arrived_s=5.0 + 0.020 * k)
    assert steady.jitter_ms < 1e-6
    # arrivals alternately 0 and 10 ms late: |D| = 10 ms each time, J converges to 10 ms
    shaky = G711Depacketizer("ulaw")
    for k, p in enumerate(packets):
        shaky.decode(p, arrived_s=5.0 + 0.020 * k + (0.010 if k % 2 else 0.0))
    assert shaky.jitter_ms == pytest.approx(10.0, abs=0.01)
    # the estimator's 1/16 gain: after one 10 ms deviation J = 10/16 ms
    one = G711Depacketizer("ulaw")
    one.decode(packets[0], 1.0)
    one.decode(packets[1], 1.030)
    assert one.jitter_ms == pytest.approx(10.0 / 16)


def test_jitter_is_unaffected_by_the_timestamp_wrapping() -> None:
    packets = _packets(50, start_ts=2**32 - 160 * 25)
    depacketizer = G711Depacketizer("ulaw")
    for k, p in enumerate(packets):
        depacketizer.decode(p, arrived_s=0.020 * k)
    assert depacketizer.jitter_ms < 1e-6
