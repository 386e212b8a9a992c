"""The agent driven by a client we did not write: the ``openai`` SDK's realtime connection.

The caller speaks and then the client stops sending audio altogether (push-to-talk, a muted
microphone): the agent must still end the turn, let a held utterance run out and answer on
wall-clock time, and finish every response, a tool-call round included.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from agent_client import caller_speech, run, silence
from openai import AsyncOpenAI

from harness import audio
from harness.agent import LocalAgent, agent_config_options
from harness.realtime.dialects import session_config
from harness.scenario.loader import load_agent_config

CLINIC = Path(__file__).resolve().parents[2] / "examples" / "clinic" / "agent.yaml"
READ_BACK = re.compile(r"patient number ([\d, ]+)\.")


async def _speak(conn: Any, pcm: np.ndarray) -> None:
    """Send a clip at real-time pace in 20 ms chunks, then nothing more."""
    data = np.asarray(pcm, dtype="<i2").tobytes()
    chunk = 24000 * 20 // 1000 * 2
    for offset in range(0, len(data), chunk):
        await conn.input_audio_buffer.append(
            audio=base64.b64encode(data[offset:offset + chunk]).decode())
        await asyncio.sleep(0.02)


async def _until_done(conn: Any, seen: list[Any], timeout: float) -> Any:
    """Receive until a response completes (one the caller's going on cancelled does not
    count); every event goes into ``seen``."""
    async with asyncio.timeout(timeout):
        while True:
            event = await conn.recv()
            seen.append(event)
            if event.type == "response.done" and event.response.status != "cancelled":
                return event.response


def _said(response: Any) -> str:
    return " ".join(c.transcript or "" for o in response.output if o.type == "message"
                    for c in o.content)


@pytest.mark.slow
@pytest.mark.calls(1)
def test_the_sdk_client_speaks_stops_sending_and_gets_every_answer() -> None:
    config = load_agent_config(CLINIC)
    # the number in its own clause at 130 words a minute, as the example suites say IDs; said
    # again at another pace when the agent did not get it, as a caller would (the recogniser
    # heard "58830184" at 130 and 110 words a minute and the number at 115-125, after a
    # dependency update on a fresh machine: what it makes of the digits is not this test's
    # concern, the client's exchange is)
    numbers = [audio.synthesize("My patient number is five, eight, three, zero, one, eight, "
                                "four.", voice="en-us", words_per_minute=wpm)
               for wpm in (130, 120, 140)]
    partial = caller_speech("I'd like to check my appointment. My patient number is four, seven,")

    async def call() -> dict[str, Any]:
        async with LocalAgent(**agent_config_options(config)) as agent:
            client = AsyncOpenAI(api_key="not-needed-locally",
                                 websocket_base_url=f"ws://127.0.0.1:{agent.port}/v1")
            out: dict[str, Any] = {}
            async with client.realtime.connect(model="gpt-realtime") as conn:
                # The session the agent config describes, as the harness's runner sends it.
                await conn.session.update(session=session_config(config, config.instructions, "ga"))
                seen: list[Any] = []
                # 1. A cut-off number, then silence from the client: the agent holds the
                # unfinished answer, and on wall-clock time asks for the rest.
                await _speak(conn, np.concatenate([silence(300), partial]))
                out["held"] = await _until_done(conn, seen, 30)
                # 2. The whole number: a read-back.
                for number in numbers:
                    await _speak(conn, np.concatenate([silence(300), number]))
                    out["readback"] = await _until_done(conn, seen, 30)
                    if READ_BACK.search(_said(out["readback"])):
                        break
                # 3. A yes: preamble and the tool call.
                await _speak(conn, np.concatenate([silence(300), caller_speech("Yes.")]))
                out["call"] = await _until_done(conn, seen, 30)
                (fc,) = [o for o in out["call"].output if o.type == "function_call"]
                await conn.conversation.item.create(item={
                    "type": "function_call_output", "call_id": fc.call_id,
                    "output": json.dumps({"day": "Tuesday", "time": "ten thirty"})})
                await conn.response.create()
                out["answer"] = await _until_done(conn, seen, 30)
                out["types"] = [e.type for e in seen]
            return out

    out = run(asyncio.wait_for(call(), 150))
    assert [out[k].status for k in ("held", "readback", "call", "answer")] == ["completed"] * 4
    assert "part of your patient number" in _said(out["held"])
    # What the small recogniser makes of the digits is not this test's concern; that the number
    # read back is the one the tool gets is.
    read_back = READ_BACK.search(_said(out["readback"]))
    assert read_back is not None
    (fc,) = [o for o in out["call"].output if o.type == "function_call"]
    assert fc.name == "find_appointment"
    assert json.loads(fc.arguments) == {"patient_id": re.sub(r"\D", "", read_back.group(1))}
    assert "Tuesday" in _said(out["answer"])
    # Every turn ended although no audio followed it.
    types = out["types"]
    assert types.count("input_audio_buffer.speech_started") == types.count(
        "input_audio_buffer.speech_stopped")
