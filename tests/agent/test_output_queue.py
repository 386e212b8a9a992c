"""The output buffer of a call whose server plays the agent's audio (WebRTC, SIP): responses
play in order, 20 ms a frame, announced as they start and stop; a response queued right behind
another starts after a pause, so one heard only as audio is still two utterances."""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.agent.output_queue import FRAME_MS, FRAME_SAMPLES, RESPONSE_PAUSE_MS, OutputQueue


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
