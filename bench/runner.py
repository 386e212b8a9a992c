"""Benchmarks of the runner: chunk send jitter, harness CPU per session, latency measurement error.

Usage: ``.venv/bin/python bench/runner.py [--sessions 10,100,200] [--seconds 10]``

A light loopback server runs in a separate process (so its CPU is not the harness's): it answers
``session.update`` and swallows the caller stream; in latency mode it also starts a reply a known
``--delay-ms`` after it received the caller's last speech chunk (the first quiet chunk after loud
ones tells it which one that was). The harness side runs real :func:`harness.runner.run_trial`
sessions, all in this process's one event loop, writing real recordings to a temporary folder;
they start :data:`RAMP_MS` apart. The machine's load average is printed: other jobs on the same
cores show up as jitter (``nice -n -10`` shields the run from them).

Printed: jitter (sent − scheduled, ms) p50/p99/max per session count; the harness process's CPU
per session in % of one core; and |measured − true| voice-to-voice latency p50/p99, where
measured = audible onset − caller speech end from the recordings and true = the server's delay.
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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.runner import SessionOptions, run_trial  # noqa: E402
from harness.runner.recording import Recording  # noqa: E402
from harness.scenario.models import AgentConfig, Scenario, TurnDetection  # noqa: E402

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
    from websockets.asyncio.server import serve  # noqa: PLC0415

    _pin(SERVER_CPU)
    reply = base64.b64encode(np.full(int(RATE * reply_ms / 1000), 6000, dtype="<i2")
                             .tobytes()).decode()

    async def handler(ws) -> None:
        loud_before = False
        last_loud_ns = 0
        n = 0
        tasks: set[asyncio.Task] = set()

        async def respond(due_ns: int, rid: str) -> None:
            await asyncio.sleep(max(0.0, (due_ns - time.perf_counter_ns()) / 1e9))
            await ws.send(json.dumps({"type": "response.created", "response": {"id": rid}}))
            await ws.send(json.dumps({"type": "response.output_audio.delta", "response_id": rid,
                                      "item_id": f"i{rid}", "delta": reply}))
            await ws.send(json.dumps({"type": "response.output_audio.done", "response_id": rid,
                                      "item_id": f"i{rid}"}))
            await ws.send(json.dumps({"type": "response.done",
                                      "response": {"id": rid, "status": "completed"}}))

        async for text in ws:
            now_ns = time.perf_counter_ns()
            if text.startswith('{"type":"input_audio_buffer.append"'):
                if delay_ms < 0:
                    continue
                # loud = the chunk's first sample is non-zero (the bench's speech is a DC block)
                loud = text[45:49] != "AAAA"
                if loud:
                    last_loud_ns = now_ns
                elif loud_before:
                    n += 1
                    task = asyncio.create_task(
                        respond(last_loud_ns + int(delay_ms * 1e6), f"r{n}"))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                loud_before = loud
                continue
            event = json.loads(text)
            if event["type"] == "session.update":
                await ws.send(json.dumps({"type": "session.updated",
                                          "session": event["session"]}))

    async def main() -> None:
        if delay_ms < 0:
            server = await asyncio.get_running_loop().create_server(_Sink, "127.0.0.1", 0)
            port_queue.put(server.sockets[0].getsockname()[1])
            await asyncio.Future()
        async with serve(handler, "127.0.0.1", 0, compression=None, max_queue=None) as server:
            port_queue.put(server.sockets[0].getsockname()[1])
            await asyncio.Future()

    asyncio.run(main())


class _Sink(asyncio.Protocol):
    """The lightest WebSocket server that will do for the jitter runs: it answers the upgrade and
    ``session.update``, then only walks frame headers (pings, the close), never the payloads, so
    200 sessions' 10 000 chunks a second cost it next to nothing and never push back."""

    GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    def connection_made(self, transport) -> None:
        self.transport = transport
        self.buf = b""
        self.upgraded = False
        self.answered = False

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        n = len(payload)
        head = bytes([0x80 | opcode]) + (bytes([n]) if n < 126 else
                                        bytes([126]) + n.to_bytes(2, "big") if n < 65536 else
                                        bytes([127]) + n.to_bytes(8, "big"))
        return head + payload

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            key = next(line.split(b":", 1)[1].strip() for line in self.buf[:end].split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + self.GUID).digest())
            self.transport.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept
                                 + b"\r\n\r\n")
            self.buf = self.buf[end + 4:]
            self.upgraded = True
        while len(self.buf) >= 2:
            opcode, n, pos = self.buf[0] & 0x0F, self.buf[1] & 0x7F, 2
            if n == 126:
                n, pos = int.from_bytes(self.buf[2:4], "big"), 4
            elif n == 127:
                n, pos = int.from_bytes(self.buf[2:10], "big"), 10
            if len(self.buf) < pos + 4 + n:
                return
            mask, payload = self.buf[pos:pos + 4], self.buf[pos + 4:pos + 4 + n]
            self.buf = self.buf[pos + 4 + n:]
            if opcode == 0x1 and not self.answered or opcode in (0x8, 0x9):
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                if opcode == 0x8:
                    self.transport.write(self._frame(0x8, data[:2]))
                    self.transport.close()
                    return
                if opcode == 0x9:
                    self.transport.write(self._frame(0xA, data))
                    continue
                event = json.loads(data)
                if event["type"] == "session.update":
                    self.answered = True
                    self.transport.write(self._frame(0x1, json.dumps(
                        {"type": "session.updated", "session": event["session"]}).encode()))


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


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


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


def jitter(sessions: int, seconds: float) -> tuple[list[float], float]:
    sc = _scenario([{"say": "x", "after_ms": 200},
                    {"silence_ms": int(seconds * 1000), "after_ms": 0}], idle_timeout_ms=0)
    script = _Script(sc, speech_chunks=25)
    with LoopbackServer() as url, tempfile.TemporaryDirectory() as tmp:
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        folders = asyncio.run(_sessions(url, sc, script, sessions, Path(tmp)))
        wall = time.perf_counter() - t0
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        values = []
        for folder in folders:
            for f in Recording.load(folder).events("input_audio_buffer.append"):
                values.append(f.t_ms - f.model_extra["scheduled_ms"])
    return values, 100.0 * cpu / (sessions * wall)


def latency_error(sessions: int, turns: int, delay_ms: float) -> list[float]:
    sc = _scenario([{"say": "x"} for _ in range(turns)], reaction_gap_ms=200,
                   idle_timeout_ms=2000)
    script = _Script(sc, speech_chunks=30)
    errors = []
    with LoopbackServer(delay_ms=delay_ms) as url, tempfile.TemporaryDirectory() as tmp:
        folders = asyncio.run(_sessions(url, sc, script, sessions, Path(tmp)))
        for folder in folders:
            rec = Recording.load(folder)
            ends = [a.speech_end_ms for _, a in rec.annotations("harness.turn.started")]
            onsets = [a.onset_ms for _, a in rec.annotations("harness.playback.audible")]
            if len(onsets) != len(ends):
                raise SystemExit(f"{folder.name}: {len(ends)} turns but {len(onsets)} replies")
            errors += [abs((o - e) - delay_ms) for o, e in zip(onsets, ends, strict=True)]
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="10,100,200")
    parser.add_argument("--seconds", type=float, default=10.0, help="streaming time per session")
    parser.add_argument("--latency-sessions", type=int, default=20)
    parser.add_argument("--latency-turns", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, default=400.0)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print("chunk send jitter (sent - scheduled) and harness CPU, 20 ms chunks")
    print(f"{'sessions':>8} {'chunks':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'CPU %/session':>14}")
    for n in (int(x) for x in args.sessions.split(",")):
        values, cpu = jitter(n, args.seconds)
        print(f"{n:>8} {len(values):>8} {_pct(values, 50):>8.3f} {_pct(values, 99):>8.3f} "
              f"{max(values):>8.3f} {cpu:>14.3f}")
    errors = latency_error(args.latency_sessions, args.latency_turns, args.delay_ms)
    print(f"latency error |measured - true| over {len(errors)} turns "
          f"({args.latency_sessions} sessions, true = {args.delay_ms:g} ms): "
          f"p50 {_pct(errors, 50):.3f} ms, p99 {_pct(errors, 99):.3f} ms, max {max(errors):.3f} ms")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
