"""Received messages carry the time their bytes arrived, not the time they were read."""

from __future__ import annotations

import asyncio
import time

from websockets.asyncio.server import serve

from harness.realtime import Target
from harness.realtime.client import RealtimeConnection

READ_LATE_S = 0.3


def test_a_message_read_late_keeps_the_time_it_arrived() -> None:
    async def main() -> tuple[list[int], list[int], list[str]]:
        sent_ns: list[int] = []

        async def handler(ws):
            for i in range(3):
                sent_ns.append(time.perf_counter_ns())
                await ws.send(f'{{"type":"n{i}"}}')
                await asyncio.sleep(0.05)
            await ws.wait_closed()

        async with serve(handler, "127.0.0.1", 0) as srv:
            port = srv.sockets[0].getsockname()[1]
            conn = await RealtimeConnection.open(
                Target("t", f"ws://127.0.0.1:{port}/v1/realtime", "ga", {}))
            # the loop runs (and the bytes arrive) while nobody reads
            await asyncio.sleep(READ_LATE_S)
            arrived, texts = [], []
            for _ in range(3):
                text, at_ns = await conn.recv()
                texts.append(text)
                arrived.append(at_ns)
            await conn.close()
        return sent_ns, arrived, texts

    sent_ns, arrived, texts = asyncio.run(main())
    assert texts == ['{"type":"n0"}', '{"type":"n1"}', '{"type":"n2"}']
    for sent, at in zip(sent_ns, arrived, strict=True):
        # within a few ms of the send on loopback; read 300 ms later would be far off
        assert 0 <= at - sent < 20_000_000, (sent, at)
    assert arrived == sorted(arrived) and arrived[2] - arrived[0] >= 90_000_000
