"""A checking Realtime client and a scripted policy for the local agent's tests.

Every server event the client receives is validated against the ``openai`` package's
``RealtimeServerEvent`` union, so a shape the real service would not send fails the test that
caused it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter
from websockets.asyncio.client import ClientConnection, connect

from harness import audio
from harness.agent.policy import CallTool, Say

SERVER_EVENT = TypeAdapter(RealtimeServerEvent)
CALLER_VOICE = "en-us"
CHUNK_MS = 20


class ScriptedPolicy:
    """A tiny stand-in for the profile policy: fixed answers, so tests check the server only."""

    long_answer = (
        "Here is everything I can do for you today. I can look up an order and tell you when "
        "it ships. I can cancel an order that has not shipped yet. I can change the email "
        "address on your account. And I can put you through to a colleague at any time.")

    def __init__(self, session_tools: list[dict[str, Any]], faults: Any) -> None:
        self.tools = [t["name"] for t in session_tools]
        self.interrupted: list[str] = []

    def on_user_turn(self, transcript: str, addressed: bool = True, *,
                     heard_as_one: str | None = None) -> list[Any]:
        if not addressed:
            return []
        lowered = transcript.lower()
        if "weather" in lowered and "get_weather" in self.tools:
            return [CallTool("get_weather", {"city": "London"})]
        if "order" in lowered and "lookup_order" in self.tools:
            return [Say("Let me look that up."), CallTool("lookup_order", {"order_id": "83521"})]
        if "everything" in lowered or "help me with" in lowered:
            return [Say(self.long_answer)]
        if not transcript.strip():
            return []
        return [Say("Hello, nice to meet you. How can I help you today?")]

    def on_tool_output(self, name: str, arguments: dict[str, Any], output: Any) -> list[Any]:
        return [Say(f"Here is what I found: {output}")]

    def on_no_input(self) -> list[Any]:
        return [Say("Are you still there?")]

    def on_interrupted(self, spoken_text: str) -> None:
        self.interrupted.append(spoken_text)

    hold_ms = None
    transcription_prompt = None

    def on_hold_expired(self) -> list[Any]:
        return []


def scripted_factory(session_tools: list[dict[str, Any]], faults: Any) -> ScriptedPolicy:
    return ScriptedPolicy(session_tools, faults)


def caller_speech(text: str, rate: int = 24000) -> np.ndarray:
    """A caller line as the harness renders it (espeak-ng, the default caller voice)."""
    return audio.synthesize(text, voice=CALLER_VOICE, sample_rate=rate)


class Client:
    """A Realtime client for tests: validates and timestamps every server event."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.t0 = time.perf_counter()
        self.events: list[dict[str, Any]] = []
        self.times: list[float] = []
        self.raw_invalid: list[str] = []
        self._pump: asyncio.Task[None] | None = None

    def now_ms(self) -> float:
        return (time.perf_counter() - self.t0) * 1000.0

    async def send(self, event_type: str, **fields: Any) -> None:
        await self.ws.send(json.dumps({"type": event_type, **fields}))

    async def recv(self, timeout: float = 20.0) -> dict[str, Any]:
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
            try:
                event = json.loads(frame)
            except ValueError:
                self.raw_invalid.append(frame)
                continue
            SERVER_EVENT.validate_python(event)
            self.events.append(event)
            self.times.append(self.now_ms())
            return event

    async def until(self, event_type: str, timeout: float = 20.0, **match: Any) -> dict[str, Any]:
        """Receive until an event of ``event_type`` (whose fields equal ``match``) arrives."""
        deadline = time.perf_counter() + timeout
        while True:
            event = await self.recv(max(0.01, deadline - time.perf_counter()))
            if event["type"] == event_type and all(event.get(k) == v for k, v in match.items()):
                return event

    def pump(self) -> asyncio.Task[None]:
        """Receive (and timestamp) events in the background, for tests that stream meanwhile;
        wait for them with :meth:`wait`."""
        async def receive() -> None:
            while True:
                await self.recv(timeout=3600)

        self._pump = asyncio.ensure_future(receive())
        return self._pump

    async def wait(self, event_type: str, timeout: float = 20.0, after: int = 0,
                   where: Callable[[dict[str, Any]], bool] | None = None,
                   **match: Any) -> tuple[dict[str, Any], float]:
        """With :meth:`pump` running: the first event of ``event_type`` at index ≥ ``after``
        (matching ``match``, and ``where`` when given) and its arrival time in ms."""
        deadline = time.perf_counter() + timeout
        while True:
            for event, t in zip(self.events[after:], self.times[after:], strict=True):
                if event["type"] == event_type and all(
                        event.get(k) == v for k, v in match.items()) and (
                        where is None or where(event)):
                    return event, t
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no {event_type} in {self.types()}")
            await asyncio.sleep(0.01)

    def types(self) -> list[str]:
        return [e["type"] for e in self.events]

    def first(self, event_type: str) -> tuple[dict[str, Any], float]:
        for event, t in zip(self.events, self.times, strict=True):
            if event["type"] == event_type:
                return event, t
        raise AssertionError(f"no {event_type} in {self.types()}")

    async def update(self, **session: Any) -> dict[str, Any]:
        await self.send("session.update", session={"type": "realtime", **session})
        return await self.until("session.updated")

    async def stream(self, pcm: np.ndarray | bytes, *, speed: float = 1.0,
                     rate: int = 24000, encoding: str = "pcm") -> None:
        """Send audio in 20 ms chunks, ``speed`` times faster than real time."""
        if encoding == "pcm":
            data = np.asarray(pcm, dtype="<i2").tobytes()
            chunk = rate * CHUNK_MS // 1000 * 2
        else:
            data = bytes(pcm)
            chunk = rate * CHUNK_MS // 1000
        start = time.perf_counter()
        for k, offset in enumerate(range(0, len(data), chunk)):
            await self.send("input_audio_buffer.append",
                            audio=base64.b64encode(data[offset:offset + chunk]).decode())
            due = start + (k + 1) * CHUNK_MS / 1000.0 / speed
            await asyncio.sleep(max(0.0, due - time.perf_counter()))


def session(url: str, faults: str | None = None):
    """Connect to the agent (``faults`` go in the URL query)."""
    query = "?model=gpt-realtime" + (f"&faults={faults}" if faults else "")
    return _Session(url + query)


class _Session:
    def __init__(self, url: str) -> None:
        self.url = url

    async def __aenter__(self) -> Client:
        self._cm = connect(self.url, max_size=None)
        client = self.client = Client(await self._cm.__aenter__())
        created = await client.until("session.created")
        assert created["session"]["object"] == "realtime.session"
        return client

    async def __aexit__(self, *exc_info: object) -> None:
        if self.client._pump is not None:
            self.client._pump.cancel()
        await self._cm.__aexit__(*exc_info)


def silence(ms: int, rate: int = 24000) -> np.ndarray:
    return np.zeros(rate * ms // 1000, dtype=np.int16)


def run(coro: Any) -> Any:
    """Run a test coroutine (the suite has no asyncio plugin)."""
    return asyncio.run(coro)
