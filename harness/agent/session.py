"""One WebSocket connection of the local agent: frames in to the protocol core, its requests to
the listener and responder, server events out through one writer task, in order.

The layers: :mod:`harness.agent.protocol` (the Realtime protocol without I/O),
:mod:`harness.agent.listener` (input buffer, VAD, transcription, turn timers) and
:mod:`harness.agent.responder` (policy decisions, speech and tool calls); this module only
wires them to the socket.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from harness.agent.conversation import ClientEventError
from harness.agent.dialogue import PolicyFactory
from harness.agent.events import server_event
from harness.agent.faults import FaultInjector, Faults
from harness.agent.listener import Listener
from harness.agent.protocol import (
    AgentProtocol,
    AudioAppended,
    CancelRequested,
    ClearRequested,
    CommitRequested,
    ItemTruncated,
    Request,
    ResponseRequested,
    SessionChanged,
    UserAudioAdded,
)
from harness.agent.responder import Responder


class AgentSession:
    """Serves one WebSocket connection; :meth:`run` returns when the connection ends."""

    def __init__(
        self,
        websocket: ServerConnection,
        *,
        model: str,
        faults: Faults,
        policy_factory: PolicyFactory,
        audio_speed: float,
        delta_ms: int,
        recogniser: str | None = None,
    ) -> None:
        self.ws = websocket
        self.faults = faults
        self.injector = FaultInjector(faults)
        self.protocol = AgentProtocol(model)
        self.protocol.sink = self._send
        self.listener = Listener(self.protocol, faults, recogniser)
        self.responder = Responder(self.protocol, faults, self.injector, policy_factory,
                                   audio_speed=audio_speed, delta_ms=delta_ms)
        self.listener.responder = self.responder
        self.responder.listener = self.listener
        self._out: asyncio.Queue[str | None] = asyncio.Queue()
        self._malformed_sent = False

    def _send(self, event: dict[str, Any]) -> None:
        """Queue a server event for the client (sent in order by the writer task)."""
        self._out.put_nowait(json.dumps(event))
        for extra in self.injector.after_event(event):
            self._out.put_nowait(json.dumps(extra))
        if (event["type"] == "response.created" and self.faults.malformed_event
                and not self._malformed_sent):
            self._malformed_sent = True
            # A frame cut in the middle of a string: not JSON, as a broken proxy would send.
            broken = json.dumps(server_event("response.output_audio.delta",
                                             response_id=event["response"]["id"], delta="UklGR"))
            self._out.put_nowait(broken[: len(broken) // 2])

    async def _writer(self) -> None:
        while True:
            frame = await self._out.get()
            if frame is None:
                return
            await self.ws.send(frame)

    async def run(self) -> None:
        """Serve the connection until the client leaves (or a fault drops it)."""
        writer = asyncio.ensure_future(self._writer())
        clock = asyncio.ensure_future(self.listener.run_clock())
        if self.faults.drop_connection_after_ms is not None:
            # An abrupt drop: the TCP connection goes away without a close frame.
            asyncio.get_running_loop().call_later(self.faults.drop_connection_after_ms / 1000.0,
                                                  self.ws.transport.abort)
        self.protocol.created()
        try:
            async for message in self.ws:
                self.handle(message)
        except (ConnectionClosed, ConnectionError):
            pass  # a dropped socket ends the session quietly
        finally:
            clock.cancel()
            self.responder.close()
            self.listener.close()
            self._out.put_nowait(None)
            try:
                await writer
            except (ConnectionClosed, ConnectionError):
                pass

    def handle(self, message: str | bytes) -> None:
        """One client frame: the protocol core checks it, the layers act on what it asks."""
        for request in self.protocol.receive(message):
            self._dispatch(request)

    def _dispatch(self, request: Request) -> None:
        if isinstance(request, AudioAppended):
            self.listener.append(request.samples)
        elif isinstance(request, CommitRequested):
            try:
                self.listener.commit()
            except ClientEventError as exc:
                self.protocol.reject(exc, request.event_id)
        elif isinstance(request, ClearRequested):
            self.listener.clear()
        elif isinstance(request, SessionChanged):
            self.listener.session_changed(request.format_changed, request.turn_detection_changed)
            if request.tools_changed:
                self.responder.tools_changed()
        elif isinstance(request, UserAudioAdded):
            self.listener.hearing.user_audio_added(request.item)
        elif isinstance(request, ItemTruncated):
            self.responder.truncated(request.item, request.audio_end_ms)
        elif isinstance(request, ResponseRequested):
            self.responder.start(request.params, request.input_items)
        elif isinstance(request, CancelRequested):
            self.responder.cancel(request.response, "client_cancelled")

