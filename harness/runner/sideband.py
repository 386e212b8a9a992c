"""A SIP call to an agent on the OpenAI Realtime API's SIP interface, followed on its sideband.

Such an agent is a Realtime session behind a SIP trunk: the service tells the project's
webhook of each incoming call (``realtime.call.incoming``, with the call's id and its INVITE's
headers), a server of the project accepts it with a session config (``POST
/v1/realtime/calls/{call_id}/accept``) and may attach to the call's events on a WebSocket of its
own (``wss://…/v1/realtime?call_id=…``), where it answers the session's function calls. With
:data:`SIDEBAND_ENV` set, a SIP trial takes part in that exchange (:class:`Sideband`):

- it serves the project's webhook at :data:`WEBHOOK_LISTEN_ENV` (the URL the project's webhook
  settings point at, through a tunnel of the user's choosing), checks each event's signature
  with ``OPENAI_WEBHOOK_SECRET`` (the ``openai`` client's check) and takes the incoming call
  whose INVITE carries its :data:`CALL_HEADER` (or, when a trunk dropped the header, the one
  incoming call while it waits: one trial listens at a time);
- ``accept``: it accepts that call with the trial's agent config (instructions, tools, voice,
  model; the audio format is the line's) and answers the session's function calls on the
  sideband from the scenario's mocks, as over a WebSocket; ``observe``: the project's own server
  accepts the call and answers its tools, and the trial only follows the sideband;
- every event the sideband carries is kept with its arrival time (``sideband.jsonl`` in the
  trial's folder); the function calls and the agent's own transcripts go into the call's rebuilt
  responses in place of the tool webhook's calls and the recogniser's words, and the session's
  transcripts of the caller make ``input_heard`` gradable.

The API key and the webhook secret come from the environment and go nowhere else: not into a
recording, a log line or an error message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal, TypeVar

from harness.errors import InputError, TargetError
from harness.extras import require
from harness.json_http import Answer, JsonHttpServer
from harness.realtime.client import RealtimeConnection
from harness.realtime.dialects import session_config
from harness.realtime.errors import ClosedMidSession, HandshakeRejected
from harness.realtime.protocol import (
    FunctionCallReady,
    InputTranscriptDone,
    RealtimeProtocol,
    ResponseCreated,
    ResponseDone,
    TranscriptDone,
)
from harness.realtime.targets import Target
from harness.runner.capture import write_text_atomic
from harness.runner.tools import ToolAnswer, answer_call, parse_arguments
from harness.runner.webhooks import WebhookCall, fixed_listen
from harness.scenario.models import AgentConfig, ToolMock

SIDEBAND_ENV = "HARNESS_SIP_SIDEBAND"
"""``accept`` or ``observe``: a SIP target is an agent on the Realtime API's SIP interface."""
WEBHOOK_LISTEN_ENV = "HARNESS_SIP_WEBHOOK_LISTEN"
"""``HOST:PORT`` (or ``PORT``) where the project's webhook reaches the harness."""
SIDEBAND_FILE = "sideband.jsonl"
"""The sideband's events, in the trial's folder."""
CALL_HEADER = "X-Harness-Call"
"""The INVITE header that tells the trial's call among the project's incoming calls."""
KEY_ENV, SECRET_ENV = "OPENAI_API_KEY", "OPENAI_WEBHOOK_SECRET"
DEFAULT_API_BASE = "https://api.openai.com/v1"
INCOMING_TIMEOUT_S = 20.0
"""How long after the INVITE the service's webhook may take to tell of the call."""
CREATED_AFTER_MS = 200.0
"""How much later than its first audio the creation of a response may be told on the sideband
(the audio and the events come by two paths)."""
INPUT_EVENTS = ("input_audio_buffer.committed",
                "conversation.item.input_audio_transcription.delta",
                "conversation.item.input_audio_transcription.completed")
ATTACH_TIMEOUT_S = 20.0
"""How long the sideband may refuse to attach (``observe``: until the project accepts)."""
Mode = Literal["accept", "observe"]
T = TypeVar("T")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SidebandSettings:
    """Where the webhook listens, the API's URLs and the credentials (never printed)."""

    mode: Mode
    host: str
    port: int
    api_base: str
    websocket_base: str
    key: str = field(repr=False)
    secret: str = field(repr=False)


def sideband_settings(environ: Mapping[str, str] | None = None) -> SidebandSettings | None:
    """The sideband settings from the environment; None when :data:`SIDEBAND_ENV` is unset.
    A bad or missing value is an :class:`InputError` naming the variable."""
    env = os.environ if environ is None else environ
    mode = env.get(SIDEBAND_ENV, "").strip()
    if not mode:
        return None
    if mode not in ("accept", "observe"):
        raise InputError(f"expected accept or observe, got {mode!r}", field=SIDEBAND_ENV)
    listen = fixed_listen(env.get(WEBHOOK_LISTEN_ENV, ""), name=WEBHOOK_LISTEN_ENV)
    if listen is None:
        raise InputError(f"a sideband needs the address the project's webhook reaches the "
                         f"harness at: set {WEBHOOK_LISTEN_ENV} (HOST:PORT or PORT)",
                         field=WEBHOOK_LISTEN_ENV)
    missing = [name for name in (KEY_ENV, SECRET_ENV) if not env.get(name)]
    if missing:
        raise InputError(f"a sideband needs {' and '.join(missing)} in the environment",
                         field=missing[0])
    require("sideband", "following a SIP call on the Realtime API's sideband")
    api = (env.get("OPENAI_BASE_URL") or DEFAULT_API_BASE).rstrip("/")
    if not api.startswith(("http://", "https://")):
        raise InputError(f"expected an http(s):// URL, got {api!r}", field="OPENAI_BASE_URL")
    ws = (env.get("OPENAI_WEBSOCKET_BASE_URL") or
          ("ws" + api[4:] if api.startswith("http") else api)).rstrip("/")
    return SidebandSettings(mode, listen[0], listen[1], api, ws,  # type: ignore[arg-type]
                            env[KEY_ENV], env[SECRET_ENV])


def accept_body(config: AgentConfig, instructions: str | None) -> dict[str, Any]:
    """What accepting the call sends: the agent config's session without the audio formats
    (the line's law is the format) and with its model."""
    session = session_config(config, instructions, "ga")
    for side in session["audio"].values():
        side.pop("format", None)
    return {**session, "model": config.model}


@dataclass
class Transcript:
    """One response's transcript as the sideband told it, and when its audio began to play
    (``output_audio_buffer.started``), if the sideband said."""

    response_id: str
    created_ms: float
    text: str
    playing_ms: float | None = None


@dataclass
class Heard:
    """What the session transcribed of the caller, and when that arrived."""

    t_ms: float
    item_id: str | None
    text: str


class Sideband(JsonHttpServer):
    """One trial's part in the exchange (see the module docstring): serve the webhook, then
    :meth:`follow` the call. ``clock`` is the trial's clock in ms."""

    def __init__(self, settings: SidebandSettings, *, config: AgentConfig,
                 mocks: dict[str, ToolMock], instructions: str | None,
                 clock: Callable[[], float]) -> None:
        super().__init__(host=settings.host, port=settings.port)
        self.settings = settings
        self.config = config
        self.mocks = mocks
        self.instructions = instructions
        self.clock = clock
        self.token = secrets.token_hex(12)
        self.call_id: str | None = None
        self.events: list[tuple[float, dict[str, Any]]] = []
        """Every sideband event, with its arrival on the trial's clock."""
        self.calls: list[WebhookCall] = []
        """The session's function calls (``t`` and ``t_answered`` in seconds)."""
        self.transcripts: list[Transcript] = []
        self.heard: list[Heard] = []
        self.refused_webhooks: list[str] = []
        self._incoming: asyncio.Future[str] | None = None
        self._client: Any = None
        self._protocol = RealtimeProtocol("ga")
        self._created: dict[str, float] = {}
        self._playing: dict[str, float] = {}
        self._by_id: dict[str, WebhookCall] = {}
        self._followed_up: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._conn: RealtimeConnection | None = None

    async def start(self) -> str:
        self._incoming = asyncio.get_running_loop().create_future()
        return await super().start()

    @property
    def headers(self) -> dict[str, str]:
        """The INVITE's header that names this trial's call."""
        return {CALL_HEADER: self.token}

    def _api(self) -> Any:
        if self._client is None:
            from openai import AsyncOpenAI  # noqa: PLC0415 - the sideband extra

            self._client = AsyncOpenAI(api_key=self.settings.key, base_url=self.settings.api_base,
                                       webhook_secret=self.settings.secret, max_retries=1)
        return self._client

    # ------------------------------------------------------------------ the webhook

    async def respond(self, method: str, target: str, headers: dict[str, str], body: bytes
                      ) -> Answer:
        from openai import InvalidWebhookSignatureError  # noqa: PLC0415 - the sideband extra

        if method != "POST":
            raise self.refuse(method, target, HTTPStatus.METHOD_NOT_ALLOWED,
                              "webhook events are POST requests", {"Allow": "POST"})
        try:
            event = self._api().webhooks.unwrap(body, headers)
        except (InvalidWebhookSignatureError, ValueError) as exc:
            raise self.refuse(method, target, HTTPStatus.BAD_REQUEST,
                              f"not a webhook event signed with {SECRET_ENV}: {exc}") from None
        if getattr(event, "type", None) != "realtime.call.incoming":
            return HTTPStatus.OK, {}, {}, []
        sent = {h.name.lower(): h.value for h in event.data.sip_headers}
        token = sent.get(CALL_HEADER.lower())
        if self._incoming is None or self._incoming.done() or \
                (token is not None and token != self.token):
            self.refused_webhooks.append(event.data.call_id)
            return HTTPStatus.OK, {}, {}, []
        self._incoming.set_result(event.data.call_id)
        return HTTPStatus.OK, {}, {}, []

    def refused(self, method: str, path: str, status: HTTPStatus, reason: str) -> None:
        log.info("sideband webhook refused %s %s: %s %s", method, path, int(status), reason)

    # ------------------------------------------------------------------ the call

    async def run(self) -> None:
        """Serve the webhook and :meth:`follow` the call."""
        try:
            await self.start()
        except OSError as exc:
            raise TargetError(f"the sideband's webhook cannot listen on {self.host}:"
                              f"{self.port} ({WEBHOOK_LISTEN_ENV}): {exc.strerror or exc}"
                              ) from None
        await self.follow()

    async def follow(self) -> None:
        """Wait for the webhook of the trial's call, accept it (``accept``), attach to its
        sideband and follow it until it closes. Raises :class:`TargetError` with the reason
        when the call never reaches the point of being followed."""
        assert self._incoming is not None, "start() first"
        try:
            self.call_id = await asyncio.wait_for(self._incoming, INCOMING_TIMEOUT_S)
        except TimeoutError:
            raise TargetError(f"no realtime.call.incoming webhook for this call reached "
                              f"{self.base_url} within {INCOMING_TIMEOUT_S:g} s: is the "
                              f"project's webhook pointed at it ({WEBHOOK_LISTEN_ENV})?") from None
        if self.settings.mode == "accept":
            await self._accept_call(self.call_id)
        self._conn = await self._attach(self.call_id)
        try:
            while True:
                text, _ = await self._conn.recv()
                self._receive(text, self.clock())
        except ClosedMidSession:
            return  # the call ended, and its sideband with it
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
        await self.stop()
        if self._client is not None:
            await self._client.close()

    async def _accept_call(self, call_id: str) -> None:
        from openai import APIConnectionError, APIStatusError  # noqa: PLC0415 - the extra

        try:
            await self._api().realtime.calls.accept(
                call_id, **accept_body(self.config, self.instructions))
        except APIStatusError as exc:
            raise TargetError(f"accepting call {call_id} at {self.settings.api_base} was "
                              f"refused: HTTP {exc.status_code} ({_error_text(exc)})") from None
        except APIConnectionError as exc:
            raise TargetError(f"accepting call {call_id}: {self.settings.api_base} is "
                              f"unreachable ({exc.__cause__ or exc})") from None

    async def _attach(self, call_id: str) -> RealtimeConnection:
        target = Target(f"sideband:{call_id}",
                        f"{self.settings.websocket_base}/realtime?call_id={call_id}", "ga",
                        {"Authorization": f"Bearer {self.settings.key}"}, "websocket")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ATTACH_TIMEOUT_S
        while True:
            try:
                return await RealtimeConnection.open(target)
            except HandshakeRejected:
                # observe: the project's server has not accepted the call yet
                if self.settings.mode == "accept" or loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.25)

    # ------------------------------------------------------------------ the events

    def _receive(self, text: str | bytes, t_ms: float) -> None:
        try:
            event = json.loads(text)
        except (TypeError, ValueError):
            return
        if not isinstance(event, dict):
            return
        self.events.append((t_ms, event))
        if event.get("type") == "output_audio_buffer.started" and event.get("response_id"):
            self._playing.setdefault(str(event["response_id"]), t_ms)
        received = self._protocol.receive_event(event, t_ms)
        for notice in received.notices:
            if isinstance(notice, ResponseCreated):
                self._created.setdefault(notice.response_id, t_ms)
                self._answered_before(t_ms)
            elif isinstance(notice, TranscriptDone) and notice.spoken and notice.text.strip():
                self.transcripts.append(Transcript(
                    notice.response_id, self._created.get(notice.response_id, t_ms),
                    notice.text.strip(), self._playing.get(notice.response_id)))
            elif isinstance(notice, InputTranscriptDone):
                self.heard.append(Heard(t_ms, notice.item_id, notice.transcript))
            elif isinstance(notice, FunctionCallReady):
                self._called(notice, t_ms)
            elif isinstance(notice, ResponseDone):
                self._follow_up_later(notice.response_id)
        self._output_seen(event, t_ms)

    def _called(self, notice: FunctionCallReady, t_ms: float) -> None:
        call = notice.call
        index = sum(1 for c in self.calls if c.name == call.name)
        if self.settings.mode == "accept":
            answer = answer_call(call.name, call.arguments_raw, config=self.config,
                                 mocks=self.mocks, call_index=index)
        else:  # the project's server answers: its output is taken when the sideband shows it
            answer = ToolAnswer(call.name, parse_arguments(call.arguments_raw),
                                call.arguments_raw, self.config.tool(call.name) is None, None, 0,
                                index)
        seen = WebhookCall(t_ms / 1000.0, call.name, call.arguments_raw, answer,
                           call_id=call.call_id)
        self.calls.append(seen)
        self._by_id[call.call_id] = seen
        if self.settings.mode == "accept":
            self._spawn(self._answer(seen, call.response_id))

    def _output_seen(self, event: dict[str, Any], t_ms: float) -> None:
        """``observe``: a function call's output, added by the project's server."""
        item = event.get("item")
        if self.settings.mode != "observe" or not isinstance(item, dict) or \
                item.get("type") != "function_call_output":
            return
        call = self._by_id.get(str(item.get("call_id")))
        if call is not None and call.t_answered is None:
            output: Any = item.get("output")
            with contextlib.suppress(TypeError, ValueError):
                output = json.loads(str(output))
            call.answer.output, call.t_answered = output, t_ms / 1000.0

    def _answered_before(self, t_ms: float) -> None:
        """``observe``: a new response means the project's server has answered the calls
        before it, whether or not the sideband showed the outputs."""
        if self.settings.mode == "observe":
            for call in self.calls:
                if call.t_answered is None:
                    call.t_answered = t_ms / 1000.0

    async def _answer(self, call: WebhookCall, response_id: str | None) -> None:
        if call.answer.latency_ms:
            await asyncio.sleep(call.answer.latency_ms / 1000.0)
        assert self._conn is not None and call.call_id is not None
        await self._conn.send(self._protocol.function_output(call.call_id, call.answer.output))
        call.t_answered = self.clock() / 1000.0
        if response_id is not None:
            await self._maybe_follow_up(response_id)

    def _follow_up_later(self, response_id: str) -> None:
        if self.settings.mode == "accept":
            self._spawn(self._maybe_follow_up(response_id))

    async def _maybe_follow_up(self, response_id: str) -> None:
        """One ``response.create`` once a completed response's calls are all answered (as the
        WebSocket runner does)."""
        state = self._protocol.responses.get(response_id)
        if state is None or state.in_progress or not state.call_ids or \
                response_id in self._followed_up or \
                any(self._by_id[c].t_answered is None for c in state.call_ids if c in self._by_id):
            return
        self._followed_up.add(response_id)
        if state.status == "completed" and not self._protocol.in_progress():
            assert self._conn is not None
            await self._conn.send(self._protocol.response_create())

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ after the call

    def write(self, folder: Path) -> None:
        """``sideband.jsonl`` in the trial's folder: one ``{"t_ms", "event"}`` line per event."""
        write_text_atomic(folder / SIDEBAND_FILE, "".join(
            json.dumps({"t_ms": round(t, 3), "event": event}, separators=(",", ":")) + "\n"
            for t, event in self.events))

    def meta(self) -> dict[str, Any]:
        return {"mode": self.settings.mode, "call_id": self.call_id, "events": len(self.events),
                "function_calls": len(self.calls), "webhook": self.base_url,
                "other_calls_ignored": list(self.refused_webhooks)}


async def unless_it_fails(work: Awaitable[T], follow: asyncio.Task[None] | None) -> T:
    """``work``'s result; but when ``follow`` fails first, ``work`` is cancelled and the
    sideband's error raised (it says why the call was never answered)."""
    task = asyncio.ensure_future(work)
    if follow is None:
        return await task
    done, _ = await asyncio.wait({task, follow}, return_when=asyncio.FIRST_COMPLETED)
    if task not in done and follow.exception() is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        raise follow.exception()  # type: ignore[misc]
    return await task


async def until_either(streamer: asyncio.Task[None], ended: asyncio.Task[Any],
                       follow: asyncio.Task[None] | None) -> set[asyncio.Task[Any]]:
    """Wait until the caller's stream or the call has ended (the tasks done); a sideband that
    fails first raises its error (the harness's part of the call cannot be played: its tools
    would go unanswered), one that closes first is waited past."""
    waiting: set[asyncio.Task[Any]] = {streamer, ended, *([follow] if follow else [])}
    while True:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if follow is not None and follow in done:
            follow.result()
            waiting.discard(follow)
            done.discard(follow)
        if done:
            return done


def instructions_of(config: AgentConfig) -> str | None:
    """The agent config's instructions, from its file when it names one."""
    if config.instructions is None and config.instructions_file is not None:
        return Path(config.instructions_file).read_text(encoding="utf-8")
    return config.instructions


def spoken_texts(speech: list[Any], transcripts: list[Transcript]) -> None:
    """Give each stretch of the agent's speech the sideband transcripts of the responses it
    played, and the time its first response began to play when that is before its audible
    onset (:attr:`~harness.runner.rebuilt.AgentSpeech.arrived_ms`). A response's audio reaches
    the caller after the response was created (by however long the agent takes to voice it),
    so each transcript goes to the first stretch that began
    after its response was created (less :data:`CREATED_AFTER_MS` of the two paths' skew). A
    stretch no transcript falls to keeps the text it had (the recogniser's)."""
    texts: dict[int, list[str]] = {}
    for t in sorted(transcripts, key=lambda t: t.created_ms):
        i = next((i for i, sp in enumerate(speech)
                  if sp.stretch.start_ms >= t.created_ms - CREATED_AFTER_MS), None)
        if i is None:
            continue
        texts.setdefault(i, []).append(t.text)
        # its audio began to play before its first audible sample (a sentence's quiet start):
        # what a tool call made meanwhile came after (not within the previous stretch's sound)
        after = speech[i - 1].stretch.end_ms if i else float("-inf")
        if t.playing_ms is not None and after < t.playing_ms < speech[i].first_ms:
            speech[i].arrived_ms = t.playing_ms
    for i, words in texts.items():
        speech[i].text, speech[i].text_source = " ".join(words), "sideband"


def input_frames(frames: Any, sideband: Sideband) -> None:
    """The session's own record of the caller's input (committed items and their transcripts)
    as frames of the trial, marked ``sideband``: ``input_heard`` grades them."""
    for t_ms, event in sideband.events:
        if event.get("type") in INPUT_EVENTS:
            frames.add(t_ms, "received", event["type"], event, "sideband")


def _error_text(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:200]
    return str(getattr(exc, "message", "") or "no message")[:200]
