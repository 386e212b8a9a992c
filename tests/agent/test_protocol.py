"""The local agent's Realtime protocol: errors, conversation edits, responses, formats, faults."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np
import pytest
from agent_client import caller_speech, run, session, silence
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from harness import audio


async def _text_turn(client, text: str, **response) -> dict:
    await client.send("conversation.item.create", item={
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    await client.send("response.create", **({"response": response} if response else {}))
    return await client.until("response.done")


def test_bad_client_events_get_errors_and_the_session_goes_on(scripted_agent):
    async def scenario() -> None:
        async with session(scripted_agent.url) as client:
            cases = [
                ({"type": "scooby.dooby.doo", "event_id": "e1"}, "invalid_value", "type"),
                ({"type": "input_audio_buffer.append", "event_id": "e2", "audio": "%%not-b64"},
                 "invalid_value", "audio"),
                ({"type": "input_audio_buffer.commit", "event_id": "e3"},
                 "input_audio_buffer_commit_empty", None),
                ({"type": "response.cancel", "event_id": "e4"},
                 "response_cancel_not_active", None),
                ({"type": "conversation.item.delete", "event_id": "e5", "item_id": "item_nope"},
                 "item_not_found", "item_id"),
                ({"type": "session.update", "event_id": "e6",
                  "session": {"type": "realtime", "colour": "blue"}},
                 "unknown_parameter", "session.colour"),
            ]
            for frame, code, param in cases:
                await client.ws.send(json.dumps(frame))
                error = (await client.until("error"))["error"]
                assert (error["type"], error["code"], error["param"], error["event_id"]) == (
                    "invalid_request_error", code, param, frame["event_id"])
            await client.ws.send("{not json")
            error = (await client.until("error"))["error"]
            assert error["code"] == "invalid_json" and error["event_id"] is None
            # Truncating past the end of the agent's audio.
            done = await _text_turn(client, "Hello there.")
            item = done["response"]["output"][0]
            await client.send("conversation.item.truncate", event_id="e7", item_id=item["id"],
                              content_index=0, audio_end_ms=600_000)
            error = (await client.until("error"))["error"]
            assert (error["code"], error["param"], error["event_id"]) == (
                "invalid_value", "audio_end_ms", "e7")
            # Still serving.
            done = await _text_turn(client, "Hello again.")
            assert done["response"]["status"] == "completed"

    run(scenario())


def test_truncate_delete_and_retrieve(scripted_agent):
    async def scenario() -> None:
        async with session(scripted_agent.url) as client:
            done = await _text_turn(client, "Tell me everything you can do.")
            item = done["response"]["output"][0]
            full = item["content"][0]["transcript"]
            await client.send("conversation.item.truncate", item_id=item["id"], content_index=0,
                              audio_end_ms=1500)
            truncated = await client.until("conversation.item.truncated")
            assert (truncated["item_id"], truncated["audio_end_ms"]) == (item["id"], 1500)
            await client.send("conversation.item.retrieve", item_id=item["id"])
            kept = (await client.until("conversation.item.retrieved"))["item"]
            heard = kept["content"][0]["transcript"]
            # 1.5 s of speech is a few words from the start of the answer, not all of it.
            assert 0 < len(heard.split()) < len(full.split()) / 4
            assert full.startswith(heard)
            await client.send("conversation.item.delete", item_id=item["id"])
            assert (await client.until("conversation.item.deleted"))["item_id"] == item["id"]
            await client.send("conversation.item.retrieve", event_id="r2", item_id=item["id"])
            assert (await client.until("error"))["error"]["event_id"] == "r2"

    run(scenario())


def test_text_only_response_and_out_of_band_response(scripted_agent):
    async def scenario() -> None:
        async with session(scripted_agent.url) as client:
            done = await _text_turn(client, "Hello.", output_modalities=["text"])
            assert done["response"]["output"][0]["content"][0]["type"] == "output_text"
            assert "response.output_audio.delta" not in client.types()
            mark = len(client.events)
            await client.send("response.create", response={
                "conversation": "none", "metadata": {"purpose": "summary"},
                "input": [{"type": "message", "role": "user",
                           "content": [{"type": "input_text", "text": "Hi."}]}]})
            done = await client.until("response.done")
            assert done["response"]["conversation_id"] is None
            assert done["response"]["metadata"] == {"purpose": "summary"}
            assert done["response"]["output"][0]["content"][0]["transcript"]
            # An out-of-band response adds nothing to the conversation.
            assert not [e for e in client.events[mark:] if e["type"].startswith("conversation.")]

    run(scenario())


def test_instructions_override_dictates_the_answer(scripted_agent):
    async def scenario() -> None:
        async with session(scripted_agent.url) as client:
            await client.send("response.create", response={
                "instructions": "Say 'Thanks for calling the support desk.'"})
            done = await client.until("response.done")
            assert done["response"]["output"][0]["content"][0]["transcript"] == (
                "Thanks for calling the support desk.")

    run(scenario())


def test_client_cancel(scripted_agent):
    async def scenario() -> None:
        async with session(scripted_agent.url) as client:
            await client.send("conversation.item.create", item={
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": "Tell me everything."}]})
            await client.send("response.create")
            await client.until("response.output_audio.delta")
            await client.send("response.cancel")
            done = await client.until("response.done")
            assert done["response"]["status"] == "cancelled"
            assert done["response"]["status_details"] == {"type": "cancelled",
                                                          "reason": "client_cancelled"}
            assert done["response"]["output"][0]["status"] == "incomplete"

    run(scenario())


def test_tool_call_round_with_preamble_in_the_same_response(scripted_agent):
    tools = [{"type": "function", "name": "lookup_order", "description": "Look up an order.",
              "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}}}]

    async def scenario() -> None:
        async with session(scripted_agent.url) as client:
            updated = await client.update(tools=tools, tool_choice="auto")
            assert updated["session"]["tools"] == tools
            done = await _text_turn(client, "Where is my order?")
            spoken, call = done["response"]["output"]
            assert spoken["content"][0]["transcript"] == "Let me look that up."
            assert (call["type"], call["name"], json.loads(call["arguments"])) == (
                "function_call", "lookup_order", {"order_id": "83521"})
            await client.send("conversation.item.create", item={
                "type": "function_call_output", "call_id": call["call_id"],
                "output": json.dumps({"status": "shipped"})})
            await client.send("response.create")
            done = await client.until("response.done")
            assert "shipped" in done["response"]["output"][0]["content"][0]["transcript"]
            # tool_choice "none" keeps the words and drops the call.
            await client.update(tool_choice="none")
            done = await _text_turn(client, "And my other order?")
            assert [o["type"] for o in done["response"]["output"]] == ["message"]

    run(scenario())


def test_g711_session_in_and_out(scripted_agent):
    async def scenario() -> None:
        async with session(scripted_agent.url) as client:
            updated = await client.update(audio={
                "input": {"format": {"type": "audio/pcmu"},
                          "transcription": {"model": "whisper-1"},
                          "turn_detection": {"type": "server_vad", "silence_duration_ms": 500}},
                "output": {"format": {"type": "audio/pcma"}}})
            assert updated["session"]["audio"]["input"]["format"] == {"type": "audio/pcmu"}
            line = caller_speech("Hello, my name is Marcelo.", rate=8000)
            stream = np.concatenate([silence(300, 8000), line, silence(1000, 8000)])
            await client.stream(audio.encode_g711(stream, "ulaw", sample_rate=8000), speed=4,
                                rate=8000, encoding="g711")
            heard = await client.until("conversation.item.input_audio_transcription.completed")
            assert "my name is" in heard["transcript"].lower()
            await client.until("response.done")
            payload = b"".join(base64.b64decode(e["delta"]) for e in client.events
                               if e["type"] == "response.output_audio.delta")
            answer = audio.decode_g711(payload, "alaw")
            # One byte per 8 kHz sample, and speech in it.
            assert 1.0 < len(answer) / 8000 < 10.0
            assert audio.detect_speech(answer, 8000) is not None

    run(scenario())


def test_malformed_event_fault_sends_one_broken_frame(scripted_agent):
    async def scenario() -> tuple[int, str]:
        async with session(scripted_agent.url, faults="malformed_event") as client:
            await _text_turn(client, "Hello.")
            done = await _text_turn(client, "Hello again.")
            return len(client.raw_invalid), done["response"]["status"]

    broken, status = run(scenario())
    assert (broken, status) == (1, "completed")


def test_drop_connection_fault_closes_abruptly(scripted_agent):
    async def scenario() -> float:
        async with session(scripted_agent.url, faults="drop_connection_after_ms=300") as client:
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await client.recv(timeout=5)
            assert closed.value.rcvd is None  # no close frame: the line just went dead
            return client.now_ms()

    assert 250 < run(scenario()) < 2000


def test_added_latency_fault_delays_the_answer(scripted_agent):
    async def created_to_first_audio_ms(faults: str | None) -> float:
        async with session(scripted_agent.url, faults=faults) as client:
            await _text_turn(client, "Hello.")
            _, created_ms = client.first("response.created")
            _, audio_ms = client.first("response.output_audio.delta")
            return audio_ms - created_ms

    async def both() -> list[float]:
        return await asyncio.gather(created_to_first_audio_ms(None),
                                    created_to_first_audio_ms("added_latency_ms=700"))

    plain, delayed = run(both())
    # The delay sits between response.created and the first audio, added to what the answer
    # took anyway (both calls at once, so they meet the same load; receive jitter aside).
    assert delayed >= 650
    assert 600 <= delayed - plain <= 800


def test_bad_fault_query_or_path_is_refused(scripted_agent):
    async def attempt(url: str) -> int:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url):
                pass
        return refused.value.response.status_code

    base = scripted_agent.url
    assert run(attempt(base + "?faults=no_such_fault")) == 400
    assert run(attempt(base.replace("/v1/realtime", "/elsewhere"))) == 404


def test_user_audio_item_is_transcribed_and_answered(scripted_agent):
    line = caller_speech("Hello, my name is Marcelo.")

    async def scenario() -> None:
        async with session(scripted_agent.url) as client:
            await client.update(audio={"input": {"transcription": {"model": "whisper-1"},
                                                 "turn_detection": None}})
            await client.send("conversation.item.create", item={
                "type": "message", "role": "user", "content": [{
                    "type": "input_audio",
                    "audio": base64.b64encode(line.astype("<i2").tobytes()).decode()}]})
            await client.send("response.create")
            heard = await client.until("conversation.item.input_audio_transcription.completed")
            assert "my name is" in heard["transcript"].lower()
            done = await client.until("response.done")
            assert done["response"]["output"][0]["content"][0]["transcript"].startswith("Hello")

    run(scenario())


def test_manual_commit_without_turn_detection(scripted_agent):
    line = caller_speech("Hello, my name is Marcelo.")

    async def scenario() -> None:
        async with session(scripted_agent.url) as client:
            await client.update(audio={"input": {"turn_detection": None}})
            await client.stream(np.concatenate([line, silence(200)]), speed=8)
            await client.send("input_audio_buffer.commit")
            committed = await client.until("input_audio_buffer.committed")
            await client.send("response.create")
            done = await client.until("response.done")
            assert done["response"]["output"][0]["content"][0]["transcript"].startswith("Hello")
            # No VAD events without turn detection.
            assert not [t for t in client.types() if t.startswith("input_audio_buffer.speech")]
            assert committed["item_id"].startswith("item_")
            await client.send("input_audio_buffer.clear")
            await client.until("input_audio_buffer.cleared")

    run(scenario())
