"""How a WebRTC trial records what arrives: RTP packets of a response become audio deltas of its
item (``via: rtp``), the track's silence is not recorded, playback ends on the server's
``output_audio_buffer.stopped`` (not on ``response.done``) and stops on ``.cleared``, and the
server's truncation is the one the timeline grades. The connection is a stand-in that hands the
session a fixed sequence of arrivals; the real transport is tested in tests/realtime/test_webrtc.py
and end to end in test_webrtc_run.py."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("aiortc")

from scripted import FakeScript, scenario  # noqa: E402

from harness.realtime.errors import ClosedMidSession  # noqa: E402
from harness.realtime.targets import Target  # noqa: E402
from harness.realtime.webrtc import RtpAudio  # noqa: E402
from harness.recording import Recording, RecordingMeta  # noqa: E402
from harness.runner.capture import RecordingWriter  # noqa: E402
from harness.runner.webrtc_session import WebRTCTrialSession  # noqa: E402
from harness.scoring.timeline import build_timeline  # noqa: E402

PACKET = 480  # 20 ms at 24 kHz


class Arrivals:
    """A WebRTC connection stand-in: ``recv`` hands out (event or audio, session ms) in order."""

    def __init__(self, t0_ns: int, items: list[tuple[float, Any]]) -> None:
        self.target = Target("local-webrtc:test", "http://127.0.0.1:9/v1/realtime/calls",
                             transport="webrtc")
        self.t0_ns = t0_ns
        self.items = list(items)
        self.sent: list[dict[str, Any]] = []

    async def recv(self) -> tuple[str | RtpAudio, int]:
        if not self.items:
            raise ClosedMidSession("done")
        t_ms, item = self.items.pop(0)
        message = item if isinstance(item, RtpAudio) else json.dumps(item)
        return message, self.t0_ns + int(t_ms * 1e6)

    async def send(self, event: dict[str, Any]) -> str:
        self.sent.append(event)
        return json.dumps(event)

    def rtp_stats(self, t0_ns: int) -> None:
        return None  # no RTCP on a stand-in


def _packet(loud: bool) -> RtpAudio:
    t = np.arange(PACKET) / 24_000
    return RtpAudio((6000 * np.sin(2 * np.pi * 300 * t)).astype(np.int16) if loud
                    else np.zeros(PACKET, dtype=np.int16))


def _response(rid: str, item: str, t: float, packets: int) -> list[tuple[float, Any]]:
    out: list[tuple[float, Any]] = [
        (t, {"type": "response.created", "response": {"id": rid}}),
        (t + 1, {"type": "response.output_item.added", "response_id": rid,
                 "item": {"id": item, "type": "message"}}),
        (t + 10, {"type": "output_audio_buffer.started", "response_id": rid})]
    out += [(t + 11 + 20 * k, _packet(True)) for k in range(packets)]
    return out


def _default_arrivals() -> list[tuple[float, Any]]:
    items = [(5, {"type": "session.updated", "session": {}}), (50, _packet(False))]
    items += _response("r1", "i1", 100, 10)
    items += [(150, {"type": "response.done", "response": {"id": "r1", "status": "completed"}}),
              (320, {"type": "output_audio_buffer.stopped", "response_id": "r1"}),
              (340, _packet(False))]
    items += _response("r2", "i2", 400, 5)
    items += [(470, {"type": "input_audio_buffer.speech_started", "item_id": "u2"}),
              (480, {"type": "output_audio_buffer.cleared", "response_id": "r2"}),
              (481, {"type": "conversation.item.truncated", "item_id": "i2",
                     "content_index": 0, "audio_end_ms": 60}),
              (482, {"type": "response.done", "response": {
                  "id": "r2", "status": "cancelled",
                  "status_details": {"type": "cancelled", "reason": "turn_detected"}}})]
    return items


def _call(tmp_path: Path, items: list[tuple[float, Any]] | None = None
          ) -> tuple[Recording, Arrivals]:
    sc = scenario([{"say": "hello"}])
    t0_ns = time.perf_counter_ns()
    conn = Arrivals(t0_ns, sorted(items or _default_arrivals(), key=lambda item: item[0]))
    meta = RecordingMeta(scenario="t", scenario_hash="0" * 16, agent_config={},
                         agent_config_hash="1" * 16, target=conn.target.label,
                         harness_version="0", started_at="2026-01-01T00:00:00Z")
    writer = RecordingWriter(tmp_path, meta)
    session = WebRTCTrialSession(scenario=sc, config=sc.agent_config, script=FakeScript(sc),
                                 connection=conn, writer=writer, t0_ns=t0_ns)

    async def receive() -> None:
        with pytest.raises(ClosedMidSession):
            await session._receive_loop()

    asyncio.run(receive())
    session.finish("completed", None)
    return Recording.load(tmp_path), conn


def test_rtp_audio_is_recorded_as_deltas_of_the_playing_response(tmp_path: Path) -> None:
    recording, conn = _call(tmp_path)
    deltas = recording.events("response.output_audio.delta", dir="received")
    # the loud packets while a response played: r2's last one came after the server cleared its
    # buffer and the response was done (no response's), the silent ones outside are not either
    assert len(deltas) == 14
    assert all(f.model_extra and f.model_extra["via"] == "rtp" for f in deltas)
    assert [f.event["item_id"] for f in deltas] == ["i1"] * 10 + ["i2"] * 4
    refs = [f.event["delta"]["audio_ref"] for f in deltas]
    assert [r["start_sample"] for r in refs] == [k * PACKET for k in range(14)]
    assert conn.sent == []  # barge-in was the server's: no truncate, no cancel from the harness


def test_playback_ends_on_the_servers_word(tmp_path: Path) -> None:
    recording, _ = _call(tmp_path)
    stops = {f.event["response_id"]: f for f in recording.events("harness.playback.stopped")}
    # r1's audio (10 packets from 111 ms) played to its end, 311 ms, although response.done came
    # at 150 ms with two packets in: done would have drained it at 171 ms and dropped the rest
    assert stops["r1"].event["reason"] == "drained"
    assert stops["r1"].event["played_ms"] == pytest.approx(200.0)
    assert stops["r1"].event["dropped_ms"] == 0
    assert stops["r1"].t_ms == pytest.approx(311)
    # r2 stopped when the server cleared its buffer
    assert stops["r2"].event["reason"] == "interrupted" and stops["r2"].t_ms == pytest.approx(480)
    timeline = build_timeline(recording)
    r1, r2 = timeline.responses
    assert r1.items[0].first_audio_ms == pytest.approx(111)
    assert len(r1.items[0].audio_chunks) == 10
    truncate, = timeline.truncates
    assert (truncate.by, truncate.item_id, truncate.audio_end_ms) == ("server", "i2", 60)


def test_a_lost_stopped_event_ends_playback_after_a_silence(tmp_path: Path) -> None:
    items: list[tuple[float, Any]] = [(5, {"type": "session.updated", "session": {}})]
    items += _response("r1", "i1", 100, 10)
    items += [(150, {"type": "response.done", "response": {"id": "r1", "status": "completed"}})]
    # no output_audio_buffer.stopped: the track goes on with silence for three seconds
    items += [(311 + 20 * k, _packet(False)) for k in range(150)]
    recording, _ = _call(tmp_path, items)
    stop, = recording.events("harness.playback.stopped")
    assert stop.event["reason"] == "drained" and stop.event["played_ms"] >= 200
    # the response was last audible at 291 ms: it has played out 2 s of silence later
    assert 2291 <= stop.t_ms <= 2331
    deltas = recording.events("response.output_audio.delta", dir="received")
    assert len(deltas) == 10 + 99  # the silence within those 2 s was the response's
