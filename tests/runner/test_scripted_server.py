"""The runner against a scripted WebSocket server on loopback: failures, tools, pacing."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from scripted import Behaviour, FakeScript, ScriptedServer, scenario

from harness.recording import Recording
from harness.runner import SessionOptions, run_trial

TWO_TURNS = [{"say": "hello"}, {"say": "bye"}]


CASES = {
    "plain": (scenario(TWO_TURNS), Behaviour(), {}),
    "after_cancel": (scenario([{"say": "hello"},
                               {"say": "stop", "barge_in": {"at_agent_ms": 400}}]),
                     Behaviour(reply_ms=3000, delta_interval_ms=60, audio_after_cancel=True), {}),
    "out_of_order": (scenario(TWO_TURNS), Behaviour(out_of_order=True), {}),
    "disconnect": (scenario(TWO_TURNS), Behaviour(disconnect_after_deltas=2), {}),
    "silent": (scenario(TWO_TURNS), Behaviour(silent=True),
               {"options": SessionOptions(setup_timeout_s=0.5)}),
    "beta": (scenario(TWO_TURNS), Behaviour(beta=True), {"dialect": "beta"}),
    "mute": (scenario(TWO_TURNS, max_duration_s=3.0), Behaviour(mute=True), {}),
    "tool": (scenario([{"say": "where is my order"}], declared=["lookup_order"], tools={
        "lookup_order": [{"when": {"order_id": "83521"}, "returns": {"status": "shipped"},
                          "latency_ms": 300}, {"error": "order_not_found"}]}),
             Behaviour(tool_call={"name": "lookup_order",
                                  "arguments": '{"order_id": "eight three five two one"}'}), {}),
    "invented": (scenario([{"say": "launch it"}], declared=["lookup_order"]),
                 Behaviour(invented_tool=True), {}),
    "manual": (scenario(TWO_TURNS + [{"silence_ms": 300}], turn_detection=None),
               Behaviour(manual=True), {}),
    "g711": (scenario(TWO_TURNS, formats="audio/pcmu"), Behaviour(g711=True), {}),
    "pacing": (scenario([{"say": "hello"}, {"silence_ms": 1000, "after_ms": 0}]), Behaviour(), {}),
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Every case above, run at once (real-time sessions overlap instead of queueing)."""
    root = tmp_path_factory.mktemp("scripted")

    async def one(name):
        sc, behaviour, kw = CASES[name]
        async with ScriptedServer(behaviour) as srv:
            res = await run_trial(sc, out_dir=root / name, target=srv.url,
                                  script=FakeScript(sc), retries=0, **kw)
            return name, (res, srv.log, root / name)

    async def all_cases():
        return dict(await asyncio.gather(*(one(n) for n in CASES)))

    return asyncio.run(all_cases())


def _audible_ms(x: np.ndarray, rate: int) -> float:
    """Milliseconds of tone in a track, in 2 ms frames (a full period of the 500 Hz reply)."""
    n = rate // 500
    frames = np.abs(x[: len(x) // n * n].astype(np.int32)).reshape(-1, n).max(axis=1)
    return float(np.count_nonzero(frames > 1000) * n * 1000 / rate)


def _types(rec: Recording, dir: str | None = None) -> list[str]:
    return [f.type for f in rec.frames if dir is None or f.dir == dir]


def test_plain_conversation_timeline(runs):
    res, log, folder = runs["plain"]
    assert res.status == "completed", res.error
    rec = Recording.load(folder)
    assert rec.meta.status == "completed"
    turns = [a for _, a in rec.annotations("harness.turn.started")]
    assert [t.trigger for t in turns] == ["first", "after_agent"]
    stops = [a for _, a in rec.annotations("harness.playback.stopped")]
    assert [s.reason for s in stops] == ["drained", "drained"]
    assert all(abs(s.played_ms - 600) < 1 and s.dropped_ms == 0 for s in stops)
    # the second turn starts a reaction gap (200 ms, one chunk of slack) after playback drained
    drained_at = rec.annotations("harness.playback.stopped")[0][0].t_ms
    assert 200 <= turns[1].start_ms - drained_at <= 200 + 2 * 20
    # audible onset: the first reply sample is loud, so onset = playback start = first delta
    first_delta = rec.events("response.output_audio.delta")[0]
    onset = rec.annotations("harness.playback.audible")[0][1].onset_ms
    assert abs(onset - first_delta.t_ms) < 1
    # tracks: caller has both tones, agent.wav has exactly the played 2 × 600 ms
    agent, rate = rec.track("agent.wav")
    assert abs(_audible_ms(agent, rate) - 1200) <= 8
    call, _ = rec.track("call.wav")
    assert call.shape[1] == 2 and np.abs(call[:, 0]).max() > 4000
    assert rec.frames[-1].type == "harness.trial.ended"
    assert log.of("session.update")[0]["session"]["audio"]["input"]["turn_detection"]["type"] \
        == "server_vad"


def test_speech_edges_are_recorded_when_their_chunks_went_out(runs):
    from harness.scoring import build_timeline

    _, _, folder = runs["plain"]
    rec = Recording.load(folder)
    started = [a for _, a in rec.annotations("harness.turn.started")]
    sent = [(f, a) for f, a in rec.annotations("harness.turn.speech_sent")]
    assert [(a.turn_index, a.edge) for _, a in sent] == [
        (0, "onset"), (0, "end"), (1, "onset"), (1, "end")]
    chunks = {round(f.model_extra["scheduled_ms"], 3): f.t_ms
              for f in rec.events("input_audio_buffer.append")}
    for frame, a in sent:
        turn = started[a.turn_index]
        due = turn.speech_onset_ms if a.edge == "onset" else turn.speech_end_ms
        assert a.scheduled_ms == due
        # stamped right after that chunk's send, never before it was due
        assert chunks[a.scheduled_ms] <= frame.t_ms < chunks[a.scheduled_ms] + 5
        assert frame.t_ms >= due
    # scoring counts from the actual send times
    tl = build_timeline(rec)
    ends = {a.turn_index: f.t_ms for f, a in sent if a.edge == "end"}
    assert [t.speech_end_ms for t in tl.turns] == [ends[0], ends[1]]


def test_late_speech_end_chunk_does_not_count_against_the_agent(runs):
    """A speech-end chunk that left 30 ms late: voice-to-voice is measured from when it left."""
    from harness.recording import Frame
    from harness.scoring import build_timeline

    _, _, folder = runs["plain"]
    rec = Recording.load(folder)
    tl = build_timeline(rec)
    onset = rec.annotations("harness.playback.audible")[0][1].onset_ms
    before = onset - tl.turns[0].speech_end_ms
    for f in rec.frames:
        if f.type == "harness.turn.speech_sent" and f.event["edge"] == "end" \
                and f.event["turn_index"] == 0:
            rec.frames[rec.frames.index(f)] = Frame(**{**f.model_dump(), "t_ms": f.t_ms + 30})
    assert onset - build_timeline(rec).turns[0].speech_end_ms == pytest.approx(before - 30)


def test_audio_that_keeps_arriving_after_cancel_is_dropped(runs):
    res, log, folder = runs["after_cancel"]
    assert res.status == "completed", res.error
    rec = Recording.load(folder)
    turn = rec.annotations("harness.turn.started")[1][1]
    assert turn.trigger == "barge_in" and turn.barge_in_at_agent_ms == 400
    onset = rec.annotations("harness.playback.audible")[0][1].onset_ms
    assert 400 <= turn.start_ms - onset <= 400 + 2 * 20
    frame, stop = rec.annotations("harness.playback.stopped")[0]
    assert stop.reason == "interrupted" and stop.response_id == "resp_1"
    speech_started = [f for f in rec.events("input_audio_buffer.speech_started")
                      if f.t_ms > turn.start_ms][0]
    assert frame.t_ms == speech_started.t_ms  # stopped at once
    truncate = rec.events("conversation.item.truncate", dir="sent")[0]
    assert truncate.event["audio_end_ms"] == int(stop.played_ms)
    assert truncate.event["item_id"] == "item_1"
    assert abs(stop.played_ms - (frame.t_ms - onset)) < 1
    assert log.of("conversation.item.truncate")[0]["audio_end_ms"] == int(stop.played_ms)
    late = [f for f in rec.events("response.output_audio.delta") if f.t_ms > frame.t_ms
            and f.event["response_id"] == "resp_1"]
    assert late and all(f.model_extra.get("dropped") for f in late)
    # server VAD cancels by itself: the client sends no response.cancel
    assert rec.events("response.cancel", dir="sent") == []
    # what the caller heard: the interrupted part, then the whole second reply
    agent, rate = rec.track("agent.wav")
    assert abs(_audible_ms(agent, rate) - (stop.played_ms + 3000)) <= 8


def test_events_out_of_the_usual_order(runs):
    res, log, folder = runs["out_of_order"]
    assert res.status == "completed", res.error
    rec = Recording.load(folder)
    types = _types(rec, "received")
    assert types.index("response.output_audio.delta") < types.index("response.created")
    stops = [a for _, a in rec.annotations("harness.playback.stopped")]
    assert [s.reason for s in stops] == ["drained", "drained"]
    assert [a.trigger for _, a in rec.annotations("harness.turn.started")] == \
        ["first", "after_agent"]


def test_disconnect_mid_response_is_errored_and_keeps_the_capture(runs):
    res, log, folder = runs["disconnect"]
    assert res.status == "errored"
    assert "closed the session mid-call" in res.error
    rec = Recording.load(folder)
    assert rec.meta.status == "errored" and rec.meta.error == res.error
    assert len(rec.events("response.output_audio.delta")) == 2
    ended = rec.annotations("harness.trial.ended")[0][1]
    assert ended.status == "errored" and "mid-call" in ended.error
    stop = rec.annotations("harness.playback.stopped")[0][1]
    assert stop.reason == "session_end"
    caller, _ = rec.track("caller.wav")
    assert len(caller) > 0


def test_server_that_never_answers(runs):
    res, log, folder = runs["silent"]
    assert res.status == "errored"
    assert "did not answer session.update with session.updated within 0.5 s" in res.error
    rec = Recording.load(folder)
    assert _types(rec, "sent") == ["session.update"]
    assert rec.meta.status == "errored"


def test_a_connected_agent_that_never_answers_fails_it_does_not_error(runs):
    from harness.scoring import score_trial

    res, log, folder = runs["mute"]
    # The call ran until the scenario's time limit: the agent's doing, graded like any call.
    assert (res.status, res.error) == ("completed", None)
    rec = Recording.load(folder)
    [(_, ended)] = rec.annotations("harness.trial.ended")
    assert (ended.status, ended.time_limit_s) == ("completed", 3.0)
    verdicts = {v.kind: v for v in score_trial(folder)}
    assert verdicts["turn_answered"].status == "fail"
    assert verdicts["integrity.time_limit"].status == "fail"
    assert "limit ended the call (turn(s) 2 never played)" in verdicts[
        "integrity.time_limit"].summary


def test_server_answering_in_beta_names(runs):
    res, log, folder = runs["beta"]
    assert res.status == "completed", res.error
    assert log.headers[0].get("openai-beta") == "realtime=v1"
    session = log.of("session.update")[0]["session"]
    assert session["input_audio_format"] == "pcm16" and "audio" not in session
    rec = Recording.load(folder)
    assert rec.meta.dialect == "beta"
    received = _types(rec, "received")
    assert "response.audio.delta" not in received and "conversation.item.created" not in received
    deltas = rec.events("response.output_audio.delta")
    assert deltas and all(f.model_extra["raw_type"] == "response.audio.delta" for f in deltas)
    assert len(rec.annotations("harness.playback.stopped")) == 2


def test_tool_calls_answered_from_mocks(runs):
    res, log, folder = runs["tool"]
    assert res.status == "completed", res.error
    rec = Recording.load(folder)
    (frame, answer), = rec.annotations("harness.tool.answered")
    assert answer.output == {"status": "shipped"} and not answer.invented
    assert answer.latency_ms == 300 and answer.call_index == 0
    done = rec.events("response.done")[0]
    assert frame.t_ms - rec.events("response.function_call_arguments.done")[0].t_ms >= 300
    outputs = log.of("conversation.item.create")
    assert outputs[0]["item"] == {"type": "function_call_output", "call_id": "call_1",
                                  "output": '{"status": "shipped"}'}
    sent = _types(rec, "sent")
    assert sent.index("conversation.item.create") < sent.index("response.create")
    assert done.t_ms < rec.events("response.create", dir="sent")[0].t_ms
    # the follow-up response was spoken and played out before the session closed
    assert rec.annotations("harness.playback.stopped")[0][1].reason == "drained"


def test_invented_tool_gets_an_error_result(runs):
    res, log, folder = runs["invented"]
    assert res.status == "completed", res.error
    rec = Recording.load(folder)
    answer = rec.annotations("harness.tool.answered")[0][1]
    assert answer.invented and answer.name == "launch_rocket"
    assert answer.output == {"error": "unknown tool 'launch_rocket'"}


def test_push_to_talk_commits_and_creates_a_response_after_each_turn(runs):
    res, log, folder = runs["manual"]
    assert res.status == "completed", res.error
    rec = Recording.load(folder)
    assert log.of("session.update")[0]["session"]["audio"]["input"]["turn_detection"] is None
    sent = [t for t in _types(rec, "sent") if t != "input_audio_buffer.append"]
    assert sent == ["session.update", "input_audio_buffer.commit", "response.create",
                    "input_audio_buffer.commit", "response.create"]
    ends = [f.t_ms for f, _ in rec.annotations("harness.turn.ended")]
    commits = [f.t_ms for f in rec.events("input_audio_buffer.commit")]
    assert all(0 <= c - e < 5 for c, e in zip(commits, ends, strict=False))


def test_chunks_follow_the_schedule_without_drift(runs):
    res, log, folder = runs["pacing"]
    assert res.status == "completed", res.error
    rec = Recording.load(folder)
    start = rec.annotations("harness.stream.started")[0][0].t_ms
    chunks = rec.events("input_audio_buffer.append")
    assert len(chunks) > 100
    for k, f in enumerate(chunks):
        assert f.model_extra["scheduled_ms"] == round(start + (k + 1) * 20, 3) or \
            abs(f.model_extra["scheduled_ms"] - (start + (k + 1) * 20)) < 0.002
        assert f.t_ms >= f.model_extra["scheduled_ms"] - 0.001  # never sent early
        ref = f.event["audio"]["audio_ref"]
        assert ref == {"track": "caller", "start_sample": k * 480, "samples": 480,
                       "sample_rate": 24000}
    caller, rate = rec.track("caller.wav")
    assert len(caller) == len(chunks) * 480 and rate == 24000


def test_g711_session_streams_and_plays_at_8khz(runs):
    res, log, folder = runs["g711"]
    assert res.status == "completed", res.error
    session = log.of("session.update")[0]["session"]["audio"]
    assert session["input"]["format"] == {"type": "audio/pcmu"}
    assert session["output"]["format"] == {"type": "audio/pcmu"}
    rec = Recording.load(folder)
    assert rec.annotations("harness.stream.started")[0][1].sample_rate == 8000
    ref = rec.events("input_audio_buffer.append")[0].event["audio"]["audio_ref"]
    assert ref["samples"] == 160 and ref["sample_rate"] == 8000
    stops = [a for _, a in rec.annotations("harness.playback.stopped")]
    assert [s.reason for s in stops] == ["drained", "drained"]
    assert all(abs(s.played_ms - 600) < 1 for s in stops)
    agent, rate = rec.track("agent.wav")
    assert rate == 8000 and abs(_audible_ms(agent, rate) - 1200) <= 8
    call, call_rate = rec.track("call.wav")
    assert call_rate == 8000 and call.shape[1] == 2
