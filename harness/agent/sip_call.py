"""One SIP call of the local agent: the same session as over a WebSocket, with the caller's audio
from G.711 RTP, the agent's audio played out as G.711 RTP every 20 ms, and its tools called as
HTTP webhooks, as a telephone agent's are.

A telephone agent has no client that configures it and answers its tools; the call plays that
part itself:

- **Configuration**: the session starts with a ``session.update`` of the agent config the
  endpoint serves (``harness agent serve --sip --agent …``), with input in the G.711 law the
  call negotiated (the listener hears 8 kHz, as over a telephone line).
- **Caller audio** from each RTP packet of the call's payload type is decoded on arrival and
  heard (:meth:`ServerPlayedSession.hear`). Keys pressed (RFC 4733 events) are kept
  (:attr:`SipAgentSession.pressed`) and an entry (ended by ``#`` or a pause) becomes the
  caller's message of its digits, which the agent answers.
- **Agent audio** goes out of the server's output buffer 20 ms at a time, at real-time rate,
  encoded in the call's law; silence goes out when nothing plays, as a telephone does.
  Barge-in truncates what played, as over WebRTC.
- **Tools**: when a response that called tools is done and its audio (a preamble) has played
  for :data:`TOOL_AFTER_PLAYED_MS` (or to its end), each call is POSTed to the call's tool
  endpoint (``{tools_url}/tools/{name}``, the arguments as the JSON body); the answer's body is
  the call's output, then one ``response.create`` follows. Without a tool endpoint a call gets
  an error output. The endpoint comes from the INVITE's ``X-Harness-Tools`` header or the
  server's ``--tools-url``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from typing import Any

from harness import audio
from harness.agent.output_queue import BUFFER_RATE, FRAME_MS, OutputQueue
from harness.agent.server_played import ServerPlayedSession
from harness.sip.dtmf import DtmfEvent, DtmfReceiver
from harness.sip.rtp import G711Packetizer, RtpError, RtpPacket, RtpSender
from harness.sip.sdp import Media

log = logging.getLogger(__name__)

KEYPAD_GAP_S = 1.5
"""A keypad entry without ``#`` ends this long after its last key."""
TOOL_TIMEOUT_S = 15.0
"""How long a tool webhook may take before the call gets an error output."""
TOOL_AFTER_PLAYED_MS = 300.0
"""A response's tool calls go out once this much of its audio has played. A realtime service
streams a response's audio faster than real time and its tool calls come at the response's end,
so a caller is already hearing the preamble when the tool is called; this agent synthesises a
sentence before any of it plays, and its tool calls, sent as the response was done, reached the
tool endpoint before the preamble's first packet reached the caller."""


class CallConnection:
    """The session's client is the call itself: client events the call makes go in; server
    events have no client to go to (the call acts on them in :meth:`SipAgentSession._send`)."""

    def __init__(self) -> None:
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.transport = self

    def put(self, event: dict[str, Any]) -> None:
        self._inbox.put_nowait(json.dumps(event))

    def ended(self) -> None:
        """The call is over: the session's message loop ends."""
        self._inbox.put_nowait(None)

    async def send(self, frame: str) -> None:
        return None

    def abort(self) -> None:
        """Drop the call (the ``drop_connection_after_ms`` fault): the session ends and the
        endpoint hangs up."""
        self.ended()

    async def __aiter__(self) -> AsyncIterator[str]:
        while (message := await self._inbox.get()) is not None:
            yield message


def post_tool_call(url: str, name: str, arguments: str) -> str:
    """POST one tool call to ``{url}/tools/{name}``; the output (the answer's body, or an error
    object the agent can read)."""
    request = urllib.request.Request(
        f"{url.rstrip('/')}/tools/{name}", data=(arguments or "{}").encode("utf-8"),
        headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TOOL_TIMEOUT_S) as answer:  # noqa: S310
            return str(answer.read().decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        return json.dumps({"error": f"tool endpoint answered {exc.code}", "detail": body[:500]})
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        return json.dumps({"error": f"tool endpoint unreachable: {exc}"})


class SipAgentSession(ServerPlayedSession):
    """An agent session over a SIP call (see the module docstring).

    ``session``: the ``session.update`` session of the agent config served; ``media``: what the
    call negotiated; ``send_rtp(packet)``: sends one RTP packet to the caller. ``connection``:
    the session's client (default: none but the call); ``tool_webhooks=False`` leaves the
    function calls to that client, as a Realtime session does, instead of POSTing them.
    """

    def __init__(self, *, session: dict[str, Any], media: Media,
                 send_rtp: Callable[[bytes], None], tools_url: str | None = None,
                 connection: CallConnection | None = None, tool_webhooks: bool = True,
                 **options: Any) -> None:
        self.connection = connection if connection is not None else CallConnection()
        self.tool_webhooks = tool_webhooks
        self.output = OutputQueue(self._send)
        super().__init__(self.connection, **options)  # type: ignore[arg-type]
        self.media = media
        self.law = audio.law_of(media.codec)
        self.tools_url = tools_url
        self._send_rtp = send_rtp
        self._rtp = RtpSender(media.payload_type, media.clock_rate)
        self._packetizer = G711Packetizer(self.law, BUFFER_RATE)
        self._dtmf = DtmfReceiver()
        self.pressed: list[tuple[str, float]] = []
        self._entry: list[str] = []
        self._entry_timer: asyncio.TimerHandle | None = None
        self._hash_down = False
        self._calls: dict[str, list[dict[str, Any]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        fmt = {"type": "audio/pcmu" if self.law == "ulaw" else "audio/pcma"}
        configured = json.loads(json.dumps(session))
        configured.setdefault("audio", {}).setdefault("input", {})["format"] = fmt
        configured["audio"].setdefault("output", {})["format"] = {"type": "audio/pcm",
                                                                  "rate": BUFFER_RATE}
        self.connection.put({"type": "session.update", "session": configured})

    # ------------------------------------------------------------------ media

    def packet_received(self, data: bytes, arrived_ns: int) -> None:
        """One RTP packet from the caller."""
        try:
            packet = RtpPacket.parse(data)
        except RtpError:
            return
        if packet.payload_type == self.media.payload_type:
            pcm = audio.decode_g711(packet.payload, self.law, sample_rate=8_000)
            self.hear(pcm, arrived_ns, rate=8_000)
        elif packet.payload_type == self.media.dtmf_payload_type:
            digit = self._dtmf.receive(packet, arrived_ns / 1e9)
            if digit is not None:
                self.pressed.append((digit, arrived_ns / 1e9))
                self._key(digit)
            if self._hash_down:
                with contextlib.suppress(ValueError):
                    if DtmfEvent.parse(packet.payload).end:
                        self._hash_down = False
                        self._entry_done()  # the entry ends as "#" is let go

    def _key(self, digit: str) -> None:
        """A key pressed (RFC 4733): the entry ends as ``#`` is let go or :data:`KEYPAD_GAP_S`
        after the last key, and is then a caller's message of its digits ("8 3 5 2 1"),
        answered."""
        if self._entry_timer is not None:
            self._entry_timer.cancel()
            self._entry_timer = None
        if digit.isdigit():
            self._entry.append(digit)
        if digit == "#":
            self._hash_down = True
        else:
            self._entry_timer = asyncio.get_running_loop().call_later(KEYPAD_GAP_S,
                                                                      self._entry_done)

    def _entry_done(self) -> None:
        self._entry_timer = None
        keys, self._entry = " ".join(self._entry), []
        if keys:
            self.connection.put({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user",
                "content": [{"type": "input_text", "text": keys}]}})
            self.connection.put({"type": "response.create"})

    async def play_out(self) -> None:
        """Send the output buffer 20 ms at a time at real-time rate until cancelled."""
        start = time.monotonic()
        frames = 0
        was_silent = True
        while True:
            frame = self.output.take_frame()
            silent = self.output.playing is None and not frame.any()
            for payload in self._packetizer.frames(frame):
                try:
                    self._send_rtp(self._rtp.packet(payload, len(payload),
                                                    marker=was_silent and not silent))
                except OSError:
                    log.debug("RTP send failed", exc_info=True)
            was_silent = silent
            frames += 1
            due = start + frames * FRAME_MS / 1000.0
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    # ------------------------------------------------------------------ tools

    def _send(self, event: dict[str, Any]) -> None:
        super()._send(event)
        if self.tool_webhooks and event["type"] == "response.done":
            calls = [item for item in event["response"].get("output", [])
                     if item.get("type") == "function_call"]
            if calls:
                task = asyncio.ensure_future(self._answer_calls(event["response"]["id"], calls))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _answer_calls(self, response_id: str, calls: list[dict[str, Any]]) -> None:
        """Each call of a done response through the tool endpoint (once its audio has played
        for :data:`TOOL_AFTER_PLAYED_MS`), then one response."""
        while (played := self.output.played_ms(response_id)) is not None and \
                played < TOOL_AFTER_PLAYED_MS:
            await asyncio.sleep(FRAME_MS / 1000.0)
        outputs = await asyncio.gather(*(self._call_tool(c) for c in calls))
        for call, output in zip(calls, outputs, strict=True):
            self.connection.put({"type": "conversation.item.create", "item": {
                "type": "function_call_output", "call_id": call["call_id"], "output": output}})
        self.connection.put({"type": "response.create"})

    async def _call_tool(self, call: dict[str, Any]) -> str:
        if self.tools_url is None:
            return json.dumps({"error": "this call has no tool endpoint"})
        return await asyncio.to_thread(post_tool_call, self.tools_url, call["name"],
                                       call.get("arguments") or "{}")

    def close(self) -> None:
        """The call is over: stop answering tools."""
        for task in list(self._tasks):
            task.cancel()

