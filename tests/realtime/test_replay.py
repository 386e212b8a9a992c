"""The three recorded OpenAI sessions, served back by a replay server, run through the client."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from websockets.asyncio.server import serve

from harness.realtime import RealtimeProtocol, Target
from harness.realtime.client import RealtimeConnection
from harness.realtime.protocol import (
    AudioDelta,
    FunctionCallReady,
    ResponseDone,
    ServerError,
    SessionReady,
    SpeechStarted,
)

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "realtime-cassettes"
NAMES = ["openai_ga_text_in_audio_out_turn", "openai_ga_tool_call_round",
         "openai_ga_audio_in_server_vad_turn"]


def _interactions(name: str) -> list[dict]:
    return yaml.safe_load((CASSETTES / f"{name}.yaml").read_text())["interactions"]


class ReplayServer:
    """Answers the client's frames with the recorded ones: it sends each run of received frames
    once the client has sent the recorded frames before it (matched by type, in order)."""

    def __init__(self, interactions: list[dict]):
        self.interactions = interactions
        self.mismatches: list[str] = []

    async def handler(self, ws) -> None:
        for step in self.interactions:
            data = step["data"]
            if step["direction"] == "received":
                await ws.send(json.dumps(data))
            else:
                got = json.loads(await ws.recv())
                if got["type"] != data["type"]:
                    self.mismatches.append(f"expected {data['type']}, got {got['type']}")
        await ws.close()


async def _replay(name: str) -> tuple[RealtimeProtocol, list, list, ReplayServer]:
    interactions = _interactions(name)
    server = ReplayServer(interactions)
    async with serve(server.handler, "127.0.0.1", 0) as srv:
        port = srv.sockets[0].getsockname()[1]
        conn = await RealtimeConnection.open(Target("replay", f"ws://127.0.0.1:{port}/v1/realtime"))
        proto = RealtimeProtocol("ga")
        received, notices = [], []

        async def client_sends() -> None:
            # the client sends what the recorded client sent, in order
            for step in interactions:
                if step["direction"] == "sent":
                    await conn.send(step["data"])

        async def client_receives() -> None:
            expected = sum(1 for s in interactions if s["direction"] == "received")
            for i in range(expected):
                text, _ = await conn.recv()
                rec = proto.receive(text, float(i))
                received.append(rec)
                notices.extend(rec.notices)

        await asyncio.wait_for(asyncio.gather(client_sends(), client_receives()), timeout=10)
        await conn.close()
    return proto, received, notices, server


@pytest.mark.parametrize("name", NAMES)
def test_cassette_replays_through_the_client(name):
    proto, received, notices, server = asyncio.run(_replay(name))
    recorded = [s["data"] for s in _interactions(name) if s["direction"] == "received"]
    assert server.mismatches == []
    assert [r.type for r in received] == [d["type"] for d in recorded]  # all GA already
    assert not [n for n in notices if isinstance(n, ServerError)]
    assert sum(isinstance(n, SessionReady) for n in notices) == 1
    dones = [n for n in notices if isinstance(n, ResponseDone)]
    assert dones and all(d.status == "completed" for d in dones)
    assert not proto.in_progress()
    audio = [n for n in notices if isinstance(n, AudioDelta)]
    assert len(audio) == sum(d["type"] == "response.output_audio.delta" for d in recorded)
    calls = [n.call for n in notices if isinstance(n, FunctionCallReady)]
    if name == "openai_ga_tool_call_round":
        assert [(c.name, json.loads(c.arguments_raw)) for c in calls] == \
            [("get_weather", {"city": "London"})]
        assert len(dones) == 2 and "London" in proto.responses[dones[1].response_id].transcript
    else:
        assert calls == [] and len(dones) == 1
        transcript = proto.responses[dones[0].response_id].transcript
        assert transcript == "".join(
            d["delta"] for d in recorded if d["type"] == "response.output_audio_transcript.delta")
    if name == "openai_ga_audio_in_server_vad_turn":
        assert any(isinstance(n, SpeechStarted) for n in notices)
