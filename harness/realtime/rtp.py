"""Audio over RTP for WebRTC sessions: a track fed with PCM16 frames, and Opus decoded on arrival.

Both ends of a WebRTC call in this repository use these: the harness's caller
(:mod:`harness.realtime.webrtc`) and the local agent's WebRTC server.

- :class:`PushTrack` is an outgoing audio track whose frames are pushed by the owner, who paces
  them: the sender encodes (Opus, 48 kHz) and sends each frame as soon as it is pushed, so a frame
  leaves when the owner's clock says, not when a track's own timer would.
- :class:`Departures` notes when each RTP packet of such a track went out on the wire (encoded,
  encrypted and sent), so the owner can say when a frame it pushed actually left.
- :class:`ArrivalDecoder` decodes the Opus packets of a receiver the moment they reach it, each
  stamped with ``time.perf_counter_ns()`` when the packet arrived. aiortc's own receive path
  holds audio in a jitter buffer that releases a packet only once four later ones have arrived
  (80 ms at 20 ms a packet) and decodes on a worker thread; its track is still read (and its
  frames discarded) so nothing piles up, but what the owner hears is the packet as it arrived.
  Packets that arrive after a later one (reordered on the network) are dropped; a lost packet
  leaves a gap: nothing is concealed.

Frames are 20 ms; an outgoing frame is sent at 48 kHz so that Opus codes exactly the frame pushed
(the encoder's own resampler would hold back part of each frame until the next one arrives).
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from collections.abc import Awaitable, Callable
from typing import Any

import av
import numpy as np
import numpy.typing as npt
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCRtpReceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import RtpPacket, is_rtcp
from aiortc.sdp import SessionDescription

OPUS_RATE = 48_000
"""The RTP clock and the rate frames are encoded and decoded at."""
FRAME_MS = 20
"""Audio per RTP packet."""

Pcm = npt.NDArray[np.int16]
ArrivalCallback = Callable[[Pcm, int], None]
"""Called with each decoded packet (PCM16 mono at the decoder's rate) and its arrival time."""


def opus_payload_types(sdp: str) -> set[int]:
    """The RTP payload types an SDP gives Opus (those :class:`ArrivalDecoder` decodes)."""
    description = SessionDescription.parse(sdp)
    return {codec.payloadType for media in description.media if media.kind == "audio"
            for codec in media.rtp.codecs
            if codec.mimeType.lower() == "audio/opus" and codec.payloadType is not None}


class _Resampler:
    """PCM16 mono from one rate to another, chunk by chunk (libswresample: it holds back only
    its filter's few samples, where a block resampler would hold whole blocks)."""

    def __init__(self, rate_in: int, rate_out: int) -> None:
        self.rate_in = rate_in
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate_out)

    def __call__(self, pcm: Pcm) -> Pcm:
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.rate_in
        parts = [out.to_ndarray().reshape(-1) for out in self._resampler.resample(frame)]
        return np.concatenate(parts).astype(np.int16, copy=False) if parts else \
            np.zeros(0, dtype=np.int16)


class Upsampler:
    """PCM16 mono at ``rate`` → 48 kHz, chunk by chunk, without holding audio back.

    A resampler's filter delays its output by a few samples; the first output is padded with that
    many zeros so that every chunk in gives exactly its length at 48 kHz out.
    """

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler = None if rate == OPUS_RATE else _Resampler(rate, OPUS_RATE)
        self._pending = np.zeros(0, dtype=np.int16)
        self._primed = False

    def __call__(self, pcm: Pcm) -> Pcm:
        if self._resampler is None:
            return pcm
        want = len(pcm) * OPUS_RATE // self.rate
        out = np.concatenate([self._pending, self._resampler(pcm)])
        if not self._primed:
            self._primed = True
            out = np.concatenate([np.zeros(max(0, want - len(out)), dtype=np.int16), out])
        self._pending = out[want:]
        return out[:want].astype(np.int16, copy=False)


class PushTrack(MediaStreamTrack):
    """An outgoing audio track: :meth:`push` a PCM16 mono frame, and it goes out now.

    ``rate`` is the rate of the frames pushed; they are upsampled to 48 kHz (see the module
    docstring). :meth:`finish` ends the track.
    """

    kind = "audio"

    def __init__(self, rate: int) -> None:
        super().__init__()
        self.rate = rate
        self._upsample = Upsampler(rate)
        self._queue: asyncio.Queue[av.AudioFrame | None] = asyncio.Queue()
        self._pts = 0
        self.pushed_samples = 0

    def push(self, pcm: Pcm) -> None:
        """Queue one frame of PCM16 mono at ``rate`` for the sender."""
        self.pushed_samples += len(pcm)
        data = self._upsample(np.asarray(pcm, dtype=np.int16))
        # both channels the same: a mono frame would be mixed into stereo at -3 dB by the encoder
        frame = av.AudioFrame.from_ndarray(np.repeat(data, 2).reshape(1, -1), format="s16",
                                           layout="stereo")
        frame.sample_rate = OPUS_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, OPUS_RATE)
        self._pts += len(data)
        self._queue.put_nowait(frame)

    def finish(self) -> None:
        """No more frames: the sender stops reading the track."""
        self._queue.put_nowait(None)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame


class Departures:
    """When each frame pushed on a :class:`PushTrack` left on the wire.

    :meth:`frame` notes a frame as it is handed over (its 48 kHz sample range, and when: the
    owner's ``sent_ns`` and the track's ``pushed_ns``, which differ where network conditions hold
    the frame on its way to the encoder); :meth:`packet` notes each outgoing RTP packet as it is
    sent (its RTP timestamp, counted from the first packet's, is its first sample at 48 kHz).
    :meth:`when_sent` calls back once the packet carrying a frame's last sample has gone, with the
    frame's ``sent_ns`` plus the time the frame took from the track to the wire (encoding, the
    sender's queue, encryption): when it left as far as the caller's end can tell, without any
    delay the network conditions add.
    """

    def __init__(self) -> None:
        self._frames: list[tuple[int, int, int | None]] = []  # (last sample, sent, pushed)
        self._first_ts: int | None = None
        self._departed: dict[int, int] = {}  # packet (its first sample // 20 ms) → ns
        self._waiting: dict[int, list[tuple[int, Callable[[int], None]]]] = {}

    def attach(self, pc: RTCPeerConnection) -> None:
        """Note each RTP packet ``pc`` sends as it leaves: aiortc's DTLS transport sends every
        packet through ``_send_rtp``, which encrypts it and hands it to the socket. Attach after
        anything else that wraps it (a lossy line), so a packet is noted even when that drops
        it."""
        for transport in {t.sender.transport for t in pc.getTransceivers()
                          if t.sender.transport is not None}:
            send = transport._send_rtp

            async def send_rtp(data: bytes, send: Any = send) -> None:
                await send(data)
                if not is_rtcp(data):
                    self.packet(data, time.perf_counter_ns())

            transport._send_rtp = send_rtp  # type: ignore[method-assign]

    def frame(self, samples: int, sent_ns: int) -> int:
        """Note the next frame (``samples`` long at 48 kHz) handed over at ``sent_ns``; returns
        its index."""
        last = (self._frames[-1][0] + 1 if self._frames else 0) + samples - 1
        self._frames.append((last, sent_ns, None))
        return len(self._frames) - 1

    def pushed(self, index: int, pushed_ns: int) -> None:
        """Frame ``index`` entered the track at ``pushed_ns``."""
        last, sent, _ = self._frames[index]
        self._frames[index] = (last, sent, pushed_ns)

    def packet(self, data: bytes, departed_ns: int) -> None:
        """An RTP packet (plain, before encryption) was sent at ``departed_ns``."""
        if len(data) < 12:
            return
        ts = int.from_bytes(data[4:8], "big")
        if self._first_ts is None:
            self._first_ts = ts
        packet = ((ts - self._first_ts) & 0xFFFFFFFF) // (OPUS_RATE * FRAME_MS // 1000)
        if packet in self._departed:  # a retransmission
            return
        self._departed[packet] = departed_ns
        for index, callback in self._waiting.pop(packet, []):
            self._call(index, departed_ns, callback)

    def when_sent(self, index: int, callback: Callable[[int], None]) -> None:
        """Call ``callback(ns)`` once frame ``index`` has left (now, if it has)."""
        packet = self._frames[index][0] // (OPUS_RATE * FRAME_MS // 1000)
        departed = self._departed.get(packet)
        if departed is not None:
            self._call(index, departed, callback)
        else:
            self._waiting.setdefault(packet, []).append((index, callback))

    def pending(self) -> list[tuple[int, Callable[[int], None]]]:
        """The frames still waiting for their packet, and their callbacks (forgotten here)."""
        waiting = [entry for entries in self._waiting.values() for entry in entries]
        self._waiting.clear()
        return waiting

    def sent_ns(self, index: int) -> int:
        """When frame ``index`` was handed over."""
        return self._frames[index][1]

    def _call(self, index: int, departed_ns: int, callback: Callable[[int], None]) -> None:
        _, sent, pushed = self._frames[index]
        callback(sent + max(0, departed_ns - (pushed if pushed is not None else sent)))


def _left_channel(frame: av.AudioFrame) -> Pcm:
    """The first channel of a decoded frame, as PCM16."""
    data = frame.to_ndarray()
    left = data[0] if frame.format.is_planar else data.reshape(-1)[:: len(frame.layout.channels)]
    return np.asarray(left, dtype=np.int16)


def _seq_newer(a: int, b: int) -> bool:
    """RTP sequence number ``a`` comes after ``b`` (16-bit, wrapping)."""
    return a != b and ((a - b) & 0xFFFF) < 0x8000


class ArrivalDecoder:
    """Decodes a receiver's Opus packets on arrival (see the module docstring).

    ``on_audio(pcm, arrived_ns)`` gets each packet's audio, PCM16 mono at ``rate``.
    :meth:`attach` hooks a receiver; :meth:`drain` reads the receiver's own track so that its
    frames do not pile up.
    """

    def __init__(self, rate: int, payload_types: set[int], on_audio: ArrivalCallback) -> None:
        self.rate = rate
        self.payload_types = payload_types
        self.on_audio = on_audio
        self.packets = 0
        self.late_packets = 0
        self._last_seq: int | None = None
        self._decoder = av.CodecContext.create("libopus", "r")
        self._resample = None if rate == OPUS_RATE else _Resampler(OPUS_RATE, rate)

    def attach(self, receiver: RTCRtpReceiver) -> None:
        """Decode ``receiver``'s packets as they arrive (then hand them on to it)."""
        original: Callable[[RtpPacket, int], Awaitable[None]] = receiver._handle_rtp_packet

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            self.packet(packet, time.perf_counter_ns())
            await original(packet, arrival_time_ms)

        # The DTLS transport hands every RTP packet to this method of the receiver (aiortc's
        # RtpReceiver protocol); wrapping it on the instance is where a packet's arrival is seen.
        receiver._handle_rtp_packet = handle  # type: ignore[method-assign]

    def packet(self, packet: RtpPacket, arrived_ns: int) -> None:
        """Decode one RTP packet that arrived at ``arrived_ns``."""
        if packet.payload_type not in self.payload_types or not packet.payload:
            return
        if self._last_seq is not None and not _seq_newer(packet.sequence_number, self._last_seq):
            self.late_packets += 1
            return
        self._last_seq = packet.sequence_number
        self.packets += 1
        try:
            frames = self._decoder.decode(av.Packet(packet.payload))
        except av.FFmpegError:
            return
        # the left channel: a mono source is sent as two equal channels (mixing them down
        # would cost 3 dB)
        parts = [_left_channel(frame) for frame in frames]
        if not parts:
            return
        pcm = np.concatenate(parts)
        if self._resample is not None:
            pcm = self._resample(pcm)
        if len(pcm):
            self.on_audio(pcm.astype(np.int16, copy=False), arrived_ns)

    @staticmethod
    async def drain(track: MediaStreamTrack) -> None:
        """Read ``track`` until it ends, discarding its frames (run as a task)."""
        with contextlib.suppress(MediaStreamError):
            while True:
                await track.recv()



async def close_peer(pc: RTCPeerConnection, timeout: float = 3.0) -> None:
    """Close a peer connection, waiting at most ``timeout``. Shielded: aiortc closes a connection
    by itself when the other side has, and a closer cancelled while it waits for that close
    would cancel the close itself."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(pc.close()), timeout=timeout)
