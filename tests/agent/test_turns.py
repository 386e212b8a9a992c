"""Spoken turns over a real socket: caller audio in, transcription and a spoken answer out;
barge-in, the idle timeout and the turn-level gate for audio not addressed to the agent."""

from __future__ import annotations

import asyncio
import base64

import numpy as np
import pytest
from agent_client import caller_speech, run, session, silence

VAD_500 = {"input": {"transcription": {"model": "whisper-1"},
                     "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}}}


def _audio_ms(client, response_id: str) -> float:
    data = sum(len(base64.b64decode(e["delta"])) for e in client.events
               if e["type"] == "response.output_audio.delta" and e["response_id"] == response_id)
    return data / 48.0  # PCM16 at 24 kHz


def _quieter(x: np.ndarray, db: float) -> np.ndarray:
    return (x.astype(np.float64) * 10 ** (db / 20)).astype(np.int16)


def test_a_quieter_voice_is_not_answered_unless_talk_over_noise(scripted_agent):
    """After the caller's turn, a voice 10 dB quieter (a side conversation) gets no answer; with
    the talk_over_noise fault it does."""
    caller = caller_speech("Hello, my name is Marcelo.")
    side = _quieter(caller_speech("Tell me everything about the weekend."), -10)

    async def call(faults: str | None) -> list[dict]:
        async with session(scripted_agent.url, faults) as client:
            await client.update(audio=VAD_500)
            client.pump()
            await client.stream(np.concatenate([silence(300), caller, silence(800)]), speed=4)
            first, _ = await client.wait("response.done")
            await client.stream(np.concatenate([side, silence(800)]), speed=4)
            await client.wait("response.done", after=client.events.index(first) + 1)
            return [e["response"] for e in client.events if e["type"] == "response.done"]

    async def both() -> list[list[dict]]:
        return await asyncio.gather(call(None), call("talk_over_noise"))

    plain, faulty = run(both())
    assert len(plain) == len(faulty) == 2
    assert plain[0]["output"] and faulty[0]["output"]
    assert plain[1]["output"] == []
    assert faulty[1]["output"][0]["content"][0]["transcript"].startswith("Here is everything")


def test_talk_over_noise_talks_on_over_a_quieter_voice_but_not_over_the_callers(scripted_agent):
    """With talk_over_noise, a voice 14 dB below the caller's, heard while the agent speaks,
    does not stop it (its gates close while it responds, as without the fault); the caller's
    own voice does."""
    caller = caller_speech("Hello, my name is Marcelo.")
    side = _quieter(caller_speech("Tell me everything about the weekend."), -14)

    async def call(during: np.ndarray) -> tuple[int, str]:
        async with session(scripted_agent.url, "talk_over_noise") as client:
            await client.update(audio=VAD_500)
            client.pump()
            await client.stream(np.concatenate([silence(300), caller, silence(800)]), speed=4)
            created, _ = await client.wait("response.created")
            at = client.events.index(created)
            await client.wait("response.output_audio.delta", after=at)
            await client.stream(np.concatenate([during, silence(800)]), speed=2)
            done, _ = await client.wait("response.done", after=at)
            started = sum(e["type"] == "input_audio_buffer.speech_started"
                          for e in client.events[at:])
            return started, done["response"]["status"]

    async def both() -> list[tuple[int, str]]:
        return await asyncio.gather(call(side), call(caller_speech("Sorry, one question.")))

    (side_starts, side_status), (caller_starts, caller_status) = run(both())
    assert (side_starts, side_status) == (0, "completed")
    assert caller_starts == 1 and caller_status == "cancelled"


@pytest.mark.slow
@pytest.mark.calls(1)
def test_caller_audio_gets_transcribed_and_a_spoken_answer(support_agent):
    line = caller_speech("Hi, I need to cancel an order.")

    async def call() -> None:
        async with session(support_agent.url) as client:
            await client.update(audio=VAD_500, tools=[{
                "type": "function", "name": "cancel_order", "description": "Cancel an order.",
                "parameters": {"type": "object",
                               "properties": {"order_id": {"type": "string"}}}}])
            await client.stream(np.concatenate([silence(500), line, silence(1200)]))
            heard = await client.until(
                "conversation.item.input_audio_transcription.completed")
            assert "cancel" in heard["transcript"].lower()
            done = await client.until("response.done")
            answer = done["response"]["output"][0]
            assert answer["content"][0]["type"] == "output_audio"
            assert "order number" in answer["content"][0]["transcript"].lower()
            assert _audio_ms(client, done["response"]["id"]) > 1000

    run(call())


async def _long_answer_playing(client) -> tuple[dict, float]:
    """Ask the scripted agent for its long answer and let 0.8 s of it play, streaming silence
    meanwhile: its first audio delta and when that came."""
    client.pump()
    await client.send("conversation.item.create", item={
        "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Tell me everything."}]})
    await client.send("response.create")
    streaming = asyncio.ensure_future(client.stream(silence(60_000)))
    first, first_ms = await client.wait("response.output_audio.delta")
    await asyncio.sleep(0.8)
    streaming.cancel()
    return first, first_ms


@pytest.mark.slow
@pytest.mark.calls(1)
def test_barge_in_cancels_and_ignore_barge_in_keeps_talking(scripted_agent):
    interruption = caller_speech("Wait, I have a question.")

    async def call(faults: str | None) -> dict:
        async with session(scripted_agent.url, faults) as client:
            await client.update(audio=VAD_500)
            first, first_ms = await _long_answer_playing(client)
            onset_ms = client.now_ms()
            await client.stream(np.concatenate([interruption, silence(1500)]))
            done, _ = await client.wait("response.done")
            _, started_ms = await client.wait("input_audio_buffer.speech_started")
            return {"done": done["response"], "onset_ms": onset_ms, "started_ms": started_ms,
                    "first_ms": first_ms, "audio_ms": _audio_ms(client, first["response_id"])}

    async def both() -> list[dict]:
        return await asyncio.gather(call(None), call("ignore_barge_in"))

    plain, ignoring = run(both())
    assert plain["done"]["status"] == "cancelled"
    assert plain["done"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
    assert plain["done"]["output"][0]["status"] == "incomplete"
    assert plain["started_ms"] - plain["onset_ms"] < 400
    # ignore_barge_in: the answer goes on to the end, and the caller is heard only once it has
    # played (the client stops playback on speech_started, so this is what a caller hears).
    assert ignoring["done"]["status"] == "completed"
    assert ignoring["started_ms"] >= ignoring["first_ms"] + ignoring["audio_ms"] - 100


LOOKUP = {"type": "function", "name": "lookup_order", "description": "Look up an order.",
          "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}


@pytest.mark.slow
@pytest.mark.calls(1)
def test_ignore_barge_in_answers_the_breaths_said_over_it_together(scripted_agent):
    """Two breaths of one answer said while the faulted agent talks on are heard once its talk
    is done, and answered together, as without the fault: the reply begun for the first breath
    is replaced once the second is heard. (It had answered the first alone and left the second
    to the next turn: a Kokoro caller's pause after "I want to check an order." cost the example
    suite's barge-in call its lookup.)"""
    first = caller_speech("Wait, one more thing.")
    second = caller_speech("Please check my order.")

    async def call() -> list[dict]:
        async with session(scripted_agent.url, "ignore_barge_in") as client:
            await client.update(audio=VAD_500, tools=[LOOKUP])
            await _long_answer_playing(client)
            await client.stream(np.concatenate([first, silence(900), second, silence(1500)]))
            streaming = asyncio.ensure_future(client.stream(silence(60_000)))
            called, _ = await client.wait("response.function_call_arguments.done", timeout=30.0)
            # the call's response is done after its arguments (later on a loaded machine)
            await client.wait("response.done", timeout=30.0,
                              where=lambda e: e["response"]["id"] == called["response_id"])
            streaming.cancel()
            return [e["response"] for e in client.events if e["type"] == "response.done"]

    long_answer, *after = run(call())
    assert long_answer["status"] == "completed"
    spoken = [r["output"] for r in after if r["status"] == "completed"]
    alone = [o for out in spoken if all(o["type"] == "message" for o in out) for o in out]
    assert alone == [], f"the first breath was answered alone: {alone}"
    assert any(o["type"] == "function_call" for out in spoken for o in out)


CANCEL = {"type": "function", "name": "cancel_order", "description": "Cancel an order.",
          "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}


@pytest.mark.slow
@pytest.mark.calls(1)
def test_a_reply_begun_as_the_caller_went_on_is_taken_back():
    """ "No, don't cancel it." and, after a pause the turn detection ends the turn at, "I
    changed my mind.": the reply to the first breath begins as the caller is already talking
    again, and is cut off before a word of it is heard. It is taken back, and the two breaths
    get the answer the whole turn gets ("Nothing was changed."), not the first a cut-off answer
    and the second one of its own ("Is there anything else I can help with?")."""
    from harness.agent import start_local_agent

    no = caller_speech("No, don't cancel it.")
    mind = caller_speech("I changed my mind.")

    async def call(url: str) -> list[str]:
        async with session(url) as client:
            await client.update(audio=VAD_500, tools=[CANCEL])
            client.pump()
            for text in ("I want to cancel order eight, three, five, two, one.",
                         "Yes, that's right."):
                done = len(client.events)
                await client.send("conversation.item.create", item={
                    "type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": text}]})
                await client.send("response.create")
                await client.wait("response.done", after=done)
            start = len(client.events)
            # 560 ms between the breaths: the turn ends after 500, the reply starts, and the
            # detector hears the caller again a little later
            await client.stream(np.concatenate([silence(300), no, silence(560), mind,
                                                silence(2500)]))
            after = start
            while True:
                done, _ = await client.wait("response.done", after=after)
                after = next(i for i in range(after, len(client.events))
                             if client.events[i] is done) + 1
                if done["response"]["status"] == "completed":
                    break
            return [o["content"][0]["transcript"] for e in client.events[start:]
                    if e["type"] == "response.done" and e["response"]["status"] == "completed"
                    for o in e["response"]["output"] if o["type"] == "message"]

    agent = start_local_agent("support_desk", write_tools=["cancel_order"])
    try:
        said = run(call(agent.url))
    finally:
        agent.stop()
    assert said == ["Okay, I won't cancel it. Nothing was changed."], said


@pytest.mark.slow
@pytest.mark.calls(1)
def test_idle_timeout_prompts_the_caller(scripted_agent):
    async def call() -> None:
        async with session(scripted_agent.url) as client:
            await client.update(audio={"input": {"turn_detection": {
                "type": "server_vad", "idle_timeout_ms": 1000}}})
            await client.send("conversation.item.create", item={
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "Hello."}]})
            await client.send("response.create")
            client.pump()
            streaming = asyncio.ensure_future(client.stream(silence(20_000)))
            first, first_ms = await client.wait("response.output_audio.delta")
            timeout, fired_ms = await client.wait("input_audio_buffer.timeout_triggered")
            answer, _ = await client.wait("response.done",
                                          after=client.events.index(timeout))
            streaming.cancel()
            played_ms = _audio_ms(client, first["response_id"])
            # The timeout counts from the end of the answer's playback.
            assert fired_ms - (first_ms + played_ms) == pytest.approx(1000, abs=250)
            assert timeout["audio_end_ms"] - timeout["audio_start_ms"] == pytest.approx(
                1000, abs=60)
            assert answer["response"]["output"][0]["content"][0]["transcript"] == (
                "Are you still there?")

    run(call())


def test_a_speculative_transcript_that_heard_nothing_gives_way_to_the_turns(scripted_agent,
                                                                            monkeypatch):
    """The transcript started in the pause before the turn ends covers the audio up to where the
    detector last heard voicing; when it heard nothing (a soft last sound past that point, here
    a cut that holds no audio at all), the committed turn is transcribed instead."""
    from harness.agent import asr, listener

    speculated: list[int] = []
    original = listener.Listener._speculate

    def speculate(self, speech_end_ms: int) -> None:
        original(self, speech_end_ms)
        if self._speculation is not None:
            speculated.append(speech_end_ms)

    monkeypatch.setattr(listener, "_SPECULATION_TAIL_MS", -60_000)
    monkeypatch.setattr(listener.Listener, "_speculate", speculate)
    # speculation waits for room among the machine's other processes; a fresh clone's fast
    # phase, beside the README's main job, had none, and this test never speculated
    monkeypatch.setattr(asr, "others_busy", lambda: 0.0)
    line = caller_speech("I would like to cancel my order.")

    async def call() -> str:
        async with session(scripted_agent.url) as client:
            await client.update(audio=VAD_500)
            client.pump()
            await client.stream(np.concatenate([silence(300), line, silence(900)]), speed=2)
            heard, _ = await client.wait("conversation.item.input_audio_transcription.completed")
            return heard["transcript"]

    assert "cancel my order" in run(call()).lower()
    assert speculated, "the agent made no speculative transcript"


def test_an_answer_does_not_wait_for_the_transcript_of_audio_not_meant_for_it(scripted_agent,
                                                                              monkeypatch):
    """A response that takes in the caller's turn and a quieter side voice (not addressed to the
    agent) answers the caller without waiting for the side voice's transcript, which matters
    only when nothing else was said."""
    from harness.agent import hearing

    original = hearing.Hearing.transcript
    waited_for: list[bool] = []

    async def transcript(self, item):
        waited_for.append(item.addressed)
        if not item.addressed:
            await asyncio.sleep(30)  # a recogniser busy with the TV
        return await original(self, item)

    monkeypatch.setattr(hearing.Hearing, "transcript", transcript)
    caller = caller_speech("Hello, my name is Marcelo.")
    side = _quieter(caller_speech("Tell me everything about the weekend."), -10)

    async def call() -> dict:
        async with session(scripted_agent.url) as client:
            await client.update(audio={"input": {"turn_detection": {
                "type": "server_vad", "silence_duration_ms": 500, "create_response": False}}})
            client.pump()
            await client.stream(np.concatenate([silence(300), caller, silence(800), side,
                                                silence(800)]), speed=4)
            first, _ = await client.wait("input_audio_buffer.committed")
            await client.wait("input_audio_buffer.committed",
                              after=client.events.index(first) + 1)
            await client.send("response.create")
            done, _ = await client.wait("response.done", timeout=10)
            return done["response"]

    answer = run(call())
    assert answer["output"][0]["content"][0]["transcript"].startswith("Hello, nice to meet you")
    assert waited_for == [True]
