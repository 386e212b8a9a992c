"""The local agent's WebSocket server: ``ws://HOST:PORT/v1/realtime?model=…&faults=…`` (and, once
asked for, its WebRTC calls: :meth:`LocalAgent.start_webrtc`).

Faults are switched on for the whole server (``faults=`` of :class:`LocalAgent`, or
``harness agent serve --fault``) and per session with the ``faults`` query parameter of the
URL, a comma-separated fault spec such as ``faults=no_preamble,added_latency_ms=400`` (see
``harness.agent.faults``); a session gets both. The ``model`` query parameter is echoed in the
session, as the service does. A bad path or fault spec is refused with HTTP 400/404 before the
WebSocket opens.

With ``?call_id=rtc_…`` (a pending or accepted call of the SIP endpoint started in realtime-calls
mode, :mod:`harness.agent.realtime_calls`) the connection is that call's sideband, not a session
of its own; an unknown call is refused with 404.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from harness.agent import asr
from harness.agent.dialogue import DialoguePolicy, PolicyFactory, ToolFlags
from harness.agent.faults import Faults
from harness.agent.hearing import cheap_search, wideband_runner_ups
from harness.agent.session import AgentSession
from harness.audio import asr_model_path
from harness.errors import InputError
from harness.extras import require

if TYPE_CHECKING:
    from harness.agent.profile import Profile
    from harness.agent.realtime_calls import RealtimeCall, RealtimeCalls
    from harness.agent.sip_server import SipEndpoint
    from harness.agent.webrtc_server import WebRTCCalls
    from harness.scenario.models import AgentConfig

REALTIME_PATH = "/v1/realtime"
DEFAULT_MODEL = "gpt-realtime"
# How much faster than real time agent audio is sent (the service also sends ahead).
DEFAULT_AUDIO_SPEED = 4.0
# Audio per output_audio.delta.
DEFAULT_DELTA_MS = 100
# A whole recorded turn may arrive in one conversation.item.create.
_MAX_MESSAGE_BYTES = 32 * 1024 * 1024

log = logging.getLogger(__name__)

def profile_policy_factory(profile: str | Profile,
                           flags: ToolFlags | None = None) -> PolicyFactory:
    """A factory of dialogue policies for the agent profile ``profile`` (a name, a YAML path or
    a loaded profile) with the agent config's tool ``flags``.

    The profile is loaded (and checked) once; each session gets its own policy.
    """
    from harness.agent.policy import Policy, load_profile
    from harness.agent.profile import Profile

    loaded = profile if isinstance(profile, Profile) else load_profile(profile)

    def make(session_tools: list[dict[str, Any]], faults: Faults) -> DialoguePolicy:
        return Policy(loaded, session_tools, faults, flags)

    return make


def _fault_specs(faults: str | list[str] | Faults | None) -> list[str]:
    if faults is None:
        return []
    if isinstance(faults, Faults):
        return [faults.spec()]
    specs = [faults] if isinstance(faults, str) else list(faults)
    Faults.parse(specs)  # fail early, with the fault module's message
    return specs


class LocalAgent:
    """The reference agent serving the Realtime protocol in the running event loop.

    ``async with LocalAgent(profile="support_desk", faults="ignore_barge_in") as agent:``
    then connect to ``agent.url``. ``write_tools``, ``escalation_tools`` and ``wait_tools`` are
    the tool flags of the agent config the profile serves (see :func:`agent_config_options`).
    ``policy_factory(session_tools, faults)`` replaces the profile's dialogue policy (tests use
    scripted ones). ``audio_speed`` is how much faster than real time audio deltas go out;
    ``delta_ms`` the audio per delta.
    """

    def __init__(
        self,
        profile: str = "support_desk",
        faults: str | list[str] | Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        write_tools: Iterable[str] = (),
        escalation_tools: Iterable[str] = (),
        wait_tools: Iterable[str] = (),
        policy_factory: PolicyFactory | None = None,
        audio_speed: float = DEFAULT_AUDIO_SPEED,
        delta_ms: int = DEFAULT_DELTA_MS,
        preload_asr: bool = True,
    ) -> None:
        self.profile = profile
        self.flags = ToolFlags(write=frozenset(write_tools),
                               escalation=frozenset(escalation_tools), wait=frozenset(wait_tools))
        self.fault_specs = _fault_specs(faults)
        self.host = host
        self.port = port
        self.audio_speed = audio_speed
        self.delta_ms = delta_ms
        self.preload_asr = preload_asr
        self._policy_factory = policy_factory
        self._server: Server | None = None
        self._webrtc: WebRTCCalls | None = None
        self._sip: SipEndpoint | None = None
        self._sip_starting = asyncio.Lock()  # two calls' first dial must not start two endpoints
        self.recogniser: str | None = None  # the profile's offline recogniser, if it names one
        self.sessions: set[AgentSession] = set()

    @property
    def url(self) -> str:
        """``ws://HOST:PORT/v1/realtime`` (add ``?model=…&faults=…`` as needed)."""
        if self._server is None:
            raise RuntimeError("the local agent is not started")
        return f"ws://{self.host}:{self.port}{REALTIME_PATH}"

    async def start(self) -> LocalAgent:
        """Load the profile and the ASR model, then listen (``port=0``: a free port)."""
        if self._policy_factory is None:
            from harness.agent.profile import load_profile  # noqa: PLC0415

            loaded = load_profile(self.profile)
            self.recogniser = loaded.recogniser
            self._policy_factory = profile_policy_factory(loaded, self.flags)
        if self.preload_asr:
            await asyncio.to_thread(asr.get_recognizer, self.recogniser)
            if not cheap_search(self.recogniser) and not wideband_runner_ups():
                # asked when a caller's value was heard in part: loaded now, not on that turn
                await asyncio.to_thread(asr.recognizer_at, asr_model_path(asr.SECOND_OPINION))
        self._server = await serve(
            self._handle, self.host, self.port, process_request=self._check_request,
            max_size=_MAX_MESSAGE_BYTES, compression=None)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def start_webrtc(self) -> str:
        """Serve WebRTC calls as well, on another port (:mod:`harness.agent.webrtc_server`): the
        same sessions with audio on RTP tracks. Returns ``http://HOST:PORT/v1/realtime/calls``.
        Needs the ``webrtc`` extra."""
        if self._server is None:
            raise RuntimeError("the local agent is not started")
        if self._webrtc is None:
            require("webrtc", "the local agent over WebRTC (target 'local-webrtc')")
            from harness.agent.webrtc_server import WebRTCCalls  # noqa: PLC0415 - aiortc

            self._webrtc = await WebRTCCalls(self._session_options, self.host).start()
        return self._webrtc.url

    async def start_sip(self, session: dict[str, Any], *, port: int = 0,
                        tools_url: str | None = None, tls: ssl.SSLContext | None = None,
                        tls_port: int = 0, realtime_calls: RealtimeCalls | None = None,
                        api_port: int = 0) -> str:
        """Answer SIP calls as well, on UDP ``port`` (:mod:`harness.agent.sip_server`): the same
        sessions, configured with ``session`` (the ``session.update`` session of the agent config
        served, see :func:`sip_session`), audio as G.711 RTP, tools called as webhooks at
        ``tools_url`` (a call's ``X-Harness-Tools`` header overrides it); with ``tls`` (a server
        context with a certificate) over TLS on TCP ``tls_port`` too (see :attr:`sips_uri`).
        With ``realtime_calls`` the endpoint behaves as the Realtime API's SIP interface instead
        (:mod:`harness.agent.realtime_calls`): each call rings while a webhook decides, through
        the REST API at :attr:`api_url` (TCP ``api_port``), how it is answered, and its sideband
        is this server's URL with ``?call_id=``. Returns ``sip:agent@HOST:PORT``."""
        if self._server is None:
            raise RuntimeError("the local agent is not started")
        async with self._sip_starting:
            if self._sip is None:
                from harness.agent.sip_server import SipEndpoint  # noqa: PLC0415

                def options(spec: str | None) -> tuple[str, Faults, dict[str, Any]]:
                    return self._session_options("?" + urlencode({"faults": spec}) if spec
                                                 else "")

                self._sip = await SipEndpoint(options, session, host=self.host, port=port,
                                              tools_url=tools_url, tls=tls, tls_port=tls_port,
                                              realtime_calls=realtime_calls,
                                              api_port=api_port).start()
        return self._sip.uri

    @property
    def sips_uri(self) -> str | None:
        """``sips:agent@HOST:PORT`` once SIP over TLS is answered (:meth:`start_sip`)."""
        return self._sip.sips_uri if self._sip is not None else None

    @property
    def api_url(self) -> str | None:
        """``http://HOST:PORT/v1``: the REST API of realtime calls (accept, reject, hangup),
        once :meth:`start_sip` has started the endpoint in that mode."""
        return self._sip.api_url if self._sip is not None else None

    async def stop(self) -> None:
        """Close every session and stop listening."""
        if self._sip is not None:
            await self._sip.stop()
            self._sip = None
        if self._webrtc is not None:
            await self._webrtc.stop()
            self._webrtc = None
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> LocalAgent:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _session_faults(self, path: str) -> tuple[str, Faults]:
        query = parse_qs(urlsplit(path).query)
        model = query.get("model", [DEFAULT_MODEL])[-1]
        return model, Faults.parse(self.fault_specs + query.get("faults", []))

    def _session_options(self, path: str) -> tuple[str, Faults, dict[str, Any]]:
        """The model, the faults and the other options of the session a request path asks for."""
        model, faults = self._session_faults(path)
        return model, faults, {"policy_factory": self._policy_factory,
                               "audio_speed": self.audio_speed, "delta_ms": self.delta_ms,
                               "recogniser": self.recogniser}

    def _check_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if urlsplit(request.path).path != REALTIME_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND,
                                      f"no such endpoint; use {REALTIME_PATH}\n")
        call_id = parse_qs(urlsplit(request.path).query).get("call_id")
        if call_id is not None:
            if self._realtime_call(call_id[-1]) is None:
                return connection.respond(HTTPStatus.NOT_FOUND,
                                          f"no pending or accepted call {call_id[-1]!r}\n")
            return None
        try:
            self._session_faults(request.path)
        except InputError as exc:
            return connection.respond(HTTPStatus.BAD_REQUEST, f"{exc}\n")
        return None

    def _realtime_call(self, call_id: str) -> RealtimeCall | None:
        book = self._sip.book if self._sip is not None else None
        return book.live(call_id) if book is not None else None

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None and self._policy_factory is not None
        call_id = parse_qs(urlsplit(connection.request.path).query).get("call_id")
        if call_id is not None:  # a realtime call's sideband
            call = self._realtime_call(call_id[-1])
            if call is not None:
                await call.connection.serve(connection)
            return
        model, faults, options = self._session_options(connection.request.path)
        session = AgentSession(connection, model=model, faults=faults, **options)
        self.sessions.add(session)
        try:
            await session.run()
        finally:
            self.sessions.discard(session)


class LocalAgentHandle:
    """A :class:`LocalAgent` running in a background thread with its own event loop."""

    def __init__(self, agent: LocalAgent) -> None:
        self.agent = agent
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopped: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="local-agent", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error

    @property
    def url(self) -> str:
        """``ws://127.0.0.1:PORT/v1/realtime``."""
        return self.agent.url

    @property
    def webrtc_url(self) -> str:
        """``http://127.0.0.1:PORT/v1/realtime/calls``: the agent's WebRTC calls, served from the
        first time this is read."""
        if self.agent._webrtc is None:
            require("webrtc", "the local agent over WebRTC (target 'local-webrtc')")
        return asyncio.run_coroutine_threadsafe(self.agent.start_webrtc(), self._loop).result()

    def sip_uri_for(self, config: AgentConfig) -> str:
        """``sip:agent@127.0.0.1:PORT``: the agent's SIP endpoint answering with ``config``'s
        session (:func:`sip_session`), started the first time this is called (see
        :meth:`LocalAgent.start_sip`; a call names its tool endpoint itself)."""
        return asyncio.run_coroutine_threadsafe(
            self.agent.start_sip(sip_session(config)), self._loop).result()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stopped = asyncio.Event()
        try:
            await self.agent.start()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the starting thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stopped.wait()
        await self.agent.stop()

    def stop(self) -> None:
        """Stop the server and its thread (idempotent)."""
        if self._thread.is_alive() and self._stopped is not None:
            self._loop.call_soon_threadsafe(self._stopped.set)
            self._thread.join()

    def __enter__(self) -> LocalAgentHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_local_agent(
    profile: str = "support_desk",
    faults: str | list[str] | Faults | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    **options: Any,
) -> LocalAgentHandle:
    """Start the reference agent in a background thread; returns once it accepts connections.

    ``handle.url`` is ``ws://HOST:PORT/v1/realtime``; ``handle.stop()`` shuts it down. Usable
    from sync code (the runner, the pytest plugin). ``options`` go to :class:`LocalAgent`.
    """
    return LocalAgentHandle(LocalAgent(profile, faults, host, port, **options))


def tool_flags(config: AgentConfig) -> ToolFlags:
    """The tool flags of an agent config, as the dialogue policy reads them."""
    return ToolFlags(write=frozenset(config.write_tools),
                     escalation=frozenset(config.escalation_tools),
                     wait=frozenset(config.wait_tools))


def agent_config_options(config: AgentConfig) -> dict[str, Any]:
    """What a local agent serving ``config`` needs from it: its profile and its tool flags."""
    return {"profile": config.local_profile, "write_tools": config.write_tools,
            "escalation_tools": config.escalation_tools, "wait_tools": config.wait_tools}


def sip_session(config: AgentConfig) -> dict[str, Any]:
    """The session a SIP call of the local agent starts with for ``config``: its
    ``session.update`` session (instructions, tools, voice, turn detection), as the harness
    sends it over a WebSocket."""
    from pathlib import Path  # noqa: PLC0415

    from harness.realtime.dialects import session_config  # noqa: PLC0415

    instructions = config.instructions
    if instructions is None and config.instructions_file is not None:
        instructions = Path(config.instructions_file).read_text(encoding="utf-8")
    return session_config(config, instructions, "ga")


def start_local_agent_for(config: AgentConfig, **options: Any) -> LocalAgentHandle:
    """:func:`start_local_agent` for an agent config: its ``local_profile`` and tool flags."""
    return start_local_agent(**agent_config_options(config), **options)


def serve_forever(host: str = "127.0.0.1", port: int = 0, profile: str = "support_desk",
                  faults: list[str] | None = None,
                  announce: Callable[[str], None] = print, *, webrtc: bool = False,
                  sip: tuple[int, dict[str, Any], str | None] | None = None,
                  sip_tls: tuple[int, ssl.SSLContext] | None = None,
                  realtime_calls: RealtimeCalls | None = None, api_port: int = 0,
                  **options: Any) -> None:
    """Run the agent until interrupted (``harness agent serve``); ``announce`` gets the URL (and,
    with ``webrtc``, the WebRTC calls URL too; with ``sip`` = (UDP port, session, tool endpoint),
    the SIP URI; with ``sip_tls`` = (TCP port, server context) as well, the ``sips:`` URI; with
    ``realtime_calls``, the endpoint behaves as the Realtime API's SIP interface and the base URL
    of its REST API, on TCP ``api_port``, is announced too); ``options`` go to
    :class:`LocalAgent` (tool flags)."""

    async def main() -> None:
        async with LocalAgent(profile, faults, host, port, **options) as agent:
            announce(agent.url)
            if webrtc:
                announce(await agent.start_webrtc())
            if sip is not None:
                tls, tls_port = (sip_tls[1], sip_tls[0]) if sip_tls is not None else (None, 0)
                announce(await agent.start_sip(sip[1], port=sip[0], tools_url=sip[2], tls=tls,
                                               tls_port=tls_port, realtime_calls=realtime_calls,
                                               api_port=api_port))
                if agent.sips_uri is not None:
                    announce(agent.sips_uri)
                if agent.api_url is not None:
                    announce(agent.api_url)
            await asyncio.Future()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         field="--port") from None
