"""Scripted realtime servers for load tests, each in its own process (its CPU is not the
harness's): one answers after a constant delay, one after a delay that grows with the number
of open sessions."""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "runner"))

from scripted import Behaviour, ScriptedServer  # noqa: E402


class GrowingDelayServer(ScriptedServer):
    """Replies ``base_ms + per_session_ms`` × (open sessions) after the caller stops."""

    def __init__(self, base_ms: float, per_session_ms: float):
        super().__init__(Behaviour(reply_ms=300, reply_delay_ms=base_ms))
        self.base_ms, self.per_session_ms, self.open = base_ms, per_session_ms, 0

    async def _handler(self, ws: Any) -> None:
        self.open += 1
        self.behaviour.reply_delay_ms = self.base_ms + self.per_session_ms * self.open
        try:
            await super()._handler(ws)
        finally:
            self.open -= 1
            self.behaviour.reply_delay_ms = self.base_ms + self.per_session_ms * self.open


def _serve(urls: Any, base_ms: float, per_session_ms: float) -> None:
    async def main() -> None:
        async with GrowingDelayServer(base_ms, per_session_ms) as srv:
            urls.put(srv.url)
            await asyncio.Future()

    asyncio.run(main())


class ServerProcess:
    """``with ServerProcess(base_ms, per_session_ms) as url:`` (per_session_ms 0: constant)."""

    def __init__(self, base_ms: float, per_session_ms: float = 0.0):
        ctx = mp.get_context("spawn")
        self.urls = ctx.Queue()
        self.proc = ctx.Process(target=_serve, args=(self.urls, base_ms, per_session_ms),
                                daemon=True)

    def __enter__(self) -> str:
        self.proc.start()
        return self.urls.get(timeout=60)

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.join()
