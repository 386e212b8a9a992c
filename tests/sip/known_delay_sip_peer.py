"""A SIP peer that answers a known delay after the caller's speech ends: no recogniser, no VAD
model, so its answer time is known to the millisecond.

It answers an INVITE on loopback (:class:`harness.sip.dialog.Incoming` over a real UDP socket,
G.711 µ-law RTP on a socket of its own) and runs in a thread with its own event loop, so the
harness's loop does not time it. Caller packets are decoded as they arrive; a packet is *loud*
when its peak is at least :data:`LOUD`. Once :data:`QUIET_PACKETS` quiet packets have followed a
loud one, the caller's speech has ended, at the arrival of the last loud packet: the packet that
carried the chunk holding the last sample of speech, which is what the harness calls the speech
end. ``delay_ms`` after that arrival the peer starts sending :data:`ANSWER_MS` of a 660 Hz tone
(a cosine: its first sample is loud) in 20 ms packets; it sends nothing between answers (as a
line with silence suppression does), so its first answer packet is not held to an earlier grid.
Each answer records the delay it achieved (the first answer packet's send time minus the last
loud packet's arrival): a late timer is the peer's error, not the harness's.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np

from harness.audio import decode_g711, encode_g711
from harness.sip import dialog, message, sdp
from harness.sip.rtp import RtpPacket, RtpSender

LOUD = 2000
QUIET_PACKETS = 5
ANSWER_MS = 400
RATE = 8000


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, on: object) -> None:
        self.on = on

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.on(data, addr)  # type: ignore[operator]


class KnownDelaySipPeer:
    """``with KnownDelaySipPeer(300) as peer:`` then dial ``peer.uri``."""

    def __init__(self, delay_ms: float) -> None:
        self.delay_ms = delay_ms
        self.achieved_ms: list[float] = []
        self.uri = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        t = np.arange(ANSWER_MS * RATE // 1000) / RATE
        tone = (8000 * np.cos(2 * np.pi * 660 * t)).astype(np.int16)
        payload = encode_g711(tone, "ulaw", sample_rate=RATE)
        self._answer = [payload[i: i + 160] for i in range(0, len(payload), 160)]

    def __enter__(self) -> KnownDelaySipPeer:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        loop = asyncio.get_running_loop()
        self._sip, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self._signal), local_addr=("127.0.0.1", 0))
        self._rtp, _ = await loop.create_datagram_endpoint(
            lambda: _Udp(self._media), local_addr=("127.0.0.1", 0))
        self.port = self._sip.get_extra_info("sockname")[1]
        self.uri = f"sip:agent@127.0.0.1:{self.port}"
        self._call: dialog.Incoming | None = None
        self._peer: tuple[str, int] | None = None
        self._sender: RtpSender | None = None
        self._last_loud: float | None = None
        self._quiet = 0

    def _flush(self) -> None:
        assert self._call is not None
        for data, addr in self._call.take():
            self._sip.sendto(data, addr)
        self._call.take_events()

    def _signal(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = message.parse(data)
        now = time.monotonic()
        if isinstance(msg, message.Request) and msg.method == "INVITE" and self._call is None:
            self._call = dialog.Incoming(msg, local=("127.0.0.1", self.port), remote=addr,
                                         now=now)
            answer, media = sdp.answer(msg.body.decode(), "127.0.0.1",
                                       self._rtp.get_extra_info("sockname")[1], codecs=("PCMU",))
            self._peer = (media.address, media.port)
            self._sender = RtpSender(media.payload_type)
            self._call.accept(answer, now)
        elif self._call is not None:
            self._call.receive(msg, now, addr)
        self._flush()

    def _media(self, data: bytes, addr: tuple[str, int]) -> None:
        arrived = time.perf_counter()
        packet = RtpPacket.parse(data)
        if packet.payload_type != 0:
            return
        pcm = decode_g711(packet.payload, "ulaw", sample_rate=RATE)
        if int(np.abs(pcm.astype(np.int32)).max()) >= LOUD:
            self._last_loud, self._quiet = arrived, 0
            return
        if self._last_loud is None:
            return
        self._quiet += 1
        if self._quiet == QUIET_PACKETS:
            due = self._last_loud + self.delay_ms / 1000.0
            self._loop.call_later(max(0.0, due - time.perf_counter()), self._answer_at,
                                  self._last_loud)
            self._last_loud = None

    def _answer_at(self, speech_end: float) -> None:
        self.achieved_ms.append(1000.0 * (time.perf_counter() - speech_end))
        asyncio.ensure_future(self._send_answer())

    async def _send_answer(self) -> None:
        assert self._sender is not None and self._peer is not None
        start = time.perf_counter()
        for i, payload in enumerate(self._answer):
            due = start + i * 0.02
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            self._rtp.sendto(self._sender.packet(payload, len(payload), marker=i == 0),
                             self._peer)
