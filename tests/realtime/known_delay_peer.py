"""A WebRTC peer that answers a known delay after the caller's speech ends: no recogniser, no VAD
model, so it costs next to no CPU and its answer time is known to the millisecond.

It serves ``POST /v1/realtime/calls`` on loopback like the service (``application/sdp`` →
``201``, the SDP answer, a ``Location`` naming the call) and runs each call on a real aiortc peer
connection with Opus audio both ways and the ``oai-events`` data channel. On the data channel
it answers ``session.update`` with ``session.updated``.

The caller is expected to speak in bursts of tone with a clean end (the test scenarios' clips).
Caller audio is decoded packet by packet as it arrives; a packet is *loud* when its peak is at
least :data:`LOUD`. Once :data:`QUIET_PACKETS` quiet packets have followed a loud one, the
caller's speech has ended, at the arrival of the last loud packet: the packet that carried the
chunk holding the last sample of speech, which is what the harness calls the speech end. The
peer then sends ``input_audio_buffer.speech_stopped``, ``response.created`` and
``response.output_item.added``, and ``delay_ms`` after that arrival its answer becomes audible:
``output_audio_buffer.started`` and :data:`ANSWER_MS` of a 660 Hz tone on its track, pushed
early by its own encoder's delay (:data:`ENCODER_DELAY_MS`, measured once by coding a step
through the same Opus encoder and decoder) so that the first audible sample of the decoded
answer is where the delay says. Then the transcript, ``response.done`` and
``output_audio_buffer.stopped``. Outside an answer the track carries silence every 20 ms, as the
service's does.

Each answer records the delay the peer achieved (its first answer frame's push time plus the
encoder delay, minus the last loud packet's arrival): a late timer is the peer's, not the
harness's, error. It also records the delay as sent: the same with the time that frame's RTP
packet left the peer (encoded, encrypted, sent; :class:`harness.realtime.rtp.Departures`) in
place of its push time; when the silent frame ahead of the answer left only after
``output_audio_buffer.started`` (the peer's encoder ran late, the answer right behind it), 20 ms
after that frame's departure if that is later: the harness takes that frame for the answer's
first audio and plays it out first. What remains between it and the harness's measurement
is the path itself: the packets' time on the loopback both ways and their decryption at either
end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from calls_endpoint import CallsEndpoint, Request, Response

from harness.realtime.rtp import ArrivalDecoder, Departures, PushTrack, opus_payload_types

RATE = 24_000
FRAME = RATE // 50
FRAME_NS = FRAME * 1_000_000_000 // RATE
LOUD = 2000
"""Peak (PCM16) of a loud caller packet: the clips' tone is at 8000, Opus' ringing far below."""
QUIET_PACKETS = 5
"""Quiet packets after a loud one that end the caller's speech (100 ms)."""
ANSWER_MS = 400
ANSWER_AMPLITUDE = 8000


def _encoder_delay_ms() -> float:
    """How much later a step comes out of an Opus encode and decode at 48 kHz than it went in."""
    enc = av.CodecContext.create("libopus", "w")
    enc.sample_rate, enc.layout, enc.format = 48_000, "stereo", "s16"
    enc.time_base = Fraction(1, 48_000)
    dec = av.CodecContext.create("libopus", "r")
    signal = np.zeros(48_000 // 5, dtype=np.int16)
    signal[4800:] = 8000
    out = []
    for k in range(len(signal) // 960):
        frame = av.AudioFrame.from_ndarray(np.repeat(signal[k * 960:(k + 1) * 960], 2)
                                           .reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate, frame.pts = 48_000, k * 960
        for packet in enc.encode(frame):
            for decoded in dec.decode(packet):
                out.append(decoded.to_ndarray().reshape(-1)[::2])
    decoded = np.concatenate(out)
    first = int(np.flatnonzero(np.abs(decoded.astype(np.int32)) >= 1000)[0])
    return (first - 4800) / 48.0


ENCODER_DELAY_MS = _encoder_delay_ms()


def _tone(n: int, start: int) -> np.ndarray:
    t = np.arange(start, start + n) / RATE
    return (ANSWER_AMPLITUDE * np.sin(2 * np.pi * 660.0 * t)).astype(np.int16)


@dataclass
class Call:
    """One call: its track, its channel, the caller's turns as the peer saw them."""

    pc: RTCPeerConnection
    peer: KnownDelayPeer
    track: PushTrack = field(default_factory=lambda: PushTrack(RATE))
    channel: RTCDataChannel | None = None
    achieved_ms: list[float] = field(default_factory=list)
    """Per answer: its first audible sample's push time − the last loud packet's arrival."""
    sent_ms: list[float] = field(default_factory=list)
    """Per answer: its first audible sample's departure on the wire − the last loud packet's
    arrival; when the frame ahead of it left after ``output_audio_buffer.started``, 20 ms after
    that frame's departure if that is later (the answer is heard once it has played out)."""
    departures: Departures = field(default_factory=Departures)
    stalls_ms: list[float] = field(default_factory=list)
    """Per answer: how late the peer's track ran (its frames against their 20 ms grid) from the
    caller's speech end to the answer's first packets (a busy machine shows here)."""
    _lateness: list[tuple[int, float]] = field(default_factory=list)
    packets: list[int] = field(default_factory=list)
    """Arrival time (perf_counter_ns) of every caller packet."""
    _last_loud_ns: int | None = None
    _quiet: int = 0
    _answer_left: int = 0
    _answer_sent: int = 0
    _next_at: float = 0.0
    _responses: int = 0

    def send(self, event: dict) -> None:
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(json.dumps(event))

    def on_message(self, message: str) -> None:
        event = json.loads(message)
        if event.get("type") == "session.update":
            self.send({"type": "session.updated", "session": event.get("session", {})})

    def hear(self, pcm: np.ndarray, arrived_ns: int) -> None:
        self.packets.append(arrived_ns)
        if len(pcm) and int(np.abs(pcm.astype(np.int32)).max()) >= LOUD:
            self._last_loud_ns, self._quiet = arrived_ns, 0
            return
        self._quiet += 1
        if self._last_loud_ns is not None and self._quiet == QUIET_PACKETS:
            self._respond(self._last_loud_ns)
            self._last_loud_ns = None

    def _respond(self, speech_end_ns: int) -> None:
        self._responses += 1
        rid, item = f"resp_{self._responses}", f"item_{self._responses}"
        self.send({"type": "input_audio_buffer.speech_stopped", "item_id": f"in_{rid}"})
        self.send({"type": "response.created",
                   "response": {"id": rid, "status": "in_progress", "output": []}})
        self.send({"type": "response.output_item.added", "response_id": rid, "output_index": 0,
                   "item": {"id": item, "type": "message", "role": "assistant",
                            "status": "in_progress", "content": []}})
        loop = asyncio.get_running_loop()
        due_ns = speech_end_ns + int((self.peer.delay_ms - ENCODER_DELAY_MS) * 1e6)
        # the loop's timers fire up to a millisecond late: wake early, then wait out the rest
        at = loop.time() + max(0.0, due_ns - time.perf_counter_ns() - 2e6) / 1e9
        loop.call_at(at, self._start_answer, rid, item, speech_end_ns, due_ns)

    def _start_answer(self, rid: str, item: str, speech_end_ns: int, due_ns: int) -> None:
        while time.perf_counter_ns() < due_ns:
            pass
        started_ns = time.perf_counter_ns()
        self.send({"type": "output_audio_buffer.started", "response_id": rid})
        self._answer_left, self._answer_sent = ANSWER_MS * RATE // 1000, 0
        self.achieved_ms.append((time.perf_counter_ns() - speech_end_ns) / 1e6
                                + ENCODER_DELAY_MS)
        index = self._push()
        ahead: list[int] = []
        if index > 0:
            # the frame ahead of the answer, when it left after output_audio_buffer.started: the
            # harness takes it for the answer's first audio and plays it out first
            self.departures.when_sent(index - 1, lambda ns: ahead.append(
                ns + FRAME_NS if ns > started_ns else ns))

        def answer_sent(ns: int) -> None:
            heard_ns = max([ns, *ahead])
            self.sent_ms.append((heard_ns - speech_end_ns) / 1e6 + ENCODER_DELAY_MS)

        self.departures.when_sent(index, answer_sent)
        self._next_at = asyncio.get_running_loop().time() + 0.02
        asyncio.get_running_loop().call_later(0.06, self._note_stall, speech_end_ns)
        asyncio.get_running_loop().call_later(ANSWER_MS / 1000 + 0.05, self._finish, rid, item)

    def _note_stall(self, since_ns: int) -> None:
        self.stalls_ms.append(max((late for t, late in self._lateness if t >= since_ns),
                                  default=0.0))
        self._lateness = [(t, late) for t, late in self._lateness if t >= since_ns]

    def _finish(self, rid: str, item: str) -> None:
        done = {"id": item, "type": "message", "role": "assistant", "status": "completed",
                "content": [{"type": "output_audio", "transcript": "ok"}]}
        self.send({"type": "response.output_audio_transcript.done", "response_id": rid,
                   "item_id": item, "output_index": 0, "content_index": 0, "transcript": "ok"})
        self.send({"type": "response.output_item.done", "response_id": rid, "output_index": 0,
                   "item": done})
        self.send({"type": "response.done",
                   "response": {"id": rid, "status": "completed", "output": [done]}})
        self.send({"type": "output_audio_buffer.stopped", "response_id": rid})

    def _push(self) -> int:
        """Push the track's next frame; returns its index in :attr:`departures`."""
        index = self.departures.frame(FRAME * 2, time.perf_counter_ns())  # 48 kHz samples
        if self._answer_left > 0:
            self.track.push(_tone(FRAME, self._answer_sent))
            self._answer_sent += FRAME
            self._answer_left -= FRAME
        else:
            self.track.push(np.zeros(FRAME, dtype=np.int16))
        return index

    async def play(self) -> None:
        """The track: a frame every 20 ms (the grid restarts where an answer starts)."""
        loop = asyncio.get_running_loop()
        self._next_at = loop.time() + 0.02
        while True:
            await asyncio.sleep(max(0.0, self._next_at - loop.time()))
            if loop.time() < self._next_at - 0.0005:
                continue  # an answer moved the grid while this waited
            self._lateness.append((time.perf_counter_ns(), (loop.time() - self._next_at) * 1e3))
            self._push()
            self._next_at += 0.02


class KnownDelayPeer(CallsEndpoint):
    """The calls endpoint (``async with KnownDelayPeer(delay_ms=300) as peer``: ``peer.url``)."""

    def __init__(self, delay_ms: float) -> None:
        super().__init__()
        self.delay_ms = delay_ms
        self.calls: list[Call] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/realtime/calls"

    async def answer(self, request: Request) -> Response:
        if not request.line.startswith("POST /v1/realtime/calls"):
            return Response("404 Not Found", b"no such endpoint")
        call_id = f"rtc_delay{len(self.calls)}"
        sdp = await self._answer(request.body.decode())
        return Response("201 Created", sdp.encode(),
                        f"Content-Type: application/sdp\r\n"
                        f"Location: /v1/realtime/calls/{call_id}\r\n")

    async def _answer(self, offer: str) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        call = Call(pc, self)
        self.calls.append(call)

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            call.channel = channel
            channel.on("message", call.on_message)

        @pc.on("track")
        def on_track(track) -> None:
            self.tasks.append(asyncio.ensure_future(ArrivalDecoder.drain(track)))

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        pc.addTrack(call.track)
        decoder = ArrivalDecoder(RATE, opus_payload_types(offer), call.hear)
        for transceiver in pc.getTransceivers():
            decoder.attach(transceiver.receiver)
        await pc.setLocalDescription(await pc.createAnswer())
        call.departures.attach(pc)
        self.tasks.append(asyncio.ensure_future(call.play()))
        return pc.localDescription.sdp


async def _serve_until_stdin_closes(delay_ms: float) -> None:
    async with KnownDelayPeer(delay_ms) as peer:
        print(peer.url, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        print(json.dumps([[call.achieved_ms, call.stalls_ms, call.sent_ms]
                          for call in peer.calls]),
              flush=True)


def main() -> None:
    """``python known_delay_peer.py --delay-ms 300``: print the calls URL, serve until stdin
    closes, then print each call's achieved delays and stalls (JSON)."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--delay-ms", type=float, required=True)
    asyncio.run(_serve_until_stdin_closes(parser.parse_args().delay_ms))


class PeerProcess:
    """The peer in a process of its own (its CPU is not the harness's): ``with PeerProcess(300)
    as peer``: ``peer.url``; after the block, ``peer.achieved_ms``, ``peer.sent_ms`` and
    ``peer.stalls_ms`` (per call, per answer)."""

    def __init__(self, delay_ms: float) -> None:
        self.delay_ms = delay_ms
        self.url = ""
        self.achieved_ms: list[list[float]] = []
        self.stalls_ms: list[list[float]] = []
        self.sent_ms: list[list[float]] = []
        self._proc: subprocess.Popen[str] | None = None

    def __enter__(self) -> PeerProcess:
        self._proc = subprocess.Popen(
            [sys.executable, __file__, "--delay-ms", str(self.delay_ms)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        assert self._proc.stdout is not None
        self.url = self._proc.stdout.readline().strip()
        if not self.url.startswith("http://"):
            self._proc.kill()
            raise RuntimeError("the known-delay peer did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._proc is not None
        out, _ = self._proc.communicate("", timeout=30)
        lines = out.strip().splitlines()
        calls = json.loads(lines[-1]) if lines else []
        self.achieved_ms = [achieved for achieved, _, _ in calls]
        self.stalls_ms = [stalls for _, stalls, _ in calls]
        self.sent_ms = [sent for _, _, sent in calls]


if __name__ == "__main__":
    main()
