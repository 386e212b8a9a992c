"""Jitter, packet loss and round-trip time of WebRTC calls from the RTP/RTCP statistics: read from
aiortc's stats objects into ``meta.json`` (``rtp``), and against the local agent they show the
conditions ``--network`` imposed on the path, and next to nothing without them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("aiortc")

from aiortc.stats import (  # noqa: E402
    RTCInboundRtpStreamStats,
    RTCOutboundRtpStreamStats,
    RTCRemoteInboundRtpStreamStats,
    RTCStatsReport,
)

from harness.realtime.rtcstats import StatsSampler  # noqa: E402
from harness.recording import RecordingMeta  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
HARNESS = Path(sys.executable).with_name("harness")


class _Peer:
    """Stands in for an ``RTCPeerConnection``: ``getStats()`` returns the next canned report."""

    def __init__(self, reports: list[list[Any]]) -> None:
        self._reports = reports

    async def getStats(self) -> RTCStatsReport:  # noqa: N802 (aiortc's name)
        report = RTCStatsReport()
        for stats in self._reports.pop(0):
            report.add(stats)
        return report


def _stats(received: int, lost: int, jitter: int, sent: int, remote: tuple[int, int, int, float]
           | None) -> list[Any]:
    common: dict[str, Any] = {"timestamp": None, "kind": "audio", "transportId": "t"}
    out: list[Any] = [
        RTCInboundRtpStreamStats(type="inbound-rtp", id="in", ssrc=1, packetsReceived=received,
                                 packetsLost=lost, jitter=jitter, **common),
        RTCOutboundRtpStreamStats(type="outbound-rtp", id="out", ssrc=2, packetsSent=sent,
                                  bytesSent=0, trackId="x", **common)]
    if remote is not None:
        r_received, r_lost, r_jitter, rtt_s = remote
        out.append(RTCRemoteInboundRtpStreamStats(
            type="remote-inbound-rtp", id="rin", ssrc=2, packetsReceived=r_received,
            packetsLost=r_lost, jitter=r_jitter, roundTripTime=rtt_s, fractionLost=0, **common))
    return out


def test_the_summary_reads_aiortc_stats_in_ms_and_shares():
    # jitter in RTP clock units (48 kHz), round-trip time in seconds, cumulative counts
    peer = _Peer([_stats(40, 0, 960, 50, None),
                  _stats(90, 10, 240, 100, (85, 5, 480, 0.2))])
    sampler = StatsSampler(peer)  # type: ignore[arg-type]
    asyncio.run(sampler.read())
    asyncio.run(sampler.read())
    t0 = sampler._readings[0][0] - 500_000_000  # the first reading 500 ms into the call
    rtp = sampler.summary(t0)
    assert rtp is not None
    assert [round(s.t_ms) for s in rtp.samples][0] == 500
    assert rtp.samples[0].rtt_ms is None and rtp.samples[0].sent_lost is None
    assert (rtp.received.packets, rtp.received.lost) == (90, 10)
    assert rtp.received.loss == pytest.approx(0.1)
    assert (rtp.received.jitter_ms, rtp.received.jitter_ms_max) == (5.0, 20.0)
    assert rtp.sent is not None and (rtp.sent.packets, rtp.sent.lost) == (100, 5)
    assert rtp.sent.loss == pytest.approx(5 / 90) and rtp.sent.jitter_ms == 10.0
    assert rtp.rtt_ms == pytest.approx(200.0) and rtp.rtt_ms_max == pytest.approx(200.0)
    # it is what meta.json keeps
    assert RecordingMeta.model_fields["rtp"].annotation is not None
    assert StatsSampler(_Peer([])).summary(0) is None  # type: ignore[arg-type]


def _run(out: Path, *network: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(HARNESS), "run", str(ROOT / "scenarios" / "order-status.yaml"), "--target",
         "local-webrtc", "-o", str(out), *network],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _rtp(out: Path) -> dict[str, Any]:
    (meta,) = out.glob("*/order-status/trial-0/meta.json")
    rtp = json.loads(meta.read_text(encoding="utf-8"))["rtp"]
    assert isinstance(rtp, dict)
    return rtp


@pytest.mark.slow
@pytest.mark.solo  # round-trip time read to within milliseconds; two WebRTC calls
def test_the_recorded_loss_jitter_and_rtt_show_the_imposed_network(tmp_path):
    # the two calls at once: 100 ms each way, 10 ms jitter and 10 % loss on one; nothing on the
    # other
    impaired = _run(tmp_path / "impaired", "--network", "delay=100ms,jitter=10ms,loss=10%")
    clean = _run(tmp_path / "clean")
    for proc in (impaired, clean):
        output, _ = proc.communicate(timeout=180)
        assert proc.returncode in (0, 1), output
        assert "Traceback" not in output
    bad, good = _rtp(tmp_path / "impaired"), _rtp(tmp_path / "clean")
    print("impaired", {k: v for k, v in bad.items() if k != "samples"})
    print("clean", {k: v for k, v in good.items() if k != "samples"})

    # a call of about 30 s sampled every second, in order, the last as it ended
    for rtp in (bad, good):
        times = [s["t_ms"] for s in rtp["samples"]]
        assert len(times) >= 20 and times == sorted(times)
        assert rtp["received"]["packets"] > 1000 and rtp["sent"]["packets"] > 1000

    # 10 % of the RTP packets lost each way, seeded: 7-13 % of some 1,500 recorded lost
    assert 0.07 <= bad["received"]["loss"] <= 0.13
    assert 0.07 <= bad["sent"]["loss"] <= 0.13
    # 200 ms more round trip (SR out, RR back), with +-10 ms jitter on each (a packet that
    # follows a later-drawn one waits for it: about +7 ms) and both event loops' lateness
    # (10-30 ms of RTT without conditions with the machine's load average at 12)
    assert 195.0 <= bad["rtt_ms"] <= 250.0
    # uniform +-10 ms of jitter: the RFC 3550 estimate tends to E|X-Y| = 6.7 ms, on top of the
    # senders' own pacing (1-5 ms without conditions, more on a loaded machine)
    assert 3.0 <= bad["received"]["jitter_ms"] <= 20.0
    assert 3.0 <= bad["sent"]["jitter_ms"] <= 20.0

    assert good["received"]["lost"] == 0 and good["sent"]["lost"] == 0
    assert good["rtt_ms"] < 40.0
    assert good["received"]["jitter_ms"] < 10.0 and good["sent"]["jitter_ms"] < 10.0
