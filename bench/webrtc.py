"""Benchmark of WebRTC sessions: pacing jitter, CPU per session and latency error over Opus/RTP,
beside the same figures over a WebSocket.

Usage: ``.venv/bin/python bench/webrtc.py [--sessions 1,4,10] [--turns 4] [--delay-ms 300]
[--network delay=50ms,jitter=5ms,loss=1%] [--ws-seconds 8]``

WebRTC: real :func:`harness.runner.run_trial` sessions (``webrtc+http://…`` target: SDP over
HTTP, DTLS, the ``oai-events`` data channel, the caller's audio Opus-encoded on an RTP track at
48 kHz, the agent's decoded as each packet arrives) against the known-delay peer of the tests
(``tests/realtime/known_delay_peer.py``): a process of its own, pinned to the last core, that
answers each caller turn (590 ms of tone) ``--delay-ms`` after its last loud packet with 400 ms
of tone, with no recogniser, so the harness's cost is what is measured. The sessions of a level
run in this process's one event loop, started :data:`RAMP_MS` apart, after one warm-up session.

Printed per session count: caller chunk send jitter (sent − scheduled, ms) p50/p99/max; agent
packet arrival jitter p99 (how far each packet of an answer arrived from 20 ms after the one
before, ms: the peer's pacing, both stacks and the loopback); the harness process's CPU per
session in % of one core (its CPU time, set-up, Opus both ways and the tracks included, over the
sessions' total call time), the peer's beside it, and the sessions a core would hold at that
cost; |measured − D| voice-to-voice p50/p99 over all turns (as scoring reads them: audible onset
− the speech-end chunk's send). Then the WebSocket figures of ``bench/runner.py`` (its light
loopback server, the same session counts): jitter p50/p99 and CPU per session.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "realtime"))

from known_delay_peer import PeerProcess  # noqa: E402
from runner import SERVER_CPU, _Turn, jitter  # noqa: E402

from harness.realtime.netem import NetworkConditions  # noqa: E402
from harness.recording import Recording  # noqa: E402
from harness.runner import SessionOptions, run_trial  # noqa: E402
from harness.scenario.models import AgentConfig, Scenario, TurnDetection  # noqa: E402
from harness.scoring import build_timeline  # noqa: E402

RATE = 24_000
CHUNK = 480
RAMP_MS = 50.0
"""WebRTC sessions start this far apart (each set-up is a DTLS handshake and an ICE check)."""


class _Script:
    """Caller turns of 590 ms of 440 Hz tone (a clean end) and 410 ms of silence."""

    def __init__(self, turns: int):
        t = np.arange(int(0.59 * RATE)) / RATE
        burst = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
        clip = np.concatenate([burst, np.zeros(int(0.41 * RATE), dtype=np.int16)])
        self.turns = [_Turn(clip, 0, len(burst) - 1, True, "tone") for _ in range(turns)]

    def bed(self, turn_index):
        return None


def _scenario(turns: int) -> Scenario:
    sc = Scenario.model_validate({"name": "bench-webrtc", "turns": [{"say": "x"}] * turns,
                                  "reaction_gap_ms": 300, "idle_timeout_ms": 1000,
                                  "expect": [{"turn_answered": {}}]})
    sc.agent_config = AgentConfig(instructions="bench", turn_detection=TurnDetection())
    return sc


@dataclass
class WebRTCRun:
    send_jitter: list[float]
    arrival_jitter: list[float]
    errors: list[float]
    cpu_pct_per_session: float
    peer_cpu_pct_per_session: float
    peer_late_ms: float


def _pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (numpy interpolation: at one session, mind the count)."""
    return float(np.percentile(values, q)) if values else float("nan")


def _proc_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _arrival_jitter(rec: Recording) -> list[float]:
    """|gap − 20 ms| between consecutive RTP packets of each response, ms."""
    out: list[float] = []
    last: dict[str, float] = {}
    for f in rec.events("response.output_audio.delta", dir="received"):
        rid = f.event.get("response_id")
        if rid in last:
            out.append(abs(f.t_ms - last[rid] - 20.0))
        last[rid] = f.t_ms
    return out


async def _sessions(url: str, n: int, turns: int, out: Path,
                    options: SessionOptions) -> list[Path]:
    sc, script = _scenario(turns), _Script(turns)
    folders = [out / f"s{i}" for i in range(n)]

    async def one(i: int):
        await asyncio.sleep(i * RAMP_MS / 1000)
        return await run_trial(sc, out_dir=folders[i], target=f"webrtc+{url}", script=script,
                               retries=0, options=options)

    results = await asyncio.gather(*(one(i) for i in range(n)))
    bad = [r.error for r in results if r.status != "completed"]
    if bad:
        raise SystemExit(f"{len(bad)} WebRTC sessions failed, e.g. {bad[0]}")
    return folders


def webrtc(n: int, turns: int, delay_ms: float, network: NetworkConditions | None) -> WebRTCRun:
    options = SessionOptions(network=network)
    with PeerProcess(delay_ms) as peer, tempfile.TemporaryDirectory() as tmp:
        pid = peer._proc.pid  # type: ignore[union-attr]
        _pin_other(pid)
        asyncio.run(_sessions(peer.url, 1, 1, Path(tmp) / "warm", options))
        ru0, peer0 = resource.getrusage(resource.RUSAGE_SELF), _proc_cpu_s(pid)
        folders = asyncio.run(_sessions(peer.url, n, turns, Path(tmp), options))
        ru1, peer1 = resource.getrusage(resource.RUSAGE_SELF), _proc_cpu_s(pid)
        send, arrival, errors = [], [], []
        for folder in folders:
            rec = Recording.load(folder)
            send += [f.t_ms - f.model_extra["scheduled_ms"]
                     for f in rec.events("input_audio_buffer.append")]
            arrival += _arrival_jitter(rec)
            ends = [t.speech_end_ms for t in build_timeline(rec).turns]
            onsets = [a.onset_ms for _, a in rec.annotations("harness.playback.audible")]
            added = 2 * network.delay_ms if network is not None else 0.0
            errors += [abs(o - e - delay_ms - added) for e, o in zip(ends, onsets, strict=False)]
    late = max((a - delay_ms for call in peer.achieved_ms for a in call), default=0.0)
    call_s = len(send) * CHUNK / RATE
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    return WebRTCRun(send, arrival, errors, 100.0 * cpu / call_s,
                     100.0 * (peer1 - peer0) / call_s, late)


def _pin_other(pid: int) -> None:
    if hasattr(os, "sched_setaffinity") and SERVER_CPU < (os.cpu_count() or 1):
        os.sched_setaffinity(pid, {SERVER_CPU})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="1,4,10")
    parser.add_argument("--turns", type=int, default=4, help="caller turns per WebRTC session")
    parser.add_argument("--delay-ms", type=float, default=300.0,
                        help="the known-delay peer's answer delay")
    parser.add_argument("--network", default=None,
                        help="conditions on the WebRTC path, e.g. delay=50ms,jitter=5ms,loss=1%%")
    parser.add_argument("--ws-seconds", type=float, default=8.0,
                        help="streaming time per WebSocket session")
    args = parser.parse_args()
    counts = [int(x) for x in args.sessions.split(",")]
    network = NetworkConditions.parse(args.network) if args.network else None
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"WebRTC (Opus 48 kHz, RTP, data channel) against the known-delay peer "
          f"(D = {args.delay_ms:g} ms, {args.turns} turns a session"
          + (f", network {network.spec}" if network else "") + ")")
    print(f"{'sessions':>8} {'send p50':>9} {'send p99':>9} {'send max':>9} {'arrive p99':>11} "
          f"{'CPU %/sess':>11} {'peer %/sess':>12} {'sess/core':>10} {'|err| p50':>10} "
          f"{'|err| p99':>10} {'turns':>6}")
    rtc: dict[int, WebRTCRun] = {}
    for n in counts:
        t0 = time.perf_counter()
        run = rtc[n] = webrtc(n, args.turns, args.delay_ms, network)
        print(f"{n:>8} {_pct(run.send_jitter, 50):>9.3f} {_pct(run.send_jitter, 99):>9.3f} "
              f"{max(run.send_jitter):>9.3f} {_pct(run.arrival_jitter, 99):>11.3f} "
              f"{run.cpu_pct_per_session:>11.2f} {run.peer_cpu_pct_per_session:>12.2f} "
              f"{100.0 / run.cpu_pct_per_session:>10.0f} {_pct(run.errors, 50):>10.2f} "
              f"{_pct(run.errors, 99):>10.2f} {len(run.errors):>6}   "
              f"({time.perf_counter() - t0:.0f} s; peer "
              f"late by at most {run.peer_late_ms:.1f} ms)", flush=True)
    print(f"WebSocket (bench/runner.py's loopback server, {args.ws_seconds:g} s a session)")
    print(f"{'sessions':>8} {'send p50':>9} {'send p99':>9} {'send max':>9} {'CPU %/sess':>11} "
          f"{'sess/core':>10}   WebRTC beside it: send p99, CPU %/session")
    for n in counts:
        ws = jitter(n, args.ws_seconds)
        print(f"{n:>8} {_pct(ws.values, 50):>9.3f} {_pct(ws.values, 99):>9.3f} "
              f"{max(ws.values):>9.3f} {ws.cpu_pct_per_session:>11.3f} "
              f"{100.0 / ws.cpu_pct_per_session:>10.0f}   "
              f"{_pct(rtc[n].send_jitter, 99):.3f} ms, {rtc[n].cpu_pct_per_session:.2f} %",
              flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
