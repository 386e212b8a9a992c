"""Jitter, packet loss and round-trip time of a WebRTC call, from aiortc's RTP/RTCP statistics.

:class:`StatsSampler` reads ``RTCPeerConnection.getStats()`` every :data:`INTERVAL_S` while the
call is open and once more as it ends; :meth:`StatsSampler.summary` turns what it read into the
:class:`harness.recording.RtpStats` that ``meta.json`` keeps (``rtp``):

- **received** (``inbound-rtp``): the agent's audio at the harness's receiver: packets, losses
  (gaps in the sequence numbers) and the RFC 3550 interarrival jitter.
- **sent** (``remote-inbound-rtp``): the caller's audio at the agent's receiver, as its RTCP
  receiver reports say (losses up to the last report, which can be a second old).
- **rtt** (``remote-inbound-rtp`` ``roundTripTime``): from the harness's sender reports and the
  agent's receiver reports answering them (aiortc smooths it).

Jitter is counted in RTP clock units; Opus's RTP clock runs at 48 kHz whatever the audio's rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from aiortc import RTCPeerConnection

from harness.recording import RtpDirection, RtpSample, RtpStats

INTERVAL_S = 1.0
"""How often the statistics are read during a call (RTCP reports come every 0.5–1.5 s)."""
RTP_CLOCK_PER_MS = 48.0
"""Opus's RTP clock (48 kHz) in units per millisecond."""


def _sample(report: dict[str, Any], at_ns: int) -> tuple[int, RtpSample]:
    """One reading of a stats report; the time it was read."""
    inbound = next((s for s in report.values() if s.type == "inbound-rtp"), None)
    outbound = next((s for s in report.values() if s.type == "outbound-rtp"), None)
    remote = next((s for s in report.values() if s.type == "remote-inbound-rtp"), None)
    rtt = getattr(remote, "roundTripTime", None) if remote is not None else None
    return at_ns, RtpSample(
        t_ms=0.0,
        received=inbound.packetsReceived if inbound is not None else 0,
        received_lost=max(0, inbound.packetsLost) if inbound is not None else 0,
        received_jitter_ms=inbound.jitter / RTP_CLOCK_PER_MS if inbound is not None else 0.0,
        sent=outbound.packetsSent if outbound is not None else 0,
        sent_lost=max(0, remote.packetsLost) if remote is not None else None,
        sent_jitter_ms=remote.jitter / RTP_CLOCK_PER_MS if remote is not None else None,
        rtt_ms=rtt * 1000.0 if rtt is not None else None)


def _share(lost: int, received: int) -> float:
    return lost / (received + lost) if received + lost else 0.0


class StatsSampler:
    """Samples a peer connection's RTP statistics (see the module docstring)."""

    def __init__(self, pc: RTCPeerConnection, interval_s: float = INTERVAL_S) -> None:
        self.interval_s = interval_s
        self._pc = pc
        self._readings: list[tuple[int, RtpSample]] = []
        self._remote_received: int | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Read the statistics every :attr:`interval_s` from now on."""
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            await self.read()

    async def read(self) -> None:
        """Read the statistics now."""
        report = await self._pc.getStats()
        remote = next((s for s in report.values() if s.type == "remote-inbound-rtp"), None)
        if remote is not None:
            self._remote_received = remote.packetsReceived
        self._readings.append(_sample(report, time.perf_counter_ns()))

    async def stop(self) -> None:
        """Stop sampling and read the statistics a last time (before the call is closed)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            with contextlib.suppress(Exception):  # a transport already gone reads nothing more
                await self.read()

    def summary(self, t0_ns: int) -> RtpStats | None:
        """What was read, timed on the session clock whose zero is ``t0_ns`` (None: nothing)."""
        if not self._readings:
            return None
        samples = [s.model_copy(update={"t_ms": (at - t0_ns) / 1e6}) for at, s in self._readings]
        last = samples[-1]
        received = RtpDirection(
            packets=last.received, lost=last.received_lost,
            loss=_share(last.received_lost, last.received),
            jitter_ms=last.received_jitter_ms,
            jitter_ms_max=max(s.received_jitter_ms for s in samples))
        sent = None
        if last.sent_lost is not None:
            # the report's count, not the packets sent since: losses after it are not known yet
            reported = (self._remote_received or 0)
            sent = RtpDirection(
                packets=last.sent, lost=last.sent_lost, loss=_share(last.sent_lost, reported),
                jitter_ms=last.sent_jitter_ms or 0.0,
                jitter_ms_max=max(s.sent_jitter_ms or 0.0 for s in samples))
        rtts = [s.rtt_ms for s in samples if s.rtt_ms is not None]
        return RtpStats(received=received, sent=sent, rtt_ms=last.rtt_ms,
                        rtt_ms_max=max(rtts) if rtts else None,
                        interval_ms=self.interval_s * 1000.0, samples=samples)
