"""The output buffer of a call whose server plays the agent's audio (WebRTC, SIP): responses
play in order, 20 ms a frame, announced as they start and stop; a response queued right behind
another starts after a pause, so one heard only as audio is still two utterances."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import numpy as np

from harness.agent.output_queue import FRAME_MS, FRAME_SAMPLES, RESPONSE_PAUSE_MS, OutputQueue
from harness.agent.sip_call import TOOL_AFTER_PLAYED_MS, SipAgentSession


def _tone(ms: int) -> np.ndarray:
    return np.full(ms * FRAME_SAMPLES // FRAME_MS, 5000, dtype=np.int16)


def _play(queue: OutputQueue, frames: int) -> list[bool]:
    return [bool(queue.take_frame().any()) for _ in range(frames)]


def test_a_response_behind_another_starts_after_a_pause() -> None:
    events: list[dict[str, Any]] = []
    queue = OutputQueue(events.append)
    queue.add("resp_1", "item_1", _tone(100))  # the preamble
    queue.add("resp_2", "item_2", _tone(100))  # the answer, queued while it plays
    queue.response_done("resp_1")
    queue.response_done("resp_2")
    sound = _play(queue, 5 + RESPONSE_PAUSE_MS // FRAME_MS + 5 + 2)
    pause = RESPONSE_PAUSE_MS // FRAME_MS
    assert sound == [True] * 5 + [False] * pause + [True] * 5 + [False] * 2
    kinds = [(e["type"].rsplit(".", 1)[1], e["response_id"]) for e in events]
    assert kinds == [("started", "resp_1"), ("stopped", "resp_1"), ("started", "resp_2"),
                     ("stopped", "resp_2")]


def test_a_response_after_silence_starts_at_once() -> None:
    queue = OutputQueue(lambda _e: None)
    queue.add("resp_1", "item_1", _tone(40))
    queue.response_done("resp_1")
    assert _play(queue, 4) == [True, True, False, False]
    queue.add("resp_2", "item_2", _tone(40))
    assert _play(queue, 2) == [True, True]


def test_played_ms_follows_a_response_from_the_buffer_to_its_end() -> None:
    queue = OutputQueue(lambda _e: None)
    queue.add("resp_1", "item_1", _tone(100))
    queue.add("resp_2", "item_2", _tone(60))
    assert queue.played_ms("resp_1") == queue.played_ms("resp_2") == 0.0
    assert queue.played_ms("resp_none") is None  # no audio of it was ever queued
    _play(queue, 2)
    assert queue.played_ms("resp_1") == 2 * FRAME_MS and queue.played_ms("resp_2") == 0.0
    _play(queue, 3 + RESPONSE_PAUSE_MS // FRAME_MS + 1)
    assert queue.played_ms("resp_1") is None and queue.played_ms("resp_2") == FRAME_MS
    queue.clear()
    assert queue.played_ms("resp_2") is None


def test_a_sip_calls_tools_go_out_once_its_preamble_has_played_a_while() -> None:
    async def go(audio_ms: int) -> tuple[int, list[dict[str, Any]]]:
        queue = OutputQueue(lambda _e: None)
        if audio_ms:
            queue.add("resp_1", "item_1", _tone(audio_ms))
        queue.response_done("resp_1")
        frames_at_call: list[int] = []
        frames = 0

        async def call_tool(call: dict[str, Any]) -> str:
            frames_at_call.append(frames)
            return "{}"

        sent: list[dict[str, Any]] = []
        session = SimpleNamespace(output=queue, _call_tool=call_tool,
                                  connection=SimpleNamespace(put=sent.append))
        task = asyncio.ensure_future(SipAgentSession._answer_calls(
            session, "resp_1", [{"call_id": "call_1", "name": "lookup_order"}]))
        await asyncio.sleep(0)  # the task runs up to its first wait
        while not task.done():  # the call's play-out, 20 ms a frame
            queue.take_frame()
            frames += 1
            await asyncio.sleep(FRAME_MS / 1000.0)
        await task
        return frames_at_call[0], sent

    played, sent = asyncio.run(go(1500))  # a preamble of 1.5 s: out after its first 300 ms
    after = TOOL_AFTER_PLAYED_MS // FRAME_MS
    assert after <= played <= after + 2, played
    assert [e["type"] for e in sent] == ["conversation.item.create", "response.create"]
    played = asyncio.run(go(200))[0]  # a shorter one: once all of it has played
    assert 200 // FRAME_MS <= played <= 200 // FRAME_MS + 3, played
    assert asyncio.run(go(0))[0] <= 1  # no audio (no preamble): at once
