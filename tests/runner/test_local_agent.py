"""End to end: the example suite against the local reference agent over real sockets.

One suite run (sessions overlap; the run ``test_e2e_suite.py`` grades) and then, per construct
of the scenario format, what its recording must show on the timeline: turn triggers and times,
cut-offs, pauses, silence and play turns, per-turn beds, barge-in with truncate, tool answers,
playback and the tracks.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness.audio import render_scenario
from harness.recording import Recording
from harness.scenario.loader import load_suite

ROOT = Path(__file__).resolve().parents[2]
CHUNK_MS = 20

# they read the example suite's shared run, which the first of them may make (four calls at
# once, with one light test at most beside them)
pytestmark = [pytest.mark.slow, pytest.mark.calls(6), pytest.mark.shared_calls]


@pytest.fixture(scope="module")
def recordings(example_suite_run) -> dict[str, Recording]:
    scenarios = load_suite([ROOT / "scenarios"])
    trials = example_suite_run.trials
    assert {t.scenario for t in trials} == {s.name for s in scenarios}
    errored = [(t.scenario, t.error) for t in trials if t.run_status != "completed"]
    assert errored == []
    return {t.scenario: Recording.load(t.path) for t in trials}


def _turns(rec: Recording):
    return [a for _, a in rec.annotations("harness.turn.started")]


def test_every_turn_of_every_scenario_ran(recordings):
    for name, rec in recordings.items():
        turns = _turns(rec)
        n_turns = len(rec.meta.scenario_model["turns"])
        assert [t.turn_index for t in turns] == list(range(n_turns)), name
        assert turns[0].trigger in ("first", "after_ms"), name
        stream_start = rec.annotations("harness.stream.started")[0][0].t_ms
        # the lead-in: at least 500 ms of line before the first turn (times are recorded to
        # the microsecond, so compare at that precision: 511.018 − 11.018 is 500 there)
        assert round(turns[0].start_ms - stream_start, 3) >= 500, name
        assert [f.event["turn_index"] for f in rec.events("harness.turn.ended")] == \
            [t.turn_index for t in turns], name
        assert rec.frames[-1].type == "harness.trial.ended" and rec.meta.status == "completed"
        for prev, nxt in zip(turns, turns[1:], strict=False):
            assert nxt.start_ms > prev.end_ms, name  # turns never overlap


def test_recorded_clip_turn(recordings):
    t0 = _turns(recordings["order-status"])[0]
    assert t0.kind == "audio" and t0.text == "Hi, I want to check on my order."
    assert t0.start_ms <= t0.speech_onset_ms < t0.speech_end_ms <= t0.end_ms


def test_cut_off_turns(recordings):
    t1 = _turns(recordings["cut-off-order-id"])[1]
    assert t1.cut_off and t1.text.startswith(t1.spoken_text)
    assert len(t1.spoken_text) < len(t1.text)
    dropped = _turns(recordings["dropped-line"])[0]
    assert dropped.cut_off and dropped.speech_end_ms - dropped.speech_onset_ms <= 1400 + CHUNK_MS


def test_mid_turn_pause(recordings):
    t0 = _turns(recordings["mid-sentence-pause"])[0]
    (start, end), = t0.pauses_ms
    assert t0.speech_onset_ms < start < end < t0.speech_end_ms
    assert abs((end - start) - 1500) <= 2 * CHUNK_MS


def test_silence_and_play_turns(recordings):
    silence = _turns(recordings["long-silence"])[1]
    assert silence.kind == "silence" and not silence.addressed
    # start and end are the send times of the first and the last chunk
    assert silence.speech_onset_ms is None
    assert abs((silence.end_ms - silence.start_ms) - (7000 - CHUNK_MS)) < 0.01
    plays = _turns(recordings["hold-music"])[1:4]
    assert [t.kind for t in plays] == ["play"] * 3 and not any(t.addressed for t in plays)
    for t, ms in zip(plays, (4000, 2500, 3000), strict=True):
        assert abs((t.end_ms - t.start_ms) - (ms - CHUNK_MS)) < 0.01


def test_after_ms_and_per_turn_bed(recordings):
    rec = recordings["long-silence"]
    turns = _turns(rec)
    assert turns[4].trigger == "after_ms"
    assert 400 <= turns[4].start_ms - turns[3].end_ms <= 400 + 2 * CHUNK_MS
    caller, rate = rec.track("caller.wav")
    stream_start = rec.annotations("harness.stream.started")[0][0].t_ms
    scenario = next(s for s in load_suite([ROOT / "scenarios"]) if s.name == "long-silence")
    script = render_scenario(scenario)

    def sent(turn) -> tuple[np.ndarray, np.ndarray]:
        # the turn's first chunk is sent at start_ms and holds the samples of the 20 ms before
        first = round((turn.start_ms - CHUNK_MS - stream_start) * rate / 1000)
        clip = script.turns[turn.turn_index].samples
        return caller[first: first + len(clip)], clip

    # turn 4 says `noise: none`: the stream carries its clip alone; turn 0 has the pink bed under it
    got, clip = sent(turns[4])
    assert np.array_equal(got, clip)
    got, clip = sent(turns[0])
    assert len(got) == len(clip) and np.count_nonzero(got.astype(np.int32) - clip) > len(clip) // 2


def test_barge_in(recordings):
    rec = recordings["barge-in"]
    turn = _turns(rec)[1]
    assert turn.trigger == "barge_in" and turn.barge_in_at_agent_ms == 1500
    onsets = [a.onset_ms for _, a in rec.annotations("harness.playback.audible")
              if a.onset_ms > _turns(rec)[0].end_ms]
    assert 1500 <= turn.start_ms - onsets[0] <= 1500 + 2 * CHUNK_MS
    stops = [(f, a) for f, a in rec.annotations("harness.playback.stopped")
             if a.reason == "interrupted"]
    assert stops, "the agent's answer was not interrupted"
    frame, stop = stops[0]
    started = [f for f in rec.events("input_audio_buffer.speech_started")
               if f.t_ms >= turn.start_ms]
    assert frame.t_ms == started[0].t_ms and stop.dropped_ms > 0
    truncate = rec.events("conversation.item.truncate", dir="sent")[0]
    assert truncate.event["item_id"] == stop.item_id
    assert truncate.event["audio_end_ms"] == int(stop.played_ms)


def test_when_agent_says(recordings):
    rec = recordings["update-email-spelled"]
    turns = _turns(rec)
    t2 = turns[2]
    said = "".join(f.event.get("delta", "") for f in
                   rec.events("response.output_audio_transcript.delta")
                   if turns[1].end_ms <= f.t_ms <= t2.start_ms)
    if t2.trigger == "when_agent_says":
        assert re.search("(?i)spell", said)
    else:
        assert t2.trigger == "timeout" and not re.search("(?i)spell", said)


def test_tool_calls_are_answered_from_the_mocks(recordings):
    answered = [(name, f, a) for name, rec in recordings.items()
                for f, a in rec.annotations("harness.tool.answered")]
    assert answered, "no tool call in the whole suite"
    for name, frame, answer in answered:
        rec = recordings[name]
        sent = [f for f in rec.events("conversation.item.create", dir="sent")
                if f.event["item"]["call_id"] == answer.call_id]
        assert len(sent) == 1 and json.loads(sent[0].event["item"]["output"]) == answer.output
        assert not answer.invented
        call = [f for f in rec.events("response.function_call_arguments.done")
                if f.event["call_id"] == answer.call_id][0]
        assert frame.t_ms - call.t_ms >= answer.latency_ms
    lookups = [a for n, _, a in answered if a.name == "lookup_order" and n == "order-status"]
    if lookups and lookups[0].arguments == {"order_id": "83521"}:
        assert lookups[0].output == {"status": "shipped", "eta": "April 25"}


def test_playback_and_tracks(recordings):
    for name, rec in recordings.items():
        stops = [a for _, a in rec.annotations("harness.playback.stopped")]
        for s in stops:
            if s.reason == "drained":
                assert s.played_ms == s.received_ms and s.dropped_ms == 0, name
        received = sum(f.event["delta"]["audio_ref"]["samples"]
                       for f in rec.events("response.output_audio.delta"))
        stream, rate = rec.track("agent_stream.wav")
        assert len(stream) == received, name
        agent, _ = rec.track("agent.wav")
        played = sum(s.played_ms for s in stops) * rate / 1000
        assert np.count_nonzero(agent) <= played + len(stops), name
        caller, crate = rec.track("caller.wav")
        assert len(caller) == len(rec.events("input_audio_buffer.append")) * crate * CHUNK_MS \
            // 1000, name
