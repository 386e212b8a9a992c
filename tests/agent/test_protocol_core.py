"""The agent's protocol core without a socket or a clock: feed client events, read server events.

Every server event the core emits is checked against the ``openai`` package's server event union.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import pytest
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from harness.agent.protocol import (
    AgentProtocol,
    AudioAppended,
    CancelRequested,
    ClearRequested,
    CommitRequested,
    ItemTruncated,
    ResponseRequested,
    SessionChanged,
    UserAudioAdded,
)

SERVER_EVENT = TypeAdapter(RealtimeServerEvent)


def feed(core: AgentProtocol, **event: Any) -> tuple[list[Any], list[dict[str, Any]]]:
    """One client event in; the requests it makes and the server events it caused."""
    requests = core.receive(json.dumps(event))
    events = core.events_to_send()
    for e in events:
        SERVER_EVENT.validate_python(e)
    return requests, events


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@pytest.fixture
def core() -> AgentProtocol:
    core = AgentProtocol("gpt-realtime")
    core.created()
    (created,) = core.events_to_send()
    assert created["type"] == "session.created" and created["session"]["model"] == "gpt-realtime"
    return core


def test_session_update_echoes_and_says_what_changed(core: AgentProtocol) -> None:
    requests, events = feed(core, type="session.update", session={
        "type": "realtime", "tools": [{"type": "function", "name": "book_slot"}],
        "audio": {"input": {"format": {"type": "audio/pcmu"}}}})
    assert types(events) == ["session.updated"]
    assert events[0]["session"]["tools"][0]["name"] == "book_slot"
    assert requests == [SessionChanged(format_changed=True, turn_detection_changed=False,
                                       tools_changed=True)]
    assert core.input_rate == 8000


def test_bad_frames_get_error_events_and_the_session_goes_on(core: AgentProtocol) -> None:
    assert core.receive("{not json") == []
    (bad_json,) = core.events_to_send()
    assert bad_json["error"]["code"] == "invalid_json"
    requests, events = feed(core, type="conversation.colour", event_id="evt_1")
    assert requests == [] and events[0]["error"]["code"] == "invalid_value"
    assert events[0]["error"]["event_id"] == "evt_1"
    requests, events = feed(core, type="session.update", session={"type": "realtime",
                                                                   "colour": "blue"})
    assert requests == [] and events[0]["error"]["param"] == "session.colour"
    requests, events = feed(core, type="input_audio_buffer.append", audio="***")
    assert requests == [] and events[0]["error"]["param"] == "audio"


def test_audio_appends_decode_across_odd_byte_boundaries(core: AgentProtocol) -> None:
    pcm = np.array([1000, -2000, 3000], dtype="<i2").tobytes()
    first, _ = feed(core, type="input_audio_buffer.append",
                    audio=base64.b64encode(pcm[:3]).decode())
    second, _ = feed(core, type="input_audio_buffer.append",
                     audio=base64.b64encode(pcm[3:]).decode())
    assert isinstance(first[0], AudioAppended) and isinstance(second[0], AudioAppended)
    joined = np.concatenate([first[0].samples, second[0].samples])
    assert joined.tolist() == [1000, -2000, 3000]
    commit, events = feed(core, type="input_audio_buffer.commit", event_id="c1")
    assert commit == [CommitRequested("c1")] and events == []
    clear, _ = feed(core, type="input_audio_buffer.clear")
    assert clear == [ClearRequested()]


def test_items_are_created_chained_and_deleted(core: AgentProtocol) -> None:
    _, events = feed(core, type="conversation.item.create", item={
        "id": "item_a", "type": "message", "role": "user",
        "content": [{"type": "input_text", "text": "Book me in, please."}]})
    assert types(events) == ["conversation.item.added", "conversation.item.done"]
    assert events[0]["previous_item_id"] is None
    assert core.items[0].transcript == "Book me in, please."
    audio = base64.b64encode(np.zeros(2400, dtype="<i2").tobytes()).decode()
    requests, events = feed(core, type="conversation.item.create", item={
        "id": "item_b", "type": "message", "role": "user",
        "content": [{"type": "input_audio", "audio": audio}]})
    assert events[0]["previous_item_id"] == "item_a"
    assert isinstance(requests[0], UserAudioAdded) and requests[0].item.transcript is None
    _, events = feed(core, type="conversation.item.delete", item_id="item_a")
    assert types(events) == ["conversation.item.deleted"]
    _, events = feed(core, type="conversation.item.retrieve", item_id="item_a")
    assert events[0]["error"]["code"] == "item_not_found"


def test_a_response_streams_speech_and_a_tool_call_then_is_done(core: AgentProtocol) -> None:
    core.commit_audio("item_u", np.zeros(4800, dtype=np.int16))
    core.transcribed(core.items[-1], "I'd like to book a check-up.")
    core.events_to_send()
    requests, events = feed(core, type="response.create")
    assert requests == [ResponseRequested({}, None)] and events == []
    response = core.open_response({})
    item = core.open_message(response)
    core.transcript_sentence(response, item, "Let me check the diary.")
    core.audio_delta(response, item, np.zeros(2400, dtype="<i2").tobytes())
    item.audio = np.zeros(2400, dtype=np.int16)
    core.close_message(response, item, "completed")
    core.function_call(response, "find_slots", {"date": "2025-03-04"})
    assert core.finish_response(response, "completed")
    assert not core.finish_response(response, "completed")  # only once
    events = core.events_to_send()
    for e in events:
        SERVER_EVENT.validate_python(e)
    assert types(events)[0] == "response.created"
    assert types(events)[-2:] == ["response.done", "rate_limits.updated"]
    assert "response.output_audio_transcript.delta" in types(events)
    args = "".join(e["delta"] for e in events
                   if e["type"] == "response.function_call_arguments.delta")
    assert json.loads(args) == {"date": "2025-03-04"}
    done = events[-2]["response"]
    assert done["status"] == "completed"
    assert [o["type"] for o in done["output"]] == ["message", "function_call"]
    assert done["output"][0]["content"][0]["transcript"] == "Let me check the diary."


def test_one_conversation_response_at_a_time_and_cancel(core: AgentProtocol) -> None:
    response = core.open_response({})
    core.events_to_send()
    _, events = feed(core, type="response.create")
    assert events[0]["error"]["code"] == "conversation_already_has_active_response"
    requests, _ = feed(core, type="response.cancel")
    assert requests == [CancelRequested(response)]
    core.finish_response(response, "cancelled", "client_cancelled")
    events = core.events_to_send()
    assert events[0]["response"]["status_details"] == {"type": "cancelled",
                                                       "reason": "client_cancelled"}
    _, events = feed(core, type="response.cancel")
    assert events[0]["error"]["code"] == "response_cancel_not_active"


def test_truncate_cuts_an_agent_message_to_what_was_played(core: AgentProtocol) -> None:
    response = core.open_response({})
    item = core.open_message(response)
    core.transcript_sentence(response, item, "One two three four.")
    item.sentences.append((0.0, 1000.0, "One two three four."))
    item.audio = np.zeros(24000, dtype=np.int16)
    core.close_message(response, item, "completed")
    core.events_to_send()
    requests, events = feed(core, type="conversation.item.truncate", item_id=item.id,
                            content_index=0, audio_end_ms=500)
    assert requests == [ItemTruncated(item, 500)]
    assert types(events) == ["conversation.item.truncated"]
    assert item.content[0]["transcript"] == "One two"
    _, events = feed(core, type="conversation.item.truncate", item_id=item.id,
                     content_index=0, audio_end_ms=900)
    assert events[0]["error"]["param"] == "audio_end_ms"


def test_transcription_completed_waits_for_the_answering_response(core: AgentProtocol) -> None:
    feed(core, type="session.update", session={
        "type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}}}})
    item = core.commit_audio("item_t", np.zeros(4800, dtype=np.int16))
    response = core.open_response({})
    assert response.consumed_items == [item]
    core.events_to_send()
    core.transcribed(item, "seven two")
    assert types(core.events_to_send()) == [
        "conversation.item.input_audio_transcription.delta"] * 2
    core.finish_response(response, "completed")
    completed = core.events_to_send()[0]
    assert completed["type"] == "conversation.item.input_audio_transcription.completed"
    assert completed["transcript"] == "seven two"
