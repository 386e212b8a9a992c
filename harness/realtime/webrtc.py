"""The WebRTC transport of a realtime session: an SDP offer over HTTP, then a peer connection with
the caller's audio track, the agent's audio track and the ``oai-events`` data channel.

:class:`WebRTCConnection` is used by the runner like the WebSocket
:class:`harness.realtime.client.RealtimeConnection` for events: :meth:`~WebRTCConnection.send`
puts a client event on the data channel as JSON, :meth:`~WebRTCConnection.recv` returns what
arrived with its arrival time (``time.perf_counter_ns``, taken when the data channel or the RTP
packet reached the connection). Audio does not travel as events: the caller's audio goes out
on an RTP track (:meth:`~WebRTCConnection.send_audio`, one frame at a time, paced by the
caller), and the agent's comes back on an RTP track, decoded as each packet arrives
(:mod:`harness.realtime.rtp`) and handed out by :meth:`~WebRTCConnection.recv` as
:class:`RtpAudio`, in arrival order with the events.

Opening it: create the offer (ICE host candidates only: no STUN server is asked), mint an
ephemeral key with the session config where the target says where (``openai-webrtc``,
``azure-webrtc``), POST the offer to the target's calls URL (:mod:`harness.realtime.signalling`),
apply the answer, and wait until the data channel is open. Each failure is a
:mod:`harness.realtime.errors` exception; messages name the target's label or its URL without
the query, never a header.

With network conditions (:mod:`harness.realtime.netem`), caller frames wait on their way to the
encoder and their RTP packets may be lost on their way to encryption; RTCP packets each way and
agent RTP packets (after decryption) pass delay lines at the call's DTLS transport; events pass
a delay line each way between the session and the data channel.
While the call is open, its RTP statistics are sampled (:mod:`harness.realtime.rtcstats`,
:meth:`~WebRTCConnection.rtp_stats`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCDataChannel,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.clock import current_ms
from aiortc.mediastreams import MediaStreamTrack
from aiortc.rtp import RtpPacket, is_rtcp

from harness.realtime.errors import ClosedMidSession, HandshakeRejected, HandshakeTimeout
from harness.realtime.events import ClientEvent
from harness.realtime.netem import DelayLine, NetworkConditions
from harness.realtime.rtcstats import StatsSampler
from harness.realtime.rtp import (
    OPUS_RATE,
    ArrivalDecoder,
    Departures,
    Pcm,
    PushTrack,
    close_peer,
    opus_payload_types,
)
from harness.realtime.signalling import mint_key, post_offer
from harness.realtime.targets import Target
from harness.recording import RtpStats

EVENTS_CHANNEL = "oai-events"
"""The data channel the service reads client events from and writes server events to."""
OPEN_TIMEOUT_S = 10.0
AGENT_RATE = 24_000
"""The rate the agent's audio is decoded to (the GA sessions' PCM rate)."""
CALLER_RATE = 24_000
"""The rate of the caller frames :meth:`WebRTCConnection.send_audio` takes."""


@dataclass(frozen=True)
class RtpAudio:
    """Agent audio from the RTP track: one packet, PCM16 mono at :data:`AGENT_RATE`."""

    pcm: Pcm


_CLOSED = object()


class WebRTCConnection:
    """An open WebRTC call with a realtime target (use :meth:`open`)."""

    transport: Literal["webrtc"] = "webrtc"

    def __init__(self, target: Target, pc: RTCPeerConnection, channel: RTCDataChannel,
                 caller: PushTrack, network: NetworkConditions | None = None) -> None:
        self.target = target
        self.call_id: str | None = None
        self.network = network
        lines = {d: network.line(d, lossy=d.endswith("rtp")) for d in
                 ("up-frames", "up-rtp", "up-rtcp", "up-events", "down-rtp", "down-events")
                 } if network else {}
        self.lines: dict[str, DelayLine] = lines
        """The directions of the impaired path (none without network conditions)."""
        self._pc = pc
        self._channel = channel
        self._caller = caller
        self._inbox: asyncio.Queue[tuple[object, int]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[None]] = set()
        self._decoder: ArrivalDecoder | None = None
        self._closed_reason: str | None = None
        self._stats = StatsSampler(pc)
        self._departures = Departures()
        channel.on("message", self._on_message)
        channel.on("close", lambda: self._on_closed("the data channel closed"))
        pc.on("connectionstatechange", self._on_state)
        pc.on("track", self._on_track)

    # ------------------------------------------------------------------ opening

    @classmethod
    async def open(cls, target: Target, *, session: dict[str, Any] | None = None,
                   network: NetworkConditions | None = None,
                   open_timeout: float = OPEN_TIMEOUT_S) -> WebRTCConnection:
        """Make the call, or raise the :mod:`harness.realtime.errors` exception that says why
        not. ``session`` is the session config an ephemeral key is minted with (the target's
        :attr:`~Target.secrets_url`; its ``model`` defaults to the target's); ``network``
        the conditions imposed on the call's audio and events once it is open."""
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        caller = PushTrack(CALLER_RATE)
        pc.addTrack(caller)
        channel = pc.createDataChannel(EVENTS_CHANNEL)
        conn = cls(target, pc, channel, caller, network)
        try:
            await conn._connect(open_timeout, session)
        except BaseException:
            await conn.close()
            raise
        return conn

    async def _connect(self, open_timeout: float, session: dict[str, Any] | None) -> None:
        where = f"{self.target.label} ({self.target.safe_url})"
        opened = asyncio.Event()
        self._channel.on("open", opened.set)
        deadline = asyncio.get_running_loop().time() + open_timeout
        key: str | None = None
        if self.target.secrets_url is not None:
            config = {"type": "realtime", **(session or {})}
            if self.target.model:
                config.setdefault("model", self.target.model)
            key = await mint_key(self.target, config, timeout=open_timeout)
        await self._pc.setLocalDescription(await self._pc.createOffer())
        offer = self._pc.localDescription.sdp
        answer = await post_offer(self.target, offer, timeout=open_timeout, key=key)
        self.call_id = answer.call_id
        try:
            await self._pc.setRemoteDescription(RTCSessionDescription(answer.sdp, "answer"))
        except ValueError as exc:
            raise HandshakeRejected(f"{where} answered with an SDP that does not fit the offer: "
                                    f"{exc}") from None
        payload_types = opus_payload_types(offer) | opus_payload_types(answer.sdp)
        self._decoder = ArrivalDecoder(AGENT_RATE, payload_types, self._on_audio)
        if not self._impair_rtp(self._decoder):
            for transceiver in self._pc.getTransceivers():
                if transceiver.kind == "audio":
                    self._decoder.attach(transceiver.receiver)
        self._departures.attach(self._pc)  # after _impair_rtp's wrappers
        left = deadline - asyncio.get_running_loop().time()
        try:
            await asyncio.wait_for(opened.wait(), timeout=max(left, 0.1))
        except TimeoutError:
            raise HandshakeTimeout(f"{where} answered the offer, but the data channel did not "
                                   f"open within {open_timeout:g} s (ICE or DTLS failed)"
                                   ) from None
        self._stats.start()

    def _impair_rtp(self, decoder: ArrivalDecoder) -> bool:
        """Put the call's RTP and RTCP packets through the delay lines, each way, where its DTLS
        transport sends and receives them (aiortc's ``RTCDtlsTransport`` protocol: every packet
        goes out through ``_send_rtp`` and comes in through ``_handle_rtp_data`` or
        ``_handle_rtcp_data``; wrapping them on the instance is where the wire is). Caller
        frames wait before the encoder (:meth:`send_audio`, so the encoding adds nothing to
        their delay), and their packets are lost or sent here; RTCP waits here each way; an
        agent packet is decoded and stamped as it comes off its line, then handed to aiortc's
        receiver. False when the call has no network conditions."""
        up_loss, up_rtcp, down = (self.lines.get("up-rtp"), self.lines.get("up-rtcp"),
                                  self.lines.get("down-rtp"))
        if up_loss is None or up_rtcp is None or down is None:
            return False
        dtls = {t.sender.transport for t in self._pc.getTransceivers()
                if t.sender.transport is not None}
        for transport in dtls:
            send, on_rtp, on_rtcp = (transport._send_rtp, transport._handle_rtp_data,
                                     transport._handle_rtcp_data)

            async def send_rtp(data: bytes, send: Any = send) -> None:
                # a caller frame has waited on its way to the encoder (send_audio): its packet
                # goes out now, unless the network loses it
                if is_rtcp(data):
                    up_rtcp.send(lambda: self._spawn(send(data)))
                elif not up_loss.drops():
                    await send(data)

            def arrive(data: bytes, on_rtp: Any = on_rtp, extensions: Any =
                       transport._rtp_header_extensions_map) -> None:
                with contextlib.suppress(ValueError):  # not RTP: aiortc's handler says so
                    decoder.packet(RtpPacket.parse(data, extensions), time.perf_counter_ns())
                self._spawn(on_rtp(data, arrival_time_ms=current_ms()))

            async def handle_rtp(data: bytes, arrival_time_ms: int, arrive: Any = arrive) -> None:
                down.send(lambda: arrive(data))

            async def handle_rtcp(data: bytes, on_rtcp: Any = on_rtcp) -> None:
                down.send(lambda: self._spawn(on_rtcp(data)), reliable=True)

            transport._send_rtp = send_rtp  # type: ignore[method-assign]
            transport._handle_rtp_data = handle_rtp  # type: ignore[method-assign]
            transport._handle_rtcp_data = handle_rtcp  # type: ignore[method-assign]
        return True

    def _spawn(self, delivery: Any) -> None:
        """Run a packet's delivery (a coroutine) now, as a task of the call's."""
        task = asyncio.ensure_future(_quietly(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ callbacks

    def _on_message(self, message: str | bytes) -> None:
        line = self.lines.get("down-events")
        if line is None:
            self._inbox.put_nowait((message, time.perf_counter_ns()))
        else:
            line.send(lambda: self._inbox.put_nowait((message, time.perf_counter_ns())))

    def _on_audio(self, pcm: Pcm, arrived_ns: int) -> None:
        self._inbox.put_nowait((RtpAudio(pcm), arrived_ns))

    def _on_track(self, track: MediaStreamTrack) -> None:
        task = asyncio.ensure_future(ArrivalDecoder.drain(track))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_state(self) -> None:
        if self._pc.connectionState in ("failed", "closed"):
            self._on_closed(f"the peer connection {self._pc.connectionState}")

    def _on_closed(self, reason: str) -> None:
        if self._closed_reason is None:
            self._closed_reason = reason
            self._inbox.put_nowait((_CLOSED, time.perf_counter_ns()))

    def _closed_error(self) -> ClosedMidSession:
        return ClosedMidSession(f"{self.target.label} ended the call mid-session "
                                f"({self._closed_reason or 'closed'})")

    # ------------------------------------------------------------------ events and audio

    async def send_text(self, text: str) -> None:
        """Send one client event's JSON text on the data channel."""
        if self._channel.readyState != "open":
            raise self._closed_error()
        line = self.lines.get("up-events")
        if line is None:
            self._channel.send(text)
        else:
            line.send(lambda: self._send_late(text))

    def _send_late(self, text: str) -> None:
        if self._channel.readyState == "open":  # the call may have ended on the way
            self._channel.send(text)

    async def send(self, event: ClientEvent) -> str:
        """Send one client event; returns the text sent."""
        text = json.dumps(event, separators=(",", ":"))
        await self.send_text(text)
        return text

    def send_audio(self, pcm: Pcm) -> int:
        """Send one frame of caller audio (PCM16 mono at :data:`CALLER_RATE`) on the track now;
        returns the frame's index for :meth:`when_sent`."""
        if self._closed_reason is not None:
            raise self._closed_error()
        frame = np.asarray(pcm, dtype=np.int16)
        index = self._departures.frame(len(frame) * OPUS_RATE // CALLER_RATE,
                                       time.perf_counter_ns())
        line = self.lines.get("up-frames")
        if line is None:
            self._caller.push(frame)
        else:
            def push() -> None:
                self._caller.push(frame)
                self._departures.pushed(index, time.perf_counter_ns())

            line.send(push)
        return index

    def when_sent(self, index: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(ns)`` once caller frame ``index`` has left on the wire (encoded,
        encrypted, sent), with when (``time.perf_counter_ns``): the time it was handed over plus
        its time from the track to the socket, without the delay network conditions add. Frames
        still waiting when the call closes are called back then with the time they were handed
        over."""
        self._departures.when_sent(index, callback)

    async def recv(self) -> tuple[str | bytes | RtpAudio, int]:
        """The next server event (text) or agent audio packet, and when it arrived
        (``time.perf_counter_ns``); :class:`ClosedMidSession` when the call ended."""
        item, arrived_ns = await self._inbox.get()
        if item is _CLOSED:
            self._inbox.put_nowait((item, arrived_ns))
            raise self._closed_error()
        assert isinstance(item, str | bytes | RtpAudio)
        return item, arrived_ns

    @property
    def late_packets(self) -> int:
        """Agent audio packets dropped for arriving after a later one."""
        return self._decoder.late_packets if self._decoder is not None else 0

    def rtp_stats(self, t0_ns: int) -> RtpStats | None:
        """The call's RTP statistics as sampled, timed on the session clock whose zero is
        ``t0_ns`` (read them after :meth:`close`, which samples them a last time)."""
        return self._stats.summary(t0_ns)

    async def close(self) -> None:
        self._closed_reason = self._closed_reason or "closed by the harness"
        await self._stats.stop()
        for index, callback in self._departures.pending():
            callback(self._departures.sent_ns(index))
        self._caller.finish()
        await close_peer(self._pc)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _quietly(delivery: Any) -> None:
    """Await a delayed packet's delivery; a call that ended meanwhile drops it."""
    with contextlib.suppress(ConnectionError):
        await delivery
