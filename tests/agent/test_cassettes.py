"""Replaying the client frames of real ``gpt-realtime`` sessions against the local agent.

The agent must answer with the same sequence of server event types as the service did (how
many deltas of a kind aside). The recorder shortened the audio payloads, so the appended audio of
the server-VAD session is replaced by a rendered caller line saying what the recording's
transcript says, followed by silence. The scripted policy answers the way the service did
(a function call for the weather question, a spoken greeting otherwise).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from agent_client import caller_speech, run, session, silence

CASSETTES = Path(__file__).resolve().parents[1] / "fixtures" / "realtime-cassettes"
# The recorded sessions end with the client hanging up right after response.done; the
# rate_limits.updated the agent sends after it is therefore absent from the recordings.
NOT_RECORDED = {"rate_limits.updated"}


def _without_deltas(types: list[str]) -> list[str]:
    return [t for t in types if not t.endswith(".delta") and t not in NOT_RECORDED]


def _load(name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((CASSETTES / name).read_text())["interactions"]


async def _replay(url: str, interactions: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    """Send the cassette's client frames in order, each once the events the service had sent
    before it have arrived; return (recorded types, agent's types) of server events."""
    recorded = [i["data"]["type"] for i in interactions if i["direction"] == "received"]
    async with session(url) as client:
        waiting_for: list[str] = []
        steps = interactions[1:]  # session.created came with the connection
        for k, step in enumerate(steps):
            data = step["data"]
            if step["direction"] == "received":
                waiting_for.append(data["type"])
                continue
            if waiting_for:
                await client.until(waiting_for[-1])
                waiting_for = []
            if data["type"] == "input_audio_buffer.append":
                following = steps[k + 1]["data"]["type"] if k + 1 < len(steps) else None
                if following == "input_audio_buffer.append":
                    continue
                # The shortened recording said "Hello, my name is Marcelo." (its transcript).
                clip = caller_speech("Hello, my name is Marcelo.")
                await client.stream(np.concatenate([silence(400), clip, silence(1500)]), speed=4)
                continue
            if data.get("item", {}).get("type") == "function_call_output":
                # The output answers the agent's call, whose id differs from the recording's.
                call = [e for e in client.events
                        if e["type"] == "response.function_call_arguments.done"][-1]
                data = {**data, "item": {**data["item"], "call_id": call["call_id"]}}
            await client.ws.send(json.dumps(data))
        await client.until(waiting_for[-1])
        # Anything the agent sends after the last recorded event belongs to the comparison too.
        try:
            while True:
                await client.recv(timeout=0.5)
        except TimeoutError:
            pass
        return recorded[1:], client.types()[1:]


@pytest.mark.parametrize("name", [
    "openai_ga_text_in_audio_out_turn.yaml",
    "openai_ga_tool_call_round.yaml",
    "openai_ga_audio_in_server_vad_turn.yaml",
])
def test_agent_answers_cassette_with_same_event_sequence(scripted_agent, name):
    recorded, answered = run(_replay(scripted_agent.url, _load(name)))
    assert _without_deltas(answered) == _without_deltas(recorded)
    # The same kinds of deltas, too (only their number may differ).
    assert ({t for t in answered if t.endswith(".delta")}
            == {t for t in recorded if t.endswith(".delta")})


def test_session_events_have_the_recorded_fields(scripted_agent):
    recorded = _load("openai_ga_audio_in_server_vad_turn.yaml")[0]["data"]["session"]

    async def created() -> dict[str, Any]:
        async with session(scripted_agent.url) as client:
            return client.events[0]["session"]

    ours = run(created())
    assert list(ours) == list(recorded)
    assert list(ours["audio"]["input"]) == list(recorded["audio"]["input"])
    assert ours["audio"]["input"]["turn_detection"] == recorded["audio"]["input"]["turn_detection"]
    assert ours["id"].startswith("sess_") and ours["expires_at"] > 0


def test_replayed_sessions_run_concurrently(scripted_agent):
    """Two replays at once on one agent stay independent (each sees its own sequence)."""
    async def both() -> list[tuple[list[str], list[str]]]:
        return await asyncio.gather(
            _replay(scripted_agent.url, _load("openai_ga_tool_call_round.yaml")),
            _replay(scripted_agent.url, _load("openai_ga_text_in_audio_out_turn.yaml")))

    for recorded, answered in run(both()):
        assert _without_deltas(answered) == _without_deltas(recorded)
