"""DTMF both ways: RFC 4733 telephone events over RTP, and in-band tones (ITU-T Q.23) with a
Goertzel detector for targets that have no event channel.

Events: :func:`event_payloads` gives a key press as the packets a phone sends (an update every
20 ms with the duration so far, then the end packet three times, RFC 4733 §2.5.1); the sender
numbers them (:meth:`harness.sip.rtp.RtpSender.event_packets`). :class:`DtmfReceiver` turns
received event packets back into key presses, once per event.

Tones: :func:`harness.audio.dtmf_tones` writes the row and column frequencies of each key;
:func:`detect` finds them in 20 ms blocks by the Goertzel algorithm, accepting a block only when
the two strongest tones hold most of its energy, stand clear of their neighbours, are within
the twist limits of each other and carry no second harmonic (which a voice has), and a key only
when it lasts two blocks: speech and music give no key.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from harness.audio import resample
from harness.audio._dtmf import COLUMNS, DIGITS, KEYPAD, ROWS
from harness.sip.rtp import FRAME_MS, RtpPacket

"""The keys, in the order of their RFC 4733 event codes (0-9, * = 10, # = 11, A-D = 12-15)."""
END_COPIES = 3
"""How many times the end packet of an event is sent (RFC 4733 §2.5.1.4)."""
MAX_VOLUME = 63
"""Row by row: the key at (row frequency, column frequency)."""
DETECT_RATE = 8000
"""Tones are looked for at 8 kHz (other rates are resampled first)."""

# The detector's thresholds (at 20 ms blocks of 8 kHz audio):
_MIN_LEVEL_DBFS = -45.0  # a block quieter than this holds no key
_MIN_TONE_SHARE = 0.6  # the two tones hold this share of the block's energy
_NEIGHBOUR_RATIO = 4.0  # each tone over every other of its group (6 dB)
_MAX_TWIST_DB = 8.0  # column over row ("normal twist")
_MAX_REVERSE_TWIST_DB = 6.0  # row over column
_HARMONIC_RATIO = 0.1  # second harmonic under 10 dB below its tone
_MIN_BLOCKS = 2  # a key lasts at least two blocks (40 ms, ITU-T Q.24's shortest tone)


@dataclass(frozen=True)
class DtmfEvent:
    """One RFC 4733 event payload: a key, whether the press has ended, its volume (0 to 63:
    minus dBm0) and its duration so far in timestamp units."""

    digit: str
    end: bool
    volume: int
    duration: int

    def __post_init__(self) -> None:
        if len(self.digit) != 1 or self.digit not in DIGITS:
            raise ValueError(f"not a DTMF key: {self.digit!r}; expected one of {DIGITS}")
        if not 0 <= self.volume <= MAX_VOLUME:
            raise ValueError(f"volume {self.volume} is out of range [0, {MAX_VOLUME}]")
        if not 0 <= self.duration <= 0xFFFF:
            raise ValueError(f"duration {self.duration} is out of range [0, 65535]")

    def pack(self) -> bytes:
        """The 4-byte payload: event code, E bit and volume, duration (RFC 4733 §2.3)."""
        return struct.pack("!BBH", DIGITS.index(self.digit),
                           (0x80 if self.end else 0) | self.volume, self.duration)

    @classmethod
    def parse(cls, payload: bytes) -> DtmfEvent:
        """A received payload; ``ValueError`` when it is not a DTMF event."""
        if len(payload) < 4:
            raise ValueError(f"a telephone-event payload has 4 bytes, not {len(payload)}")
        code, flags, duration = struct.unpack_from("!BBH", payload)
        if code >= len(DIGITS):
            raise ValueError(f"event code {code} is not a DTMF key (0-15)")
        return cls(DIGITS[code], bool(flags & 0x80), flags & 0x3F, duration)


def event_payloads(digit: str, *, duration_ms: int = 100, rate: int = 8000, volume: int = 10
                   ) -> list[tuple[bytes, bool]]:
    """A key press as ``(payload, marker)`` pairs: one packet for each 20 ms of the press with
    the duration so far (the marker on the first), the last of them the end packet, which is
    then repeated so that three copies go (RFC 4733 §2.5.1)."""
    if duration_ms <= 0:
        raise ValueError(f"a key press lasts more than 0 ms, not {duration_ms}")
    total = round(duration_ms * rate / 1000)
    step = rate * FRAME_MS // 1000
    durations = list(range(step, total, step)) + [total]
    out = [(DtmfEvent(digit, False, volume, d).pack(), i == 0)
           for i, d in enumerate(durations[:-1])]
    end = DtmfEvent(digit, True, volume, total).pack()
    out += [(end, not out and i == 0) for i in range(END_COPIES)]
    return out


class DtmfReceiver:
    """Key presses from received telephone-event packets, each reported once.

    A press is known by its RTP timestamp (the start of the event, the same in all its
    packets): the first packet of a new timestamp reports the key, the updates and the end's
    copies after it do not. Payloads that are not DTMF events are counted in ``malformed``.
    """

    def __init__(self) -> None:
        self.pressed: list[tuple[str, float]] = []
        """``(key, arrival time)`` of each press, in order."""
        self.malformed = 0
        self._seen: deque[tuple[int, int]] = deque(maxlen=64)  # (ssrc, timestamp) of presses

    def receive(self, packet: RtpPacket, arrived_s: float) -> str | None:
        """The key when ``packet`` starts a press not seen before, else None."""
        try:
            event = DtmfEvent.parse(packet.payload)
        except ValueError:
            self.malformed += 1
            return None
        key = (packet.ssrc, packet.timestamp)
        if key in self._seen:
            return None
        self._seen.append(key)
        self.pressed.append((event.digit, arrived_s))
        return event.digit

    @property
    def digits(self) -> str:
        """The keys pressed so far, as one string."""
        return "".join(digit for digit, _ in self.pressed)


def _goertzel_power(blocks: npt.NDArray[np.float64], frequency: float, rate: int
                    ) -> npt.NDArray[np.float64]:
    """|X(f)|² of each row of ``blocks`` at ``frequency`` (the Goertzel recurrence)."""
    coefficient = 2.0 * np.cos(2.0 * np.pi * frequency / rate)
    s1 = np.zeros(blocks.shape[0])
    s2 = np.zeros(blocks.shape[0])
    for x in blocks.T:
        s1, s2 = x + coefficient * s1 - s2, s1
    power: npt.NDArray[np.float64] = s1 * s1 + s2 * s2 - coefficient * s1 * s2
    return power


def block_keys(pcm16: npt.NDArray[np.int16], rate: int) -> list[str | None]:
    """The key each 20 ms block holds (None for none), 10 ms apart (blocks overlap by half)."""
    samples = np.asarray(pcm16)
    if rate != DETECT_RATE:
        samples = resample(samples, rate, DETECT_RATE)
    x = samples.astype(np.float64) / 32768.0
    n = DETECT_RATE * FRAME_MS // 1000
    hop = n // 2
    if x.size < n:
        return []
    starts = np.arange(0, x.size - n + 1, hop)
    blocks = x[starts[:, None] + np.arange(n)]
    energy = np.sum(blocks**2, axis=1)
    # a share of the block's energy: a whole-cycle sine of energy E reads 2·|X|²/n = E
    rows = np.array([_goertzel_power(blocks, f, DETECT_RATE) for f in ROWS]) * 2 / n
    columns = np.array([_goertzel_power(blocks, f, DETECT_RATE) for f in COLUMNS]) * 2 / n
    keys: list[str | None] = []
    for b in range(blocks.shape[0]):
        keys.append(_block_key(rows[:, b], columns[:, b], energy[b], blocks[b]))
    return keys


def _block_key(rows: npt.NDArray[np.float64], columns: npt.NDArray[np.float64], energy: float,
               block: npt.NDArray[np.float64]) -> str | None:
    if energy <= 0 or 10 * np.log10(energy / block.size * 2) < _MIN_LEVEL_DBFS:
        return None
    r, c = int(np.argmax(rows)), int(np.argmax(columns))
    row, column = rows[r], columns[c]
    if row + column < _MIN_TONE_SHARE * energy:
        return None
    if (np.delete(rows, r) * _NEIGHBOUR_RATIO > row).any():
        return None
    if (np.delete(columns, c) * _NEIGHBOUR_RATIO > column).any():
        return None
    twist_db = 10 * np.log10(column / row) if row > 0 and column > 0 else np.inf
    if not -_MAX_REVERSE_TWIST_DB <= twist_db <= _MAX_TWIST_DB:
        return None
    n = block.size
    for f, power in ((ROWS[r], row), (COLUMNS[c], column)):
        harmonic = _goertzel_power(block[None, :], 2 * f, DETECT_RATE)[0] * 2 / n
        if harmonic > _HARMONIC_RATIO * power:
            return None
    return KEYPAD[r][c]


def detect(pcm16: npt.NDArray[np.int16], rate: int) -> str:
    """The keys pressed in-band in ``pcm16`` (PCM16 mono at ``rate``), in order.

    A key counts once it holds for :data:`_MIN_BLOCKS` blocks in a row, and is over once
    :data:`_MIN_BLOCKS` blocks in a row do not hold it: a block lost to a burst of noise in the
    middle of a press does not make it two presses.
    """
    out: list[str] = []
    held: str | None = None  # the key being pressed (reported)
    candidate: str | None = None
    run = 0  # blocks in a row holding the candidate
    missing = 0  # blocks in a row without the held key
    for key in block_keys(pcm16, rate):
        if held is not None:
            missing = 0 if key == held else missing + 1
            if missing < _MIN_BLOCKS:
                continue
            held = None
        if key == candidate:
            run += 1
        else:
            candidate, run = key, 1
        if candidate is not None and run >= _MIN_BLOCKS:
            out.append(candidate)
            held, candidate, run, missing = candidate, None, 0, 0
    return "".join(out)
