"""RTP for SIP calls (an RFC 3550 subset, no I/O): packets, a sender, G.711 payloads both ways.

- :class:`RtpPacket` packs and parses the fixed header; CSRCs, a header extension and padding of
  received packets are skipped (RFC 3550 §5.1, §5.3.1); malformed data raises :class:`RtpError`.
- :class:`RtpSender` numbers one outgoing stream: sequence +1 and timestamp +samples per packet,
  both wrapping, from random initial values (§5.1); telephone events (RFC 4733) share its
  sequence numbers (:meth:`RtpSender.event_packets`).
- :class:`G711Packetizer` turns PCM16 at any rate into exact 20 ms G.711 payloads;
  :class:`G711Depacketizer` decodes received packets in order, holding the timeline through
  losses (silence in their place) and counting what was lost, late or duplicated, with the
  interarrival jitter of RFC 3550 A.8.

Resampling between the call's rate and 8 kHz is done here, not by the codec's resampler: a
streaming soxr resampler releases its output in bursts of about 60 ms, which would make the
packets of a paced stream late and stamp received audio up to 60 ms off its arrival. For a rate
that is a whole multiple of 8 kHz (24, 16, 48 kHz) an anti-aliasing FIR filter with kept state
(``scipy.signal.lfilter``) turns each chunk into its 8 kHz samples at once, delayed by a fixed
:data:`FIR_DELAY_MS` (a real phone's codec delays audio too; it counts against the far end).
Other rates go through the codec's soxr resampler.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import signal

from harness.audio import G711_RATE, G711Decoder, G711Encoder, law_of

FRAME_MS = 20
"""Audio per packet (the ``ptime`` of every SIP call here)."""
RTP_VERSION = 2
HEADER_BYTES = 12
SEQUENCE_MOD = 1 << 16
TIMESTAMP_MOD = 1 << 32
MAX_DROPOUT = 3000
"""A sequence jump larger than this many packets is a restart of the stream, not a loss
(RFC 3550 A.1): nothing is filled for it."""
MAX_FILL_S = 10.0
"""The longest gap of a stream's timestamps filled with silence; a larger jump is a restart."""
FIR_DELAY_MS = 2.0
"""Group delay of the resampling filters for rates that are whole multiples of 8 kHz."""
SILENCE_BYTE = {"ulaw": 0xFF, "alaw": 0xD5}
"""The G.711 code of a zero sample for each law."""
_CUTOFF_HZ = 3600.0


class RtpError(ValueError):
    """Data that is not a well-formed RTP packet."""


@dataclass(frozen=True)
class RtpPacket:
    """One RTP packet: the fixed header's fields and the payload (CSRCs, extension and padding
    are dropped on parsing and never written)."""

    payload_type: int
    sequence: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False

    def __post_init__(self) -> None:
        for name, value, limit in (("payload_type", self.payload_type, 128),
                                   ("sequence", self.sequence, SEQUENCE_MOD),
                                   ("timestamp", self.timestamp, TIMESTAMP_MOD),
                                   ("ssrc", self.ssrc, TIMESTAMP_MOD)):
            if not 0 <= value < limit:
                raise RtpError(f"{name} {value} is out of range [0, {limit})")

    def pack(self) -> bytes:
        """The packet as sent: a 12-byte header (version 2, no CSRC, extension or padding)."""
        second = (0x80 if self.marker else 0) | self.payload_type
        return struct.pack("!BBHII", RTP_VERSION << 6, second, self.sequence, self.timestamp,
                           self.ssrc) + self.payload

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """A received packet; raises :class:`RtpError` when ``data`` is not one."""
        if len(data) < HEADER_BYTES:
            raise RtpError(f"{len(data)} bytes is shorter than an RTP header ({HEADER_BYTES})")
        first, second, sequence, timestamp, ssrc = struct.unpack_from("!BBHII", data)
        if first >> 6 != RTP_VERSION:
            raise RtpError(f"RTP version {first >> 6}, expected {RTP_VERSION}")
        if is_rtcp(data):
            raise RtpError(f"an RTCP packet (type {second}), not RTP")
        start = HEADER_BYTES + 4 * (first & 0x0F)
        if first & 0x10:  # header extension: 16-bit profile, 16-bit length in 32-bit words
            if len(data) < start + 4:
                raise RtpError("the header extension is cut short")
            (words,) = struct.unpack_from("!H", data, start + 2)
            start += 4 + 4 * words
        end = len(data)
        if first & 0x20:  # padding: the last byte counts the padding bytes, itself included
            if end <= start or not 0 < data[-1] <= end - start:
                raise RtpError("the padding count does not fit the packet")
            end -= data[-1]
        if start > end:
            raise RtpError("the CSRC list or header extension runs past the packet's end")
        return cls(second & 0x7F, sequence, timestamp, ssrc, bytes(data[start:end]),
                   bool(second & 0x80))


def is_rtcp(data: bytes) -> bool:
    """Whether a datagram on a shared RTP/RTCP port is RTCP (RFC 5761 §4: types 192–223)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


class RtpSender:
    """Numbers the packets of one outgoing stream (one SSRC)."""

    def __init__(self, payload_type: int, clock_rate: int = 8000, ssrc: int | None = None) -> None:
        self.payload_type = payload_type
        self.clock_rate = clock_rate
        self.ssrc = secrets.randbits(32) if ssrc is None else ssrc
        self.sequence = secrets.randbelow(SEQUENCE_MOD)
        """The sequence number of the next packet."""
        self.timestamp = secrets.randbits(32)
        """The timestamp of the next packet (the first sample it will carry)."""
        self.packets_sent = 0
        self.octets_sent = 0
        """Payload bytes sent (for an RTCP sender report)."""

    @property
    def frame_samples(self) -> int:
        """Samples of one 20 ms packet at this stream's clock rate."""
        return self.clock_rate * FRAME_MS // 1000

    def packet(self, payload: bytes, samples: int, *, marker: bool = False) -> bytes:
        """The next packet of the stream, carrying ``samples`` samples of media."""
        data = self._pack(self.payload_type, self.timestamp, payload, marker)
        self.timestamp = (self.timestamp + samples) % TIMESTAMP_MOD
        return data

    def event_packets(self, payloads: Sequence[tuple[bytes, bool]], payload_type: int,
                      ) -> list[bytes]:
        """The packets of one telephone event (RFC 4733), from its ``(payload, marker)`` pairs
        (:func:`harness.sip.dtmf.event_payloads`), on the ``telephone-event`` payload type.

        Each takes the stream's next sequence number and all carry the timestamp of the event's
        start (the stream's current one). Send the k-th packet k·20 ms after the start, in place
        of the audio of that slot; the copies of the end packet may go together. Afterwards the
        stream's timestamp has moved on by the event's duration (the end payload's duration
        field, RFC 4733 §2.3.5) rounded up to whole 20 ms packets, so the audio that follows
        continues the timeline.
        """
        if not payloads:
            return []
        start = self.timestamp
        packets = [self._pack(payload_type, start, payload, marker)
                   for payload, marker in payloads]
        (duration,) = struct.unpack_from("!H", payloads[-1][0], 2)
        frames = -(-duration // self.frame_samples)
        self.timestamp = (start + frames * self.frame_samples) % TIMESTAMP_MOD
        return packets

    def _pack(self, payload_type: int, timestamp: int, payload: bytes, marker: bool) -> bytes:
        data = RtpPacket(payload_type, self.sequence, timestamp, self.ssrc, payload,
                         marker).pack()
        self.sequence = (self.sequence + 1) % SEQUENCE_MOD
        self.packets_sent += 1
        self.octets_sent += len(payload)
        return data


class _FirResampler:
    """Streaming resampling between a rate and 8 kHz by a whole factor, with kept filter state.

    Down: anti-aliasing low-pass, then every ``factor``-th sample. Up: zeros between samples,
    then the same low-pass (times ``factor``). Linear phase, :data:`FIR_DELAY_MS` of delay.
    """

    def __init__(self, rate: int, factor: int, down: bool) -> None:
        taps = 2 * round(rate * FIR_DELAY_MS / 1000) + 1
        self._taps = signal.firwin(taps, _CUTOFF_HZ, window=("kaiser", 8.0), fs=rate)
        if not down:
            self._taps = self._taps * factor
        self._state = np.zeros(taps - 1)
        self._factor = factor
        self._down = down
        self._phase = 0  # input samples into the current decimation period

    def __call__(self, samples: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        x = samples.astype(np.float64)
        if not self._down:
            up = np.zeros(x.size * self._factor)
            up[::self._factor] = x
            x = up
        y, self._state = signal.lfilter(self._taps, np.ones(1), x, zi=self._state)
        if self._down:
            first = (-self._phase) % self._factor
            self._phase = (self._phase + x.size) % self._factor
            y = y[first::self._factor]
        out: npt.NDArray[np.int16] = np.clip(np.rint(y), -32768, 32767).astype(np.int16)
        return out


class G711Packetizer:
    """PCM16 at ``input_rate`` → exact 20 ms G.711 payloads (160 bytes), buffering the rest."""

    def __init__(self, law: str, input_rate: int) -> None:
        self.law = law_of(law)
        self.input_rate = input_rate
        whole = input_rate % G711_RATE == 0
        self._fir = (_FirResampler(input_rate, input_rate // G711_RATE, down=True)
                     if whole and input_rate != G711_RATE else None)
        self._encoder = G711Encoder(self.law, G711_RATE if whole else input_rate)
        self._buffer = bytearray()
        self.payload_bytes = G711_RATE * FRAME_MS // 1000

    def frames(self, pcm16: npt.NDArray[np.int16]) -> list[bytes]:
        """The whole payloads that ``pcm16`` completes (none, one or more)."""
        pcm = np.ascontiguousarray(pcm16, dtype=np.int16)
        self._buffer += self._encoder.encode(self._fir(pcm) if self._fir is not None else pcm)
        return self._take()

    def flush(self) -> list[bytes]:
        """The rest at the end of the stream, its last payload padded with silence."""
        self._buffer += self._encoder.flush()
        if self._buffer and len(self._buffer) % self.payload_bytes:
            pad = self.payload_bytes - len(self._buffer) % self.payload_bytes
            self._buffer += bytes([SILENCE_BYTE[self.law]]) * pad
        return self._take()

    def _take(self) -> list[bytes]:
        n = len(self._buffer) // self.payload_bytes * self.payload_bytes
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return [out[i:i + self.payload_bytes] for i in range(0, n, self.payload_bytes)]


class G711Depacketizer:
    """Received G.711 packets of one stream → PCM16 at ``output_rate``, in sequence order.

    A packet after a gap brings silence in place of what is missing first (the timestamp gap,
    or the packet's own length per missing sequence number when the timestamps do not say),
    so the audio keeps the stream's timeline. A duplicate, or a packet older than the last one
    played, is dropped (it would rewrite the past). A new SSRC, or a jump beyond
    :data:`MAX_DROPOUT` packets or :data:`MAX_FILL_S` seconds, restarts the count.
    """

    def __init__(self, law: str, output_rate: int = 24_000) -> None:
        self.law = law_of(law)
        self.output_rate = output_rate
        whole = output_rate % G711_RATE == 0
        self._fir = (_FirResampler(output_rate, output_rate // G711_RATE, down=False)
                     if whole and output_rate != G711_RATE else None)
        self._decoder = G711Decoder(self.law, G711_RATE if whole else output_rate)
        self.received = 0
        """Packets given to :meth:`decode`."""
        self.played = 0
        """Packets decoded into the output."""
        self.lost = 0
        """Sequence numbers skipped over (their time filled with silence)."""
        self.late = 0
        """Packets dropped for arriving after a later one was played."""
        self.duplicates = 0
        """Packets dropped for repeating the last one played."""
        self._ssrc: int | None = None
        self._started = False  # a packet of the current run of sequence numbers was played
        self._last_sequence = 0
        self._next_timestamp = 0
        self._transit: float | None = None
        self._jitter = 0.0  # RFC 3550 A.8, in timestamp units

    @property
    def jitter_ms(self) -> float:
        """Interarrival jitter (RFC 3550 A.8) over the packets given an arrival time."""
        return self._jitter * 1000.0 / G711_RATE

    def decode(self, packet: RtpPacket, arrived_s: float | None = None
               ) -> npt.NDArray[np.int16]:
        """The audio this packet adds to the stream (empty when it is dropped)."""
        self.received += 1
        if packet.ssrc != self._ssrc:
            self._ssrc = packet.ssrc
            self._started = False
            self._transit = None
            self._jitter = 0.0
        if arrived_s is not None:
            self._update_jitter(packet, arrived_s)
        if self._started:
            step = (packet.sequence - self._last_sequence) % SEQUENCE_MOD
            if step == 0:
                self.duplicates += 1
                return np.zeros(0, np.int16)
            if step >= SEQUENCE_MOD // 2:
                self.late += 1
                return np.zeros(0, np.int16)
            gap = (packet.timestamp - self._next_timestamp) % TIMESTAMP_MOD
            if step > MAX_DROPOUT or (gap < TIMESTAMP_MOD // 2 and gap > MAX_FILL_S * G711_RATE):
                return self._play(packet, b"")
            self.lost += step - 1
            if not 0 < gap < TIMESTAMP_MOD // 2:
                gap = (step - 1) * len(packet.payload)
            return self._play(packet, bytes([SILENCE_BYTE[self.law]]) * gap)
        return self._play(packet, b"")

    def skip(self, packet: RtpPacket) -> None:
        """A packet of this stream that carries no audio (a telephone event, RFC 4733): its
        sequence number is taken, so it counts as no loss; the audio after it is placed by its
        timestamp as usual."""
        if packet.ssrc == self._ssrc and self._started:
            step = (packet.sequence - self._last_sequence) % SEQUENCE_MOD
            if 0 < step <= MAX_DROPOUT:
                self.lost += step - 1
                self._last_sequence = packet.sequence

    def flush(self) -> npt.NDArray[np.int16]:
        """What the resampler still holds at the end of the stream."""
        return self._resample(self._decoder.flush())

    def _play(self, packet: RtpPacket, fill: bytes) -> npt.NDArray[np.int16]:
        self.played += 1
        self._started = True
        self._last_sequence = packet.sequence
        self._next_timestamp = (packet.timestamp + len(packet.payload)) % TIMESTAMP_MOD
        return self._resample(self._decoder.decode(fill + packet.payload))

    def _resample(self, pcm: npt.NDArray[np.int16]) -> npt.NDArray[np.int16]:
        return self._fir(pcm) if self._fir is not None and pcm.size else pcm

    def _update_jitter(self, packet: RtpPacket, arrived_s: float) -> None:
        # Transit in timestamp units; the timestamp's wrap must not look like a jump.
        transit = arrived_s * G711_RATE - packet.timestamp
        if self._transit is not None:
            d = transit - self._transit
            d = (d + TIMESTAMP_MOD / 2) % TIMESTAMP_MOD - TIMESTAMP_MOD / 2
            self._jitter += (abs(d) - self._jitter) / 16.0
        self._transit = transit
