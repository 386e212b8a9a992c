"""Held utterances over a real socket: the response that holds stays open and silent until the
caller goes on (it is cancelled; the next turn joins the words) or the hold runs out (it
answers)."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
from agent_client import caller_speech, run, session, silence

from harness.agent import start_local_agent
from harness.agent.policy import Say

HOLD_MS = 1000
VAD_500 = {"input": {"transcription": {"model": "whisper-1"},
                     "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}


class HoldingPolicy:
    """Holds every utterance; answers with what it held, joined with what followed, and what
    the recogniser heard when it heard the held turns and the next as one."""

    def __init__(self, session_tools: list[dict[str, Any]], faults: Any) -> None:
        self.held: list[str] = []
        self.as_one: str | None = None

    @property
    def hold_ms(self) -> int | None:
        return HOLD_MS if self.held else None

    def on_user_turn(self, transcript: str, addressed: bool = True, *,
                     heard_as_one: str | None = None) -> list[Any]:
        self.held.append(transcript.strip())
        self.as_one = heard_as_one or self.as_one
        return []

    def on_interrupted(self, spoken_text: str) -> None:
        pass

    def on_tool_output(self, name: str, arguments: dict[str, Any], output: Any) -> list[Any]:
        return []

    def on_no_input(self) -> list[Any]:
        return []

    transcription_prompt = None

    def on_hold_expired(self) -> list[Any]:
        heard, self.held = " ".join(self.held), []
        as_one, self.as_one = self.as_one, None
        return [Say(f"You said: {heard}" + (f" As one: {as_one}" if as_one else ""))]


@pytest.mark.slow
@pytest.mark.calls(1)
def test_a_held_response_stays_open_then_answers_or_gives_way_to_the_caller():
    agent = start_local_agent(policy_factory=HoldingPolicy)
    first, second = caller_speech("My order number is"), caller_speech("eight, three, five.")

    async def call(gap_ms: int) -> list[dict[str, Any]]:
        async with session(agent.url) as client:
            await client.update(audio=VAD_500)
            client.pump()
            await client.stream(np.concatenate(
                [silence(300), first, silence(gap_ms), second, silence(3000)]))
            for _ in range(200):
                done = [e["response"] for e in client.events if e["type"] == "response.done"]
                if len(done) == 2:
                    break
                await asyncio.sleep(0.05)
            created = [e["response"]["id"] for e in client.events
                       if e["type"] == "response.created"]
            assert [r["id"] for r in done] == created
            return done

    async def both() -> list[list[dict[str, Any]]]:
        # 800 ms: the caller goes on within the hold; 5000 ms: the hold runs out in between
        # (and the answer plays out before the caller goes on).
        return await asyncio.gather(call(800), call(5000))

    try:
        joined, expired = run(both())
    finally:
        agent.stop()
    # Going on cancels the silent response; the next one answers both parts together.
    assert [r["status"] for r in joined] == ["cancelled", "completed"]
    assert joined[0]["output"] == []
    (text,) = [c["transcript"] for c in joined[1]["output"][0]["content"]]
    assert "order number" in text.lower() and text.count("You said") == 1
    assert "3" in text or "three" in text.lower()
    # ... and hears the two turns again as one utterance, both parts in one transcript.
    as_one = text.split("As one:")[1].lower()
    assert "order number" in as_one and ("5" in as_one or "five" in as_one)
    # The hold ran out: the first response answers the first part alone, the second the rest.
    assert [r["status"] for r in expired] == ["completed", "completed"]
    answers = [r["output"][0]["content"][0]["transcript"] for r in expired]
    assert "order number" in answers[0].lower() and "5" not in answers[0]
    assert not any("As one" in a for a in answers)  # nothing went on from a held turn
