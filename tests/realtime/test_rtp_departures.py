"""When a caller frame left on the wire (:class:`harness.realtime.rtp.Departures`): the packet
carrying its last sample is found by RTP timestamp, the time the frame took from the track to the
socket is added to when it was handed over, and frames whose packet never left are returned."""

from __future__ import annotations

from harness.realtime.rtp import Departures

MS = 1_000_000


def _rtp(ts: int) -> bytes:
    """A minimal RTP header with timestamp ``ts`` (only the timestamp is read)."""
    return bytes([0x80, 111, 0, 1]) + ts.to_bytes(4, "big") + bytes(4)


def test_a_frame_is_sent_when_the_packet_holding_its_last_sample_leaves() -> None:
    log = Departures()
    origin = 0xFFFFFF00  # the timestamp wraps within the call
    got: list[tuple[int, int]] = []
    frames = [log.frame(960, k * 20 * MS) for k in range(3)]
    for index in frames:
        log.when_sent(index, lambda ns, index=index: got.append((index, ns)))
    log.packet(_rtp(origin), 3 * MS)
    log.packet(_rtp((origin + 960) & 0xFFFFFFFF), 24 * MS)
    assert got == [(0, 3 * MS), (1, 24 * MS)]
    log.packet(_rtp((origin + 960) & 0xFFFFFFFF), 90 * MS)  # a retransmission: not a departure
    assert got == [(0, 3 * MS), (1, 24 * MS)]
    assert [index for index, _ in log.pending()] == [2]
    assert log.pending() == []


def test_a_frame_of_two_packets_is_sent_with_its_second() -> None:
    log = Departures()
    log.frame(960, 0)
    index = log.frame(1920, 20 * MS)  # 40 ms: packets 1 and 2
    got: list[int] = []
    log.packet(_rtp(1000), 1 * MS)
    log.packet(_rtp(1960), 21 * MS)
    log.when_sent(index, got.append)
    assert got == []
    log.packet(_rtp(2920), 22 * MS)
    assert got == [22 * MS]


def test_a_frame_held_by_network_conditions_counts_only_its_own_time_to_the_wire() -> None:
    log = Departures()
    index = log.frame(960, 100 * MS)
    log.pushed(index, 200 * MS)  # 100 ms on the impaired line before the encoder
    got: list[int] = []
    log.when_sent(index, got.append)
    log.packet(_rtp(5), 203 * MS)
    assert got == [103 * MS]
