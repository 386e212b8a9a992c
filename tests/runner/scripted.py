"""Test doubles for runner tests: a tone-based caller script and a scripted realtime server.

The server is a real WebSocket server on 127.0.0.1:0 with a crude energy VAD: it answers each
caller turn with a tone "reply" streamed faster than real time, and can misbehave on purpose
(audio after cancel, events out of order, a dropped connection, silence, beta event names).
"""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from websockets.asyncio.server import serve

from harness.audio import decode_g711, encode_g711
from harness.scenario.models import AgentConfig, Scenario, ToolSpec, TurnDetection

RATE = 24_000
SPEECH_AMP = 8000
REPLY_AMP = 6000


def tone(ms: float, amp: int = SPEECH_AMP, freq: float = 300.0) -> np.ndarray:
    n = int(RATE * ms / 1000)
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / RATE)).astype(np.int16)


def silence(ms: float) -> np.ndarray:
    return np.zeros(int(RATE * ms / 1000), dtype=np.int16)


@dataclass
class FakeTurnAudio:
    samples: np.ndarray
    speech_onset_sample: int | None
    speech_end_sample: int | None
    pauses: list[tuple[int, int]]
    spoken_text: str | None
    addressed: bool
    cut_off: bool = False


class FakeScript:
    """A CallerScript stand-in: each say turn is 100 ms silence + tone(s) + 100 ms silence."""

    def __init__(self, scenario: Scenario, speech_ms: float = 500.0):
        self.turns: list[FakeTurnAudio] = []
        for turn in scenario.turns:
            if turn.kind in ("say", "audio"):
                parts = [silence(100)]
                pauses = []
                pos = len(parts[0])
                for seg in turn.segments or [turn.text or ""]:
                    if isinstance(seg, str):
                        parts.append(tone(speech_ms))
                    else:
                        pauses.append((pos, pos + int(RATE * seg.pause_ms / 1000)))
                        parts.append(silence(seg.pause_ms))
                    pos += len(parts[-1])
                end = pos - 1
                parts.append(silence(100))
                self.turns.append(FakeTurnAudio(np.concatenate(parts), len(parts[0]), end,
                                                pauses, turn.spoken_text, True))
            elif turn.kind == "silence":
                self.turns.append(FakeTurnAudio(silence(turn.silence_ms or 0), None, None, [],
                                                None, False))
            else:
                assert turn.play is not None
                rng = np.random.default_rng(0)
                noise = rng.integers(-300, 300, int(RATE * turn.play.ms / 1000)).astype(np.int16)
                self.turns.append(FakeTurnAudio(noise, None, None, [], None, False))

    def bed(self, turn_index: int | None) -> None:
        return None


def scenario(turns: list[dict[str, Any]], *, tools: dict[str, Any] | None = None,
             turn_detection: TurnDetection | None | str = "default",
             declared: list[str] | None = None, formats: str = "audio/pcm",
             **kw: Any) -> Scenario:
    """A scenario with an attached agent config (what the loader would produce)."""
    sc = Scenario.model_validate({"name": "t", "turns": turns, "tools": tools or {},
                                  "expect": [{"turn_answered": {}}],
                                  "reaction_gap_ms": 200, "idle_timeout_ms": 600, **kw})
    td = TurnDetection(silence_duration_ms=200) if turn_detection == "default" else turn_detection
    sc.agent_config = AgentConfig(
        instructions="test", turn_detection=td, input_audio_format=formats,
        output_audio_format=formats,
        tools=[ToolSpec(name=n, parameters={"type": "object", "properties": {
            "order_id": {"type": "string"}}}) for n in (declared or [])])
    return sc


# --------------------------------------------------------------------------- the server


@dataclass
class Behaviour:
    reply_ms: float = 600.0
    reply_delay_ms: float = 150.0
    delta_ms: float = 100.0
    delta_interval_ms: float = 10.0
    vad_silence_ms: float = 200.0
    beta: bool = False
    silent: bool = False
    mute: bool = False  # sets the session up and runs VAD, but never creates a response
    audio_after_cancel: bool = False
    out_of_order: bool = False
    disconnect_after_deltas: int | None = None
    tool_call: dict[str, Any] | None = None
    invented_tool: bool = False
    manual: bool = False
    g711: bool = False


@dataclass
class ServerLog:
    received: list[dict[str, Any]] = field(default_factory=list)
    sent: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e for e in self.received if e.get("type") == type_]


class _Conn:
    def __init__(self, ws: Any, b: Behaviour, log: ServerLog):
        self.ws, self.b, self.log = ws, b, log
        self.n = 0
        self.in_speech = False
        self.quiet_chunks = 0
        self.response: asyncio.Task[None] | None = None
        self.cancelled = False
        self.tool_done = False

    def name(self, ga: str) -> str:
        beta = {"response.output_audio.delta": "response.audio.delta",
                "response.output_audio.done": "response.audio.done",
                "response.output_audio_transcript.delta": "response.audio_transcript.delta",
                "conversation.item.added": "conversation.item.created"}
        return beta.get(ga, ga) if self.b.beta else ga

    async def send(self, ev: dict[str, Any]) -> None:
        ev = {**ev, "type": self.name(ev["type"])}
        self.log.sent.append(ev)
        await self.ws.send(json.dumps(ev))

    async def run(self) -> None:
        self.log.headers.append(dict(self.ws.request.headers))
        await self.send({"type": "session.created", "session": {"id": "sess_1"}})
        async for text in self.ws:
            ev = json.loads(text)
            self.log.received.append(ev if ev["type"] != "input_audio_buffer.append"
                                     else {"type": ev["type"]})
            await self.on_event(ev)

    async def on_event(self, ev: dict[str, Any]) -> None:
        t = ev["type"]
        if t == "session.update":
            if not self.b.silent:
                await self.send({"type": "session.updated", "session": ev["session"]})
        elif t == "input_audio_buffer.append" and not self.b.manual:
            raw = base64.b64decode(ev["audio"])
            pcm = decode_g711(raw, "ulaw") if self.b.g711 else np.frombuffer(raw, dtype="<i2")
            loud = np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 1500 if len(pcm) else False
            chunk_ms = len(pcm) * 1000 / (8000 if self.b.g711 else RATE)
            if loud and not self.in_speech:
                self.in_speech = True
                await self.send({"type": "input_audio_buffer.speech_started",
                                 "item_id": f"in_{self.n}", "audio_start_ms": 0})
                if self.response is not None and not self.response.done():
                    await self.cancel()
            if loud:
                self.quiet_chunks = 0
            elif self.in_speech:
                self.quiet_chunks += 1
                if self.quiet_chunks * chunk_ms >= self.b.vad_silence_ms:
                    self.in_speech = False
                    await self.send({"type": "input_audio_buffer.speech_stopped",
                                     "item_id": f"in_{self.n}", "audio_end_ms": 0})
                    await self.start_response(delay=True)
        elif t == "input_audio_buffer.commit":
            await self.send({"type": "input_audio_buffer.committed", "item_id": f"in_{self.n}"})
        elif t == "response.create":
            await self.start_response(delay=False)
        elif t == "response.cancel":
            await self.cancel()

    async def cancel(self) -> None:
        if self.b.audio_after_cancel:
            return  # a sloppy server: the response keeps streaming
        self.cancelled = True

    async def start_response(self, delay: bool) -> None:
        if self.b.mute:
            return
        self.n += 1
        self.cancelled = False
        self.response = asyncio.create_task(self.respond(self.n, delay))

    async def respond(self, n: int, delay: bool) -> None:
        if delay:
            await asyncio.sleep(self.b.reply_delay_ms / 1000)
        rid, item = f"resp_{n}", f"item_{n}"
        if (self.b.tool_call or self.b.invented_tool) and not self.tool_done:
            self.tool_done = True
            call = self.b.tool_call or {"name": "launch_rocket", "arguments": "{}"}
            await self.send({"type": "response.created", "response": {"id": rid}})
            fc = {"type": "function_call", "id": f"fc_{n}", "call_id": f"call_{n}",
                  "name": call["name"], "arguments": call["arguments"], "status": "completed"}
            await self.send({"type": "response.function_call_arguments.done",
                             "response_id": rid, "item_id": fc["id"], "call_id": fc["call_id"],
                             "name": fc["name"], "arguments": fc["arguments"]})
            await self.send({"type": "response.output_item.done", "response_id": rid,
                             "item": fc})
            await self.send({"type": "response.done", "response": {
                "id": rid, "status": "completed", "output": [fc]}})
            return
        audio = tone(self.b.reply_ms, REPLY_AMP, 500.0)
        step = int(RATE * self.b.delta_ms / 1000)
        if self.b.g711:  # μ-law at 8 kHz: one byte per sample
            audio = np.frombuffer(encode_g711(audio, "ulaw"), dtype=np.uint8)
            step //= 3
        if not self.b.out_of_order:
            await self.send({"type": "response.created", "response": {"id": rid}})
            await self.send({"type": "response.output_item.added", "response_id": rid,
                             "item": {"id": item, "type": "message", "role": "assistant"}})
        await self.send({"type": "response.output_audio_transcript.delta", "response_id": rid,
                         "item_id": item, "delta": f"reply number {n}"})
        sent = 0
        for i in range(0, len(audio), step):
            if self.cancelled:
                break
            await self.send({"type": "response.output_audio.delta", "response_id": rid,
                             "item_id": item, "content_index": 0,
                             "delta": base64.b64encode(audio[i:i + step].tobytes()).decode()})
            sent += 1
            if self.b.out_of_order and sent == 1:
                await self.send({"type": "response.created", "response": {"id": rid}})
            cut = self.b.disconnect_after_deltas
            if cut is not None and sent >= cut:
                # what was sent goes out before the line drops: abort() discards what the
                # transport still buffers (under load the last delta was lost that way)
                while self.ws.transport.get_write_buffer_size():
                    await asyncio.sleep(0.001)
                self.ws.transport.abort()
                return
            await asyncio.sleep(self.b.delta_interval_ms / 1000)
        status = "cancelled" if self.cancelled else "completed"
        done = {"type": "response.done", "response": {"id": rid, "status": status}}
        audio_done = {"type": "response.output_audio.done", "response_id": rid, "item_id": item}
        for ev in ([done, audio_done] if self.b.out_of_order else [audio_done, done]):
            await self.send(ev)


class ScriptedServer:
    """``async with ScriptedServer(Behaviour(...)) as srv:`` → ``srv.url``, ``srv.log``."""

    def __init__(self, behaviour: Behaviour | None = None):
        self.behaviour = behaviour or Behaviour()
        self.log = ServerLog()
        self.url = ""

    async def _handler(self, ws: Any) -> None:
        conn = _Conn(ws, self.behaviour, self.log)
        try:
            await conn.run()
        finally:
            if conn.response is not None:
                conn.response.cancel()

    async def __aenter__(self) -> ScriptedServer:
        self._server = await serve(self._handler, "127.0.0.1", 0, compression=None)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self._server.close()
        await self._server.wait_closed()
