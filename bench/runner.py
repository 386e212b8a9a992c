"""Benchmarks of the runner: chunk send jitter, harness CPU per session, latency measurement error.

Usage: ``.venv/bin/python bench/runner.py [--sessions 10,100,200] [--seconds 10] [--runs 5]
[--workers 2] [--highest 100:600:25]``

A light loopback server runs in a separate process (so its CPU is not the harness's): it answers
the upgrade and ``session.update`` and reads only frame headers of the caller stream; in latency
mode it also starts a reply ``--delay-ms`` after it received the caller's last speech chunk (the
first quiet chunk after loud ones tells it which one that was) and sends, with the reply, the
delay it actually achieved. The harness side runs real :func:`harness.runner.run_trial` sessions,
all in this process's one event loop, writing real recordings to a temporary folder; they start
:data:`RAMP_MS` apart, after one warm-up session (imports and first-call costs are the process's,
not a session's).

Printed: jitter (sent − scheduled, ms) p50/p99/max per session count; the harness process's CPU
per session in % of one core (its CPU time, set-up and tracks included, over the sessions' total
call time, so a longer tail of writing tracks does not dilute it); the share of the time its
event loop was ready to run but had no CPU (other processes on the same cores: they show up here
and as jitter); and |measured − true| voice-to-voice latency p50/p99, where measured = audible
onset − caller speech end, as scoring reads them from the recordings, and true = the server's
delay as the server measured it (its timer may fire late; that is not the harness's error). The
send lateness of the speech-end chunk (actual − scheduled send; scoring counts from the actual
send, so lateness is not latency) is printed beside it. Memory per session is the process's peak
resident memory during the sessions above its resident memory before them, over the session count.
``--runs N`` repeats everything and counts the runs within each budget; ``--workers N`` splits
the sessions over N processes; ``--highest`` bisects for the highest session count within the
jitter budget with 1 and with 2 processes.
Budgets: jitter p99 ≤ 5 ms at 100 and 200 sessions; CPU ≤ 0.5 % of a core per session; latency
error p99 ≤ 2 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.recording import Recording  # noqa: E402
from harness.runner import SessionOptions, run_trial  # noqa: E402
from harness.scenario.models import AgentConfig, Scenario, TurnDetection  # noqa: E402
from harness.scoring import build_timeline  # noqa: E402
from harness.stats import percentile  # noqa: E402

RATE = 24_000
CHUNK = 480
SERVER_CPU = 1
"""The server keeps to the last core: woken on the harness's core it would preempt the harness
mid-send, and its work would count as harness jitter."""


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


# --------------------------------------------------------------------------- the server


def _serve(port_queue: mp.Queue, delay_ms: float, reply_ms: float) -> None:
    _pin(SERVER_CPU)
    reply = base64.b64encode(np.full(int(RATE * reply_ms / 1000), 6000, dtype="<i2")
                             .tobytes()).decode()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Server(delay_ms, reply), "127.0.0.1", 0)
        port_queue.put(server.sockets[0].getsockname()[1])
        await asyncio.Future()

    asyncio.run(main())


def _frame(opcode: int, payload: bytes) -> bytes:
    n = len(payload)
    head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else
                                    bytes([126]) + n.to_bytes(2, "big") if n < 65536 else
                                    bytes([127]) + n.to_bytes(8, "big"))
    return head + payload


class _Server(asyncio.Protocol):
    """The lightest WebSocket server that will do: it answers the upgrade and ``session.update``,
    then only walks frame headers (pings, the close), so 200 sessions' 10 000 chunks a second cost
    it next to nothing and never push back. With ``delay_ms`` ≥ 0 it also unmasks the first bytes
    of each caller chunk: loud = the chunk's first sample is not zero (the bench's speech is a DC
    block of whole chunks); the arrival of the last loud chunk is taken as the data arrives."""

    GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    APPEND = b'{"type":"input_audio_buffer.append","audio":"'

    def __init__(self, delay_ms: float, reply: str):
        self.delay_ns = int(delay_ms * 1e6)
        self.reply = reply
        self.buf = b""
        self.upgraded = self.answered = self.loud_before = False
        self.last_loud_ns = 0
        self.replies = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        now_ns = time.perf_counter_ns()
        buf = self.buf + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            key = next(line.split(b":", 1)[1].strip() for line in buf[:end].split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + self.GUID).digest())
            self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                                 + b"\r\n\r\n")
            buf = buf[end + 4:]
            self.upgraded = True
        pos = 0
        while len(buf) - pos >= 2:
            opcode, n, head = buf[pos] & 0x0F, buf[pos + 1] & 0x7F, pos + 2
            if n == 126:
                n, head = int.from_bytes(buf[head:head + 2], "big"), head + 2
            elif n == 127:
                n, head = int.from_bytes(buf[head:head + 8], "big"), head + 8
            if len(buf) < head + 4 + n:
                break
            mask, start = buf[head:head + 4], head + 4
            pos = start + n
            if opcode == 0x1 and self.answered:
                if self.delay_ns >= 0:
                    self._chunk(bytes(buf[start + i] ^ mask[i % 4] for i in range(49)), now_ns)
                continue
            if opcode not in (0x1, 0x8, 0x9):
                continue
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(buf[start:pos]))
            if opcode == 0x8:
                self.transport.write(_frame(0x8, payload[:2]))
                self.transport.close()
                return
            if opcode == 0x9:
                self.transport.write(_frame(0xA, payload))
                continue
            event = json.loads(payload)
            if event["type"] == "session.update":
                self.answered = True
                self.transport.write(_frame(0x1, json.dumps(
                    {"type": "session.updated", "session": event["session"]}).encode()))
        self.buf = buf[pos:]

    def _chunk(self, head: bytes, now_ns: int) -> None:
        if not head.startswith(self.APPEND):
            return
        loud = head[45:49] != b"AAAA"
        if loud:
            self.last_loud_ns = now_ns
        elif self.loud_before:
            self.replies += 1
            due_ns = self.last_loud_ns + self.delay_ns
            self.loop.call_at(self.loop.time() + max(0, due_ns - now_ns) / 1e9, self._reply,
                              self.last_loud_ns, f"r{self.replies}")
        self.loud_before = loud

    def _reply(self, heard_ns: int, rid: str) -> None:
        if self.transport.is_closing():
            return
        events = [{"type": "response.created", "response": {"id": rid}},
                  {"type": "response.output_audio.delta", "response_id": rid, "item_id": f"i{rid}",
                   "delta": self.reply},
                  {"type": "response.output_audio.done", "response_id": rid, "item_id": f"i{rid}"}]
        audio = b"".join(_frame(0x1, json.dumps(e).encode()) for e in events)
        # the delay is taken when the audio goes out, after building it
        delay_ms = (time.perf_counter_ns() - heard_ns) / 1e6
        self.transport.write(audio)
        self.transport.write(_frame(0x1, json.dumps(
            {"type": "response.done", "response": {"id": rid, "status": "completed"},
             "bench_delay_ms": delay_ms}).encode()))


class LoopbackServer:
    def __init__(self, delay_ms: float = -1.0, reply_ms: float = 300.0):
        ctx = mp.get_context("spawn")
        self.queue: mp.Queue = ctx.Queue()
        self.proc = ctx.Process(target=_serve, args=(self.queue, delay_ms, reply_ms), daemon=True)

    def __enter__(self) -> str:
        self.proc.start()
        return f"ws://127.0.0.1:{self.queue.get(timeout=30)}/v1/realtime"

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join()


# --------------------------------------------------------------------------- the caller


@dataclass
class _Turn:
    samples: np.ndarray
    speech_onset_sample: int | None
    speech_end_sample: int | None
    addressed: bool
    spoken_text: str | None = None
    pauses: tuple = ()
    cut_off: bool = False


class _Script:
    """Speech is a DC block of whole chunks, so the server can tell speech chunks by one sample."""

    def __init__(self, scenario: Scenario, speech_chunks: int):
        self.turns = []
        for turn in scenario.turns:
            if turn.kind == "say":
                x = np.full(speech_chunks * CHUNK, 4000, dtype=np.int16)
                self.turns.append(_Turn(x, 0, len(x) - 1, True, "speech"))
            else:
                self.turns.append(_Turn(np.zeros(int(RATE * (turn.silence_ms or 0) / 1000),
                                                 dtype=np.int16), None, None, False))

    def bed(self, turn_index):
        return None


def _scenario(turns: list[dict], **kw) -> Scenario:
    sc = Scenario.model_validate({"name": "bench", "turns": turns,
                                  "expect": [{"turn_answered": {}}], **kw})
    sc.agent_config = AgentConfig(instructions="bench", turn_detection=TurnDetection())
    return sc


RAMP_MS = 10.0
"""Sessions start this far apart, as trials do when a suite run fills its concurrency slots."""


async def _sessions(url: str, sc: Scenario, script: _Script, n: int, out: Path) -> list[Path]:
    folders = [out / f"s{i}" for i in range(n)]

    async def one(i: int):
        await asyncio.sleep(i * RAMP_MS / 1000)
        return await run_trial(sc, out_dir=folders[i], target=url, script=script, retries=0,
                               options=SessionOptions())

    results = await asyncio.gather(*(one(i) for i in range(n)))
    bad = [r.error for r in results if r.status != "completed"]
    if bad:
        raise SystemExit(f"{len(bad)} sessions failed, e.g. {bad[0]}")
    return folders


def _cpu_wait_ns() -> int | None:
    """Time this thread has spent ready to run but waiting for a CPU (Linux), in ns."""
    try:
        with open("/proc/thread-self/schedstat") as fh:
            return int(fh.read().split()[1])
    except OSError:
        return None


def _rss_bytes() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak resident memory of this process (Linux ≥ 4.0), so that
    ``VmHWM`` then holds the peak from now on without sampling (a sampling task would wake the
    event loop and count its own CPU as the harness's)."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _peak_rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


async def _with_peak_rss(coro, peak: list[int]):
    """Run ``coro`` and put this process's peak resident memory meanwhile into ``peak``: from
    the kernel's counter where it can be reset, else by sampling every 50 ms."""
    if _reset_peak_rss():
        try:
            return await coro
        finally:
            peak[0] = max(peak[0], _peak_rss_bytes())

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], _rss_bytes())
            await asyncio.sleep(0.05)

    sampler = asyncio.create_task(sample())
    try:
        return await coro
    finally:
        sampler.cancel()
        peak[0] = max(peak[0], _rss_bytes())


@dataclass
class JitterRun:
    values: list[float]
    cpu_pct_per_session: float
    cpu_wait_pct: float | None
    memory_mb_per_session: float
    kernel_share_pct: float
    """Share of that CPU spent in the kernel (loopback TCP sends count the receiver's work)."""


def _jitter_scenario(seconds: float) -> tuple[Scenario, _Script]:
    sc = _scenario([{"say": "x", "after_ms": 200},
                    {"silence_ms": int(seconds * 1000), "after_ms": 0}], idle_timeout_ms=0)
    return sc, _Script(sc, speech_chunks=25)


def _jitter_shard(url: str, sessions: int, seconds: float, warm_up: bool = False) -> dict:
    """``sessions`` streams in this process's event loop: their lateness values and what they
    cost this process (CPU s, CPU wait s, peak memory above the start)."""
    if warm_up:  # imports and first calls are paid once per process
        _jitter_shard(url, 1, 1.0)
    sc, script = _jitter_scenario(seconds)
    with tempfile.TemporaryDirectory() as tmp:
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        wait0 = _cpu_wait_ns()
        rss0 = _rss_bytes()
        peak = [rss0]
        t0 = time.perf_counter()
        folders = asyncio.run(_with_peak_rss(_sessions(url, sc, script, sessions, Path(tmp)),
                                             peak))
        wall = time.perf_counter() - t0
        wait1 = _cpu_wait_ns()
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        values = []
        for folder in folders:
            for f in Recording.load(folder).events("input_audio_buffer.append"):
                values.append(f.t_ms - f.model_extra["scheduled_ms"])
    return {"values": values, "wall_s": wall,
            "cpu_s": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime),
            "sys_s": ru1.ru_stime - ru0.ru_stime,
            "wait_s": None if wait0 is None or wait1 is None else (wait1 - wait0) / 1e9,
            "memory_bytes": peak[0] - rss0}


def jitter(sessions: int, seconds: float, workers: int = 1) -> JitterRun:
    """``sessions`` streams against one loopback server, in ``workers`` processes (one event
    loop each, the sessions split evenly), as ``harness run --workers`` runs trials."""
    with LoopbackServer() as url:
        if workers == 1:
            shards = [_jitter_shard(url, sessions, seconds)]
        else:
            counts = [sessions // workers + (i < sessions % workers) for i in range(workers)]
            with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
                shards = list(pool.map(_jitter_shard, [url] * workers, counts,
                                       [seconds] * workers, [True] * workers))
    values = [v for shard in shards for v in shard["values"]]
    waits = [shard["wait_s"] for shard in shards]
    waited = None if None in waits else \
        100.0 * sum(waits) / sum(shard["wall_s"] for shard in shards)
    call_s = len(values) * CHUNK / RATE
    cpu = sum(shard["cpu_s"] for shard in shards)
    memory = sum(shard["memory_bytes"] for shard in shards)
    kernel = 100.0 * sum(shard["sys_s"] for shard in shards) / cpu if cpu else 0.0
    return JitterRun(values, 100.0 * cpu / call_s, waited, memory / 1e6 / sessions, kernel)


@dataclass
class LatencyRun:
    errors: list[float]
    """|measured − true| per turn, measured as scoring does (from the speech end's
    ``harness.turn.speech_sent`` time: when its chunk went out)."""
    errors_from_sent: list[float]
    """The same, measured from the speech-end chunk's own frame time (the same moment)."""
    send_lateness: list[float]
    """Actual − scheduled send time of each speech-end chunk."""
    server_lateness: list[float]
    """The server's actual delay − the delay it was asked for."""


def latency_error(sessions: int, turns: int, delay_ms: float) -> LatencyRun:
    sc = _scenario([{"say": "x"} for _ in range(turns)], reaction_gap_ms=200,
                   idle_timeout_ms=2000)
    script = _Script(sc, speech_chunks=30)
    run = LatencyRun([], [], [], [])
    with LoopbackServer(delay_ms=delay_ms) as url, tempfile.TemporaryDirectory() as tmp:
        folders = asyncio.run(_sessions(url, sc, script, sessions, Path(tmp)))
        for folder in folders:
            rec = Recording.load(folder)
            # the speech end as scoring reads it: when its chunk actually went out
            ends = [t.speech_end_ms for t in build_timeline(rec).turns]
            onsets = [a.onset_ms for _, a in rec.annotations("harness.playback.audible")]
            true = [f.event["bench_delay_ms"] for f in rec.events("response.done")]
            chunks = rec.events("input_audio_buffer.append")
            scheduled = np.array([f.model_extra["scheduled_ms"] for f in chunks])
            if not len(onsets) == len(true) == len(ends):
                raise SystemExit(f"{folder.name}: {len(ends)} turns but {len(onsets)} replies")
            due = [a.speech_end_ms for _, a in rec.annotations("harness.turn.started")]
            for end, onset, delay, at in zip(ends, onsets, true, due, strict=True):
                sent = chunks[int(np.argmin(np.abs(scheduled - at)))].t_ms
                run.errors.append(abs(onset - end - delay))
                run.errors_from_sent.append(abs(onset - sent - delay))
                run.send_lateness.append(sent - at)
                run.server_lateness.append(delay - delay_ms)
    return run


JITTER_BUDGET_MS = 5.0
CPU_BUDGET_PCT = 0.5
ERROR_BUDGET_MS = 2.0


def _pct(values: list[float], q: float) -> float:
    value = percentile(values, q).value
    return float("nan") if value is None else value


def _jitter_table(counts: list[int], seconds: float, workers: int) -> dict[int, JitterRun]:
    print(f"chunk send jitter (sent - scheduled) and harness CPU, 20 ms chunks, "
          f"{workers} process(es)")
    print(f"{'sessions':>8} {'chunks':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'CPU %/session':>14} {'kernel %':>9} {'CPU wait %':>11} {'MB/session':>11}")
    runs = {}
    for n in counts:
        run = runs[n] = jitter(n, seconds, workers)
        waited = "n/a" if run.cpu_wait_pct is None else f"{run.cpu_wait_pct:.1f}"
        print(f"{n:>8} {len(run.values):>8} {_pct(run.values, 50):>8.3f} "
              f"{_pct(run.values, 99):>8.3f} {max(run.values):>8.3f} "
              f"{run.cpu_pct_per_session:>14.3f} {run.kernel_share_pct:>9.0f} {waited:>11} "
              f"{run.memory_mb_per_session:>11.2f}", flush=True)
    return runs


def _latency_table(args: argparse.Namespace) -> LatencyRun:
    lat = latency_error(args.latency_sessions, args.latency_turns, args.delay_ms)

    def stats(values: list[float]) -> str:
        return f"p50 {_pct(values, 50):.3f} ms, p99 {_pct(values, 99):.3f} ms"

    print(f"latency error |measured - true| over {len(lat.errors)} turns "
          f"({args.latency_sessions} sessions; true = the server's delay as it measured it, "
          f"asked for {args.delay_ms:g} ms): {stats(lat.errors)}, max {max(lat.errors):.3f} ms")
    print(f"  speech-end chunk sent late by {stats(lat.send_lateness)}; error measured from "
          f"its actual send: {stats(lat.errors_from_sent)}; server late by "
          f"{stats(lat.server_lateness)}", flush=True)
    return lat


def _highest_clean(workers: int, seconds: float, low: int, high: int, step: int) -> int | None:
    """The highest session count (a multiple of ``step`` in [low, high]) whose jitter p99 stays
    within the budget, by bisection (jitter grows with the session count)."""
    best = None
    lo, hi = low // step, high // step
    while lo <= hi:
        mid = (lo + hi) // 2
        run = jitter(mid * step, seconds, workers)
        p99 = _pct(run.values, 99)
        print(f"  {workers} process(es), {mid * step} sessions: jitter p99 {p99:.3f} ms",
              flush=True)
        if p99 <= JITTER_BUDGET_MS:
            best, lo = mid * step, mid + 1
        else:
            hi = mid - 1
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="10,100,200")
    parser.add_argument("--seconds", type=float, default=10.0, help="streaming time per session")
    parser.add_argument("--runs", type=int, default=1, help="repeat the whole bench")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes the sessions are split over")
    parser.add_argument("--latency-sessions", type=int, default=20)
    parser.add_argument("--latency-turns", type=int, default=10,
                        help="turns per session: 20 x 10 = 200, the least a p99 is shown for")
    parser.add_argument("--delay-ms", type=float, default=400.0)
    parser.add_argument("--highest", metavar="LOW:HIGH:STEP",
                        help="also find the highest session count with jitter p99 within "
                             "budget, with 1 and 2 processes (e.g. 100:600:25)")
    args = parser.parse_args()
    counts = [int(x) for x in args.sessions.split(",")]
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with LoopbackServer() as url:
        _jitter_shard(url, 1, 1.0)  # warm-up: imports and first calls are paid once per process
    runs: list[tuple[dict[int, JitterRun], LatencyRun]] = []
    for k in range(args.runs):
        if args.runs > 1:
            print(f"--- run {k + 1} of {args.runs} (load average {os.getloadavg()[0]:.2f})")
        runs.append((_jitter_table(counts, args.seconds, args.workers), _latency_table(args)))
    if args.runs > 1:
        print(f"--- {args.runs} runs against the budgets (jitter p99 <= {JITTER_BUDGET_MS:g} ms, "
              f"CPU <= {CPU_BUDGET_PCT:g} % of a core per session, latency error p99 <= "
              f"{ERROR_BUDGET_MS:g} ms)")
        for n in counts:
            p99s = [_pct(jit[n].values, 99) for jit, _ in runs]
            cpus = [jit[n].cpu_pct_per_session for jit, _ in runs]
            mem = [jit[n].memory_mb_per_session for jit, _ in runs]
            print(f"{n:>5} sessions: jitter p99 {', '.join(f'{v:.1f}' for v in p99s)} ms "
                  f"({sum(v <= JITTER_BUDGET_MS for v in p99s)}/{len(p99s)} within); CPU "
                  f"{', '.join(f'{v:.2f}' for v in cpus)} % "
                  f"({sum(v <= CPU_BUDGET_PCT for v in cpus)}/{len(cpus)} within); "
                  f"memory {max(mem):.2f} MB/session at most")
        errors = [_pct(lat.errors, 99) for _, lat in runs]
        print(f"latency error p99 {', '.join(f'{v:.2f}' for v in errors)} ms "
              f"({sum(v <= ERROR_BUDGET_MS for v in errors)}/{len(errors)} within)")
    if args.highest:
        low, high, step = (int(x) for x in args.highest.split(":"))
        for workers in (1, 2):
            best = _highest_clean(workers, args.seconds, low, high, step)
            print(f"highest session count with jitter p99 <= {JITTER_BUDGET_MS:g} ms, "
                  f"{workers} process(es): {best if best is not None else f'below {low}'}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
