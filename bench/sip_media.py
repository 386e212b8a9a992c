"""CPU cost of a SIP call's media path per 20 ms packet, and of the in-band DTMF detector.

A SIP call sends one G.711 packet and receives one every 20 ms each way, so what a packet costs
in CPU bounds how many calls one core carries. This measures, on speech rendered by espeak-ng:

- sending: 24 kHz PCM16 → 8 kHz (the stateful FIR) → G.711 → an RTP packet;
- receiving: an RTP packet parsed → G.711 decoded → 24 kHz (the FIR) with loss and jitter kept;
- the DTMF detector (Goertzel over 20 ms blocks every 10 ms) on a minute of audio.

and prints the microseconds per packet (median of 5 runs), the share of one core that a call's
media takes (both directions, 50 packets a second each), and the detector's real-time factor.

    .venv/bin/python bench/sip_media.py
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from harness.audio import synthesize
from harness.sip.dtmf import detect, tones
from harness.sip.rtp import G711Depacketizer, G711Packetizer, RtpPacket, RtpSender

RATE = 24_000
CHUNK = RATE // 50
RUNS = 5


def _speech(seconds: float) -> np.ndarray:
    clip = np.concatenate([synthesize("It's eight, three, five, two, one. Yes, please go "
                                      "ahead and cancel it."), np.zeros(RATE // 2, np.int16)])
    return np.resize(clip, int(seconds * RATE))


def main() -> None:
    speech = _speech(60.0)
    chunks = [speech[i:i + CHUNK] for i in range(0, speech.size - CHUNK + 1, CHUNK)]
    send_us, receive_us = [], []
    for _ in range(RUNS):
        packetizer, sender = G711Packetizer("ulaw", RATE), RtpSender(0)
        started = time.perf_counter()
        packets = [sender.packet(p, 160) for chunk in chunks for p in packetizer.frames(chunk)]
        send_us.append((time.perf_counter() - started) / len(packets) * 1e6)
        depacketizer = G711Depacketizer("ulaw", RATE)
        started = time.perf_counter()
        for k, data in enumerate(packets):
            depacketizer.decode(RtpPacket.parse(data), k * 0.020)
        receive_us.append((time.perf_counter() - started) / len(packets) * 1e6)
    send, receive = statistics.median(send_us), statistics.median(receive_us)
    print(f"send    {send:7.1f} µs per 20 ms packet (24 kHz → G.711 → RTP)")
    print(f"receive {receive:7.1f} µs per 20 ms packet (RTP → G.711 → 24 kHz)")
    print(f"a call's media both ways: {(send + receive) * 50 / 1e4:.2f} % of one core")

    keys = "0123456789*#" * 5
    audio = np.concatenate([speech[:RATE * 30], tones(keys, RATE)])
    durations = []
    for _ in range(RUNS):
        started = time.perf_counter()
        found = detect(audio, RATE)
        durations.append(time.perf_counter() - started)
        assert found == keys, found
    seconds = audio.size / RATE
    took = statistics.median(durations)
    print(f"DTMF detect: {seconds:.0f} s of 24 kHz audio in {took * 1000:.0f} ms "
          f"(real-time factor {took / seconds:.4f})")


if __name__ == "__main__":
    main()
