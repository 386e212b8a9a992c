"""The always-on call-integrity checks, on hand-built calls: each finding is a named verdict with
evidence; the agent's faults fail the trial, the harness's and the transport's error it."""

from __future__ import annotations

from harness.recording import Frame, Recording
from harness.scoring.integrity import check_call_integrity
from harness.scoring.timeline import build_timeline
from tests.scoring.builder import CallBuilder


def findings(rec: Recording, *, config: bool = True) -> dict[str, object]:
    from harness.scoring import recorded_agent_config

    cfg = recorded_agent_config(rec.meta.agent_config) if config else None
    return {v.kind: v for v in check_call_integrity(rec, build_timeline(rec), cfg)}


def _answered_lookup() -> CallBuilder:
    b = CallBuilder()
    t0 = b.caller(1000.0, "Where is order eight three five two one?")
    s = b.respond(b.speech_end(t0) + 500, "Let me check.",
                  call=("lookup_order", {"order_id": "83521"}))
    b.answer(s, b.call_time(s) + 300)
    b.respond(b.call_time(s) + 310, "It has shipped.")
    return b


def test_a_clean_call_has_no_findings():
    assert findings(_answered_lookup().recording()) == {}


def test_server_error_events_fail_and_refused_client_events_error():
    b = _answered_lookup()
    b.add(3000.0, "received", "error", {"error": {
        "type": "server_error", "code": "server_error", "message": "The server had an error."}})
    b.add(3100.0, "received", "error", {"error": {
        "type": "invalid_request_error", "code": "invalid_value",
        "message": "Invalid 'item_id': no such item."}})
    # A cancel that crossed the response's end is a race of a live call, not a finding.
    b.add(3200.0, "received", "error", {"error": {
        "type": "invalid_request_error", "code": "response_cancel_not_active",
        "message": "Cancellation failed: no active response found"}})
    found = findings(b.recording())
    assert set(found) == {"integrity.server_error", "integrity.client_event_refused"}
    server = found["integrity.server_error"]
    assert server.status == "fail" and "server_error at 3,000 ms" in server.summary
    assert server.evidence[0].t_ms == 3000.0 and server.evidence[0].event_seq
    refused = found["integrity.client_event_refused"]
    assert refused.status == "error" and "no such item" in refused.summary


def test_malformed_frames_fail():
    rec = _answered_lookup().recording()
    rec.frames.insert(5, Frame(seq=999, t_ms=2500.0, dir="received", type="harness.invalid_frame",
                               event={"type": "harness.invalid_frame", "text": '{"type": "resp'}))
    v = findings(rec)["integrity.malformed_frame"]
    assert v.status == "fail" and "not JSON" in v.summary
    assert v.evidence[0].excerpt == '{"type": "resp'


def test_calls_to_undeclared_tools_fail():
    b = _answered_lookup()
    b.tools = [t for t in b.tools if t["name"] != "lookup_order"]
    v = findings(b.recording())["integrity.undeclared_tool"]
    assert v.status == "fail" and "lookup_order in turn 1" in v.summary
    assert v.evidence[0].turn_index == 1


def test_a_tool_call_left_without_output_errors():
    b = CallBuilder()
    t0 = b.caller(1000.0, "Where is my order?")
    b.respond(b.speech_end(t0) + 500, None, call=("lookup_order", {"order_id": "1"}))
    v = findings(b.recording())["integrity.unanswered_tool_call"]
    assert v.status == "error" and "got no output" in v.summary


def test_audio_for_a_response_never_created_fails():
    rec = _answered_lookup().recording()
    first = next(i for i, f in enumerate(rec.frames) if f.type == "response.created")
    del rec.frames[first]
    v = findings(rec)["integrity.audio_without_response"]
    assert v.status == "fail" and "never announced by response.created" in v.summary


def test_a_call_the_time_limit_ended_fails_and_names_the_turns_never_played():
    b = CallBuilder(expect=[{"turn_answered": {}}])
    b.caller(1000.0, "Hello?")
    rec = b.recording(ended=False)
    rec.meta.scenario_model["turns"] = [{"say": "Hello?"}, {"say": "Anyone?"}, {"say": "Bye."}]
    rec.frames.append(Frame(seq=len(rec.frames), t_ms=60_000.0, dir="harness",
                            type="harness.trial.ended",
                            event={"status": "completed", "error": None, "time_limit_s": 60.0}))
    v = findings(rec)["integrity.time_limit"]
    assert v.status == "fail"
    assert v.summary.endswith("the caller was still waiting on the agent when the 60 s limit "
                              "ended the call (turn(s) 2, 3 never played)")
