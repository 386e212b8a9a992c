"""Voice-to-voice latency of the local reference agent: caller speech end → first audio delta.

Renders the caller utterances of the example suite (``scenarios/``), streams each one in real
time (20 ms chunks, like a microphone) into a fresh session of the agent with the support-desk
tools and server VAD at 500 ms silence, and measures, per utterance that gets a spoken answer:

- time to first audio delta: first ``response.output_audio.delta`` arrival − the send time of
  the chunk holding the last speech sample (``docs/architecture.md``);
- endpointing delay: ``input_audio_buffer.speech_stopped`` arrival − the same speech end.

It runs the utterances one session at a time, then in 4 concurrent sessions (each call starts at
a random offset within a second, as independent calls would), and prints p50/p95 for both.

    .venv/bin/python bench/agent.py [--limit N] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import random
import statistics
import time
from pathlib import Path

import numpy as np
import yaml
from websockets.asyncio.client import connect

from harness.agent import start_local_agent
from harness.audio import render_scenario
from harness.scenario.loader import load_scenario

ROOT = Path(__file__).resolve().parents[1]
RATE = 24000
CHUNK = RATE // 50  # 20 ms
SILENCE_MS = 500


def caller_utterances(limit: int | None) -> list[tuple[str, np.ndarray, int]]:
    """(label, samples, speech end sample) of each distinct caller turn of the example suite."""
    seen: set[str] = set()
    out: list[tuple[str, np.ndarray, int]] = []
    for path in sorted((ROOT / "scenarios").glob("*.yaml")):
        if path.name.startswith("_"):
            continue
        scenario = load_scenario(path)
        script = render_scenario(scenario)
        for index, turn in enumerate(script.turns):
            if turn.speech_end_sample is None:
                continue
            key = turn.samples.tobytes()
            if key in seen:
                continue
            seen.add(key)
            out.append((f"{scenario.name}[{index}]", np.asarray(turn.samples, dtype=np.int16),
                        int(turn.speech_end_sample)))
    return out[:limit] if limit else out


def session_tools() -> list[dict]:
    agent = yaml.safe_load((ROOT / "agents" / "support.yaml").read_text())
    return [{"type": "function", "name": t["name"], "description": t.get("description", ""),
             "parameters": t["parameters"]} for t in agent["tools"]]


async def one_call(url: str, samples: np.ndarray, speech_end: int,
                   tools: list[dict]) -> tuple[float | None, float | None]:
    """(first audio delta − speech end, speech_stopped − speech end) in ms; None if absent."""
    async with connect(url + "?model=gpt-realtime", max_size=None) as ws:
        await ws.send(json.dumps({"type": "session.update", "session": {
            "type": "realtime", "tools": tools,
            "audio": {"input": {"turn_detection": {
                "type": "server_vad", "silence_duration_ms": SILENCE_MS}}}}}))
        lead = np.zeros(RATE * 3 // 10, dtype=np.int16)
        stream = np.concatenate([lead, samples, np.zeros(RATE * 3, dtype=np.int16)])
        end_sample = len(lead) + speech_end
        marks: dict[str, float] = {}

        async def receive() -> None:
            async for frame in ws:
                event_type = json.loads(frame)["type"]
                now = time.perf_counter()
                # Only what follows the utterance's end counts: an utterance with a mid-sentence
                # pause may draw a (held, silent) response before it ends.
                if "speech_end" not in marks:
                    continue
                if event_type == "input_audio_buffer.speech_stopped":
                    marks.setdefault("stopped", now)
                elif event_type == "response.output_audio.delta":
                    marks.setdefault("audio", now)
                    return

        receiver = asyncio.ensure_future(receive())
        start = time.perf_counter()
        for k in range(0, len(stream), CHUNK):
            due = start + (k // CHUNK + 1) * 0.02
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            chunk = base64.b64encode(stream[k:k + CHUNK].tobytes()).decode()
            await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": chunk}))
            if k <= end_sample < k + CHUNK:
                marks["speech_end"] = time.perf_counter()
            if receiver.done():
                break
        receiver.cancel()
    end = marks["speech_end"]
    audio = (marks["audio"] - end) * 1000 if "audio" in marks else None
    stopped = (marks["stopped"] - end) * 1000 if "stopped" in marks else None
    return audio, stopped


async def run_all(url: str, utterances: list, concurrency: int) -> list[tuple]:
    tools = session_tools()
    queue = list(utterances)
    results: list[tuple] = []
    rng = random.Random(7)

    async def worker() -> None:
        await asyncio.sleep(rng.random())
        while queue:
            label, samples, end = queue.pop(0)
            results.append((label, *await one_call(url, samples, end, tools)))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return results


def summary(name: str, results: list[tuple]) -> float:
    audio = sorted(r[1] for r in results if r[1] is not None)
    stopped = sorted(r[2] for r in results if r[2] is not None)
    p50 = statistics.median(audio)
    p95 = audio[min(len(audio) - 1, int(round(0.95 * (len(audio) - 1))))]
    print(f"{name}: n={len(audio)} answered of {len(results)} | speech end → first audio delta "
          f"p50 {p50:.0f} ms, p95 {p95:.0f} ms | endpointing p50 "
          f"{statistics.median(stopped):.0f} ms (VAD silence {SILENCE_MS} ms)")
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="at most this many utterances")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    utterances = caller_utterances(args.limit)
    handle = start_local_agent("support_desk")
    try:
        alone = summary("alone", asyncio.run(run_all(handle.url, utterances, 1)))
        # Each of the concurrent sessions gets the whole set, so every session is busy.
        many = summary(f"{args.concurrency} sessions", asyncio.run(
            run_all(handle.url, utterances * args.concurrency, args.concurrency)))
    finally:
        handle.stop()
    print(f"p50 rise at {args.concurrency} sessions: {100 * (many / alone - 1):+.0f} %")


if __name__ == "__main__":
    main()
