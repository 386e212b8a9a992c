"""The sans-I/O protocol state machine, fed events by hand (no sockets, no clock)."""

from __future__ import annotations

import base64
import json

from harness.realtime.dialects import normalize_event, session_config
from harness.realtime.protocol import (
    UNKNOWN_RESPONSE,
    AudioDelta,
    FunctionCallReady,
    IdleTimeout,
    InputCommitted,
    InputTranscriptDelta,
    InputTranscriptDone,
    OutputItemAdded,
    RealtimeProtocol,
    ResponseCreated,
    ResponseDone,
    ServerError,
    SessionReady,
    SpeechStarted,
    TranscriptDelta,
    TranscriptDone,
)
from harness.scenario.models import AgentConfig, ToolSpec, TurnDetection


def _feed(proto: RealtimeProtocol, *events: dict, t: float = 0.0):
    out = []
    for ev in events:
        out.append(proto.receive(json.dumps(ev), t))
    return out


def _audio(rid: str, item: str, n: int = 4) -> dict:
    return {"type": "response.output_audio.delta", "response_id": rid, "item_id": item,
            "delta": base64.b64encode(b"\x01\x00" * n).decode()}


def test_ordinary_response_lifecycle():
    p = RealtimeProtocol()
    recs = _feed(p, {"type": "session.updated", "session": {"type": "realtime"}},
                 {"type": "input_audio_buffer.speech_started", "item_id": "i1",
                  "audio_start_ms": 120},
                 {"type": "response.created", "response": {"id": "r1"}},
                 _audio("r1", "a1"),
                 {"type": "response.output_audio_transcript.delta", "response_id": "r1",
                  "item_id": "a1", "delta": "Hello"},
                 {"type": "response.done", "response": {"id": "r1", "status": "completed"}})
    assert isinstance(recs[0].notices[0], SessionReady) and p.session_ready
    started = recs[1].notices[0]
    assert isinstance(started, SpeechStarted) and started.audio_start_ms == 120
    assert [type(n) for n in recs[2].notices] == [ResponseCreated]
    delta = recs[3].notices[0]
    assert isinstance(delta, AudioDelta) and delta.data == b"\x01\x00" * 4
    assert p.responses["r1"].transcript == "Hello"
    assert isinstance(recs[5].notices[0], ResponseDone) and not p.in_progress()


def test_audio_before_response_created_creates_the_response_once():
    p = RealtimeProtocol()
    recs = _feed(p, _audio("r9", "a9"), {"type": "response.created", "response": {"id": "r9"}})
    assert [type(n) for n in recs[0].notices] == [ResponseCreated, AudioDelta]
    assert recs[1].notices == []  # the late response.created adds nothing
    assert p.responses["r9"].audio_items == ["a9"]


def test_function_call_reported_once_whatever_event_carries_it():
    p = RealtimeProtocol()
    call_item = {"type": "function_call", "id": "fc1", "call_id": "c1", "name": "lookup_order",
                 "arguments": '{"order_id":"83521"}', "status": "completed"}
    recs = _feed(p,
                 {"type": "response.function_call_arguments.done", "response_id": "r1",
                  "item_id": "fc1", "call_id": "c1", "name": "lookup_order",
                  "arguments": '{"order_id":"83521"}'},
                 {"type": "response.output_item.done", "response_id": "r1", "item": call_item},
                 {"type": "response.done", "response": {"id": "r1", "status": "completed",
                                                       "output": [call_item]}},
                 {"type": "response.done", "response": {"id": "r1", "status": "completed"}})
    calls = [n for r in recs for n in r.notices if isinstance(n, FunctionCallReady)]
    dones = [n for r in recs for n in r.notices if isinstance(n, ResponseDone)]
    assert len(calls) == 1 and calls[0].call.name == "lookup_order"
    assert len(dones) == 1
    assert p.responses["r1"].call_ids == ["c1"]


def test_function_call_only_in_response_done():
    p = RealtimeProtocol()
    (rec,) = _feed(p, {"type": "response.done", "response": {
        "id": "r2", "status": "completed",
        "output": [{"type": "function_call", "call_id": "c2", "name": "escalate_to_human",
                    "arguments": "{}", "status": "completed"}]}})
    kinds = [type(n) for n in rec.notices]
    assert FunctionCallReady in kinds and kinds[-1] is ResponseDone


def test_error_events_and_garbage_frames_become_server_errors():
    p = RealtimeProtocol()
    err = p.receive(json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                           "code": "model_not_found",
                                                           "message": "no such model"}}), 1.0)
    junk = p.receive("not json{", 2.0)
    assert isinstance(err.notices[0], ServerError) and err.notices[0].code == "model_not_found"
    assert junk.type == "harness.invalid_frame" and isinstance(junk.notices[0], ServerError)
    assert len(p.errors) == 2


def test_events_of_the_wrong_shape_are_ignored_not_fatal():
    # A type that is not a string (unhashable, or one the recording's Frame would refuse) and an
    # object field that is not an object neither stop the session nor reach the recording.
    for dialect in ("ga", "beta"):
        p = RealtimeProtocol(dialect)
        recs = _feed(p, {"type": ["response.done"]}, {"type": 5},
                     {"type": "response.created", "response": "r1"},
                     {"type": "response.done", "response": ["r1"]},
                     {"type": "error", "error": "boom"},
                     {"type": "session.updated", "session": "yes"})
        assert [r.type for r in recs[:2]] == ["", ""]
        assert [r.raw_type for r in recs[:2]] == [None, None]
        assert not recs[0].notices and not recs[1].notices
        assert list(p.responses) == [UNKNOWN_RESPONSE]
        assert isinstance(recs[4].notices[0], ServerError)
        assert recs[4].notices[0].message == "error event without a message"
        assert p.session == {} and p.session_ready


def test_beta_events_are_renamed_and_reshaped():
    p = RealtimeProtocol("beta")
    recs = _feed(p,
                 {"type": "conversation.item.created", "item": {
                     "id": "a1", "role": "assistant", "content": [{"type": "audio"}]}},
                 {"type": "response.audio.delta", "response_id": "r1", "item_id": "a1",
                  "delta": base64.b64encode(b"\x00\x10").decode()},
                 {"type": "response.audio_transcript.delta", "response_id": "r1",
                  "item_id": "a1", "delta": "Hi"},
                 {"type": "response.text.delta", "response_id": "r1", "item_id": "a1",
                  "delta": "!"},
                 {"type": "session.updated", "session": {
                     "modalities": ["audio", "text"], "voice": "alloy",
                     "input_audio_format": "g711_ulaw", "output_audio_format": "pcm16",
                     "turn_detection": None}})
    assert [r.type for r in recs] == ["conversation.item.added", "response.output_audio.delta",
                                      "response.output_audio_transcript.delta",
                                      "response.output_text.delta", "session.updated"]
    assert recs[0].raw_type == "conversation.item.created"
    assert recs[0].event["item"]["content"][0]["type"] == "output_audio"
    assert p.responses["r1"].transcript == "Hi!"
    session = recs[4].event["session"]
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"]["voice"] == "alloy"
    assert session["output_modalities"] == ["audio"]


def test_ga_events_pass_through_unchanged():
    ev = {"type": "response.output_audio.delta", "delta": "AAAA"}
    assert normalize_event(ev, "ga") is ev


def test_session_config_shapes_and_tool_flags():
    config = AgentConfig(
        instructions="Be brief.", input_audio_format="audio/pcmu",
        turn_detection=TurnDetection(type="semantic_vad", eagerness="low"),
        tools=[ToolSpec(name="cancel_order", write=True), ToolSpec(name="handoff",
                                                                     escalation=True)])
    ga = session_config(config, "Be brief.", "ga")
    assert ga["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert ga["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert ga["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad", "eagerness": "low", "create_response": True,
        "interrupt_response": True}
    assert all(set(t) == {"type", "name", "description", "parameters"} for t in ga["tools"])
    beta = session_config(config, "Be brief.", "beta")
    assert beta["input_audio_format"] == "g711_ulaw" and beta["output_audio_format"] == "pcm16"
    assert "audio" not in beta and beta["voice"] == "marin"
    manual = session_config(AgentConfig(turn_detection=None), None, "ga")
    assert manual["audio"]["input"]["turn_detection"] is None and "instructions" not in manual


def test_an_incomplete_function_call_item_is_not_a_call():
    # cancelled while the arguments streamed: nobody answers it, so it is no call
    p = RealtimeProtocol()
    partial = {"type": "function_call", "id": "fc3", "call_id": "c3", "name": "cancel_order",
               "arguments": '{"order_id":"83', "status": "incomplete"}
    cancelled = {"id": "r3", "status": "cancelled", "output": [partial],
                 "status_details": {"reason": "turn_detected"}}
    recs = _feed(p, {"type": "response.output_item.done", "response_id": "r3", "item": partial},
                 {"type": "response.done", "response": cancelled})
    notices = [n for r in recs for n in r.notices]
    assert not [n for n in notices if isinstance(n, FunctionCallReady)] and p.calls == {}
    done = notices[-1]
    assert isinstance(done, ResponseDone) and (done.status, done.reason) == (
        "cancelled", "turn_detected")


def test_a_recorded_frame_replays_with_its_audio_reference_and_the_server_s_items():
    # what scoring feeds it: decoded GA events whose audio went to a track
    p = RealtimeProtocol()
    ref = {"track": "agent_stream", "start_sample": 0, "samples": 2400, "sample_rate": 24000}
    events = [
        {"type": "response.created", "response": {"id": "r1"}},
        {"type": "response.output_item.added", "response_id": "r1", "output_index": 0,
         "item": {"id": "m1", "type": "message"}},
        {"type": "response.output_audio.delta", "response_id": "r1", "item_id": "m1",
         "delta": {"audio_ref": ref}},
        {"type": "response.output_audio.delta", "response_id": "r1", "delta": {"audio_ref": ref}},
        {"type": "response.output_audio_transcript.done", "response_id": "r1", "item_id": "m1",
         "transcript": "One moment."},
        {"type": "response.output_text.delta", "response_id": "r1", "item_id": "m1",
         "delta": "typed"},
        {"type": "response.done", "response": {"id": "r1", "status": "completed", "output": [
            {"type": "message", "id": "m1",
             "content": [{"type": "output_audio", "transcript": "One moment."}]}]}},
        {"type": "input_audio_buffer.timeout_triggered"},
        {"type": "input_audio_buffer.committed", "item_id": "in1"},
        {"type": "conversation.item.input_audio_transcription.delta", "item_id": "in1",
         "delta": "hel"},
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": "in1",
         "transcript": "hello"},
    ]
    notices = [n for i, ev in enumerate(events) for n in p.receive_event(ev, float(i)).notices]
    created = notices[0]
    assert isinstance(created, ResponseCreated) and created.announced
    added = notices[1]
    assert isinstance(added, OutputItemAdded) and (added.item_id, added.output_index) == ("m1", 0)
    audio = [n for n in notices if isinstance(n, AudioDelta)]
    assert [(a.item_id, a.data, a.audio_ref) for a in audio] == [("m1", b"", ref),
                                                                ("r1:audio", b"", ref)]
    final = next(n for n in notices if isinstance(n, TranscriptDone))
    assert final.spoken and final.text == "One moment."
    text = next(n for n in notices if isinstance(n, TranscriptDelta))
    assert not text.spoken and text.text == "typed"
    done = next(n for n in notices if isinstance(n, ResponseDone))
    assert done.messages == [("m1", "One moment.")]
    assert [type(n) for n in notices[-4:]] == [IdleTimeout, InputCommitted, InputTranscriptDelta,
                                               InputTranscriptDone]
    assert notices[-1].transcript == "hello"


def test_events_without_a_response_id_belong_to_the_unknown_response():
    p = RealtimeProtocol()
    (rec,) = _feed(p, _audio(None, None))  # type: ignore[arg-type]
    created, delta = rec.notices
    assert isinstance(created, ResponseCreated) and not created.announced
    assert created.response_id == UNKNOWN_RESPONSE
    assert isinstance(delta, AudioDelta) and delta.item_id == f"{UNKNOWN_RESPONSE}:audio"
