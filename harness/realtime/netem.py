"""Network conditions imposed on a WebRTC call in the harness's own path: added one-way delay,
jitter and packet loss, the same each way.

A spec reads like ``delay=100ms,jitter=10ms,loss=2%`` (``harness run --network``):

- ``delay``: added to every packet and data-channel message, each way (``100ms``, ``0.1s``);
  a round trip grows by twice this.
- ``jitter``: each packet's delay varies by up to this much either side, uniformly (never
  below zero). Packets keep their order: one never overtakes the one sent before it.
- ``loss``: the share of RTP packets lost, each way (``2%`` or ``0.02``), drawn from a
  generator seeded with ``seed`` (default 1), so the same spec loses the same packets. A lost
  caller packet never reaches the agent (its receiver sees a gap in the sequence numbers and
  reports it in RTCP); a lost agent packet is never decoded. RTCP packets and data-channel
  messages are not lost (SCTP delivers the latter reliably), only delayed.

:class:`DelayLine` is one direction of that path, used by :mod:`harness.realtime.webrtc`: the
caller's frames on their way to the encoder, then their RTP packets (lost or sent) on their way
to being encrypted; the RTCP packets each way; the agent's packets from being decrypted to being
stamped and handed to the receiver (so aiortc's RTCP statistics see the impaired path); and the
events between the session and the data channel. Time on the
line is the event loop's (``loop.call_at``): a delivery is late by the loop's own lateness, as
any arrival is.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from harness.errors import InputError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$")
_SHARE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$")
EXPECTED = "delay=100ms,jitter=10ms,loss=2% (any of them; durations in ms or s, loss in % or " \
           "as a fraction)"


@dataclass(frozen=True)
class NetworkConditions:
    """Added one-way delay and jitter (ms) and packet loss (a share, 0–1) on each direction."""

    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    seed: int = 1

    @classmethod
    def parse(cls, spec: str, *, field: str = "--network") -> NetworkConditions:
        """Conditions from ``delay=100ms,jitter=10ms,loss=2%``; a located ``InputError`` else."""
        values: dict[str, float | int] = {}
        for part in (p for p in spec.split(",") if p.strip()):
            name, sep, raw = part.partition("=")
            name = name.strip().lower()
            if not sep or name not in ("delay", "jitter", "loss", "seed") or name in values:
                what = "repeated" if name in values else "not understood"
                raise InputError(f"network conditions {spec!r}: {part.strip()!r} is {what}; "
                                 f"expected {EXPECTED}", field=field)
            values[name] = _value(name, raw, spec, field)
        if not values:
            raise InputError(f"network conditions {spec!r} are empty; expected {EXPECTED}",
                             field=field)
        return cls(delay_ms=float(values.get("delay", 0.0)),
                   jitter_ms=float(values.get("jitter", 0.0)),
                   loss=float(values.get("loss", 0.0)), seed=int(values.get("seed", 1)))

    @property
    def spec(self) -> str:
        """The conditions written as :meth:`parse` reads them (what recordings show)."""
        parts = [f"delay={self.delay_ms:g}ms", f"jitter={self.jitter_ms:g}ms",
                 f"loss={self.loss * 100:g}%"]
        return ",".join(parts) + (f",seed={self.seed}" if self.seed != 1 else "")

    def line(self, direction: str, *, lossy: bool) -> DelayLine:
        """One direction of the path (``lossy``: RTP packets, which the network may drop)."""
        return DelayLine(self, random.Random(f"{self.seed}:{direction}"), lossy=lossy)


def _value(name: str, raw: str, spec: str, field: str) -> float | int:
    if name == "seed":
        if not raw.strip().isdigit():
            raise InputError(f"network conditions {spec!r}: seed must be a whole number, got "
                             f"{raw.strip()!r}", field=field)
        return int(raw)
    if name == "loss":
        match = _SHARE.match(raw)
        share = None if match is None else float(match[1]) / (100.0 if match[2] else 1.0)
        if share is None or share >= 1.0:
            raise InputError(f"network conditions {spec!r}: loss must be a share below 100% "
                             f"(e.g. loss=2% or loss=0.02), got {raw.strip()!r}", field=field)
        return share
    match = _DURATION.match(raw)
    if match is None:
        raise InputError(f"network conditions {spec!r}: {name} must be a duration like 100ms "
                         f"or 0.1s, got {raw.strip()!r}", field=field)
    ms = float(match[1]) * (1000.0 if match[2] == "s" else 1.0)
    if ms > 10_000:
        raise InputError(f"network conditions {spec!r}: {name} of {ms:g} ms is over the "
                         "10 s the harness imposes", field=field)
    return ms


class DelayLine:
    """One direction of an impaired path: :meth:`send` hands a delivery over, and it runs when
    the packet would arrive (or never, when the packet is lost)."""

    def __init__(self, conditions: NetworkConditions, rng: random.Random, *,
                 lossy: bool) -> None:
        self.conditions = conditions
        self.lossy = lossy
        self.sent = 0
        self.lost = 0
        self._rng = rng
        self._last_due = 0.0

    def drops(self) -> bool:
        """Whether the network loses the next packet (never, on a line that is not lossy)."""
        if not self.lossy:
            return False
        self.sent += 1
        if self.conditions.loss > 0 and self._rng.random() < self.conditions.loss:
            self.lost += 1
            return True
        return False

    def send(self, deliver: Callable[[], None], *, reliable: bool = False) -> None:
        """Deliver after the line's delay (now, on an unimpaired line), or drop it (on a lossy
        line, unless ``reliable``: an RTCP packet). :attr:`sent` and :attr:`lost` count the
        packets that could be lost."""
        c = self.conditions
        if not reliable and self.drops():
            return
        if c.delay_ms <= 0 and c.jitter_ms <= 0:
            deliver()
            return
        loop = asyncio.get_running_loop()
        wait_ms = max(0.0, c.delay_ms + self._rng.uniform(-c.jitter_ms, c.jitter_ms))
        # packets keep their order (the loop runs timers due at the same time in any order)
        due = max(loop.time() + wait_ms / 1000.0, self._last_due + 1e-6)
        self._last_due = due
        loop.call_at(due, deliver)
