"""A tiny WebRTC peer on loopback that answers SDP offers like the realtime service's calls
endpoint: ``POST /v1/realtime/calls`` with ``application/sdp`` → ``201``, the SDP answer and a
``Location`` naming the call; ``401`` when the bearer key is not the one it expects (nor an
ephemeral key it minted). ``POST /v1/realtime/client_secrets`` mints ephemeral keys as the service
does: the API key as bearer, a JSON body ``{"session": {"type": "realtime", ...}}`` → ``200``
``{"value": "ek_…", "expires_at": …, "session": {…}}``; a wrong key → ``401`` with the service's
error JSON, which quotes the key it was given. As Azure (``azure=True``) it serves the same under
``/openai/v1/realtime/``, takes the API key from the ``api-key`` header and answers an offer
only with a key it minted; any other path is ``404``.

The peer is a real aiortc peer connection with Opus audio both ways and the ``oai-events`` data
channel. On the data channel it answers ``session.update`` with ``session.updated``, echoes every
other event as ``test.echo``, and on ``test.play`` plays ``ms`` of a 440 Hz tone on its audio track
at real-time rate (silence otherwise, as the service's track does). It keeps the caller audio it
decoded, each packet with its arrival time.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from dataclasses import dataclass, field

import numpy as np
from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from calls_endpoint import CallsEndpoint, Request, Response

from harness.realtime.rtp import ArrivalDecoder, PushTrack, opus_payload_types

RATE = 24_000
FRAME = RATE // 50


def tone(n: int, start: int = 0, freq: float = 440.0, amplitude: float = 8000.0) -> np.ndarray:
    """``n`` samples of a sine at ``RATE``, from sample ``start`` on."""
    t = np.arange(start, start + n) / RATE
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


@dataclass
class Peer:
    """One call the peer answered."""

    pc: RTCPeerConnection
    track: PushTrack
    heard: list[tuple[np.ndarray, int]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    channel: RTCDataChannel | None = None
    authorization: str | None = None
    _play_samples: int = 0

    async def play(self) -> None:
        """The track: a tone while one is asked for, silence otherwise, every 20 ms."""
        start = time.monotonic()
        k = 0
        sent = 0
        while True:
            k += 1
            await asyncio.sleep(max(0.0, start + k * 0.02 - time.monotonic()))
            if self._play_samples > 0:
                self.track.push(tone(FRAME, sent))
                sent += FRAME
                self._play_samples -= FRAME
            else:
                self.track.push(np.zeros(FRAME, dtype=np.int16))

    def on_message(self, message: str) -> None:
        event = json.loads(message)
        self.events.append(event)
        assert self.channel is not None
        if event.get("type") == "session.update":
            self.channel.send(json.dumps({"type": "session.updated",
                                          "session": event.get("session", {})}))
        elif event.get("type") == "test.play":
            self._play_samples = int(event["ms"]) * RATE // 1000
            self.channel.send(json.dumps({"type": "output_audio_buffer.started",
                                          "response_id": "resp_1"}))
        else:
            self.channel.send(json.dumps({"type": "test.echo", "event": event}))


class ServicePeer(CallsEndpoint):
    """The HTTP endpoint and its calls (``async with ServicePeer(key=...) as service``);
    ``answer_type`` is the answer's ``Content-Type`` (the service was recorded sending
    ``text/plain; charset=utf-8``)."""

    def __init__(self, key: str | None = None, answer_type: str = "application/sdp",
                 azure: bool = False) -> None:
        super().__init__()
        self.key = key
        self.answer_type = answer_type
        self.azure = azure
        self.root = "/openai/v1/realtime" if azure else "/v1/realtime"
        self.calls: list[Peer] = []
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.minted: dict[str, dict] = {}
        """Ephemeral key → the session config it was minted with."""
        self.secret_bodies: list[bytes] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.root}/calls?model=gpt-realtime"

    async def answer(self, request: Request) -> Response:
        self.requests.append((request.line, request.headers))
        bearer = request.headers.get("authorization", "").removeprefix("Bearer ")
        path = request.line.split()[1].split("?")[0]
        if path == f"{self.root}/client_secrets":
            api_key = request.headers.get("api-key", "") if self.azure else bearer
            status, extra, payload = self._mint(api_key, request.body)
            return Response(status, payload, extra)
        if path != f"{self.root}/calls":
            return Response("404 Not Found")
        accepted = bearer in self.minted or (bearer == self.key and not self.azure)
        if self.key is not None and not accepted:
            return Response("401 Unauthorized", _key_error(bearer))
        call_id = f"rtc_test{len(self.calls)}"
        sdp = await self._answer(request.body.decode(), request.headers)
        return Response("201 Created", sdp.encode(),
                        f"Content-Type: {self.answer_type}\r\n"
                        f"Location: {self.root}/calls/{call_id}\r\n")

    def _mint(self, api_key: str, body: bytes) -> tuple[str, str, bytes]:
        self.secret_bodies.append(body)
        if self.key is not None and api_key != self.key:
            return "401 Unauthorized", "Content-Type: application/json\r\n", _key_error(api_key)
        session = json.loads(body).get("session")
        if not isinstance(session, dict) or session.get("type") != "realtime":
            error = {"error": {"message": "Missing required parameter: 'session.type'.",
                               "type": "invalid_request_error", "param": "session.type",
                               "code": "missing_required_parameter"}}
            return ("400 Bad Request", "Content-Type: application/json\r\n",
                    json.dumps(error).encode())
        value = f"ek_test{len(self.minted)}_{secrets.token_hex(8)}"
        self.minted[value] = session
        answer = {"value": value, "expires_at": int(time.time()) + 60,
                  "session": {**session, "object": "realtime.session",
                              "id": f"sess_test{len(self.minted)}"}}
        return "200 OK", "Content-Type: application/json\r\n", json.dumps(answer).encode()

    async def _answer(self, offer: str, headers: dict[str, str]) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        peer = Peer(pc, PushTrack(RATE), authorization=headers.get("authorization"))
        self.calls.append(peer)

        @pc.on("datachannel")
        def on_channel(channel: RTCDataChannel) -> None:
            peer.channel = channel
            channel.on("message", peer.on_message)

        @pc.on("track")
        def on_track(track) -> None:
            self.tasks.append(asyncio.ensure_future(ArrivalDecoder.drain(track)))

        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        pc.addTrack(peer.track)
        decoder = ArrivalDecoder(RATE, opus_payload_types(offer),
                                 lambda pcm, ns: peer.heard.append((pcm, ns)))
        for transceiver in pc.getTransceivers():
            decoder.attach(transceiver.receiver)
        await pc.setLocalDescription(await pc.createAnswer())
        self.tasks.append(asyncio.ensure_future(peer.play()))
        return pc.localDescription.sdp


def _key_error(key: str) -> bytes:
    """The service's 401 body, which quotes the key it was given."""
    return json.dumps({"error": {
        "message": f"Incorrect API key provided: {key}. You can find your API key at "
                   "https://platform.openai.com/account/api-keys.",
        "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}).encode()
