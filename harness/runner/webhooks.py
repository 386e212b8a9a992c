"""A scenario's tool mocks served as HTTP webhooks, for agents that call their tools over HTTP.

Phone-agent platforms (Vapi, Retell, builds on Twilio, the local agent's SIP endpoint) have no
Realtime event stream to answer ``function_call`` items on: they POST each tool call to a URL.
For a call's duration :class:`ToolWebhooks` serves the scenario's mocks at such a URL, answers
each call from them exactly as the WebSocket runner would (:func:`harness.runner.tools.answer_call`:
sequences, argument rules, error results, after the mock's ``latency_ms``; one call counter per
tool) and records each call with the time it arrived and the time it was answered.

Routes (``{base}`` is what :meth:`ToolWebhooks.start` returns, ``http://127.0.0.1:PORT``):

- ``POST {base}/tools/{name}``: the body is the call's arguments as a JSON object; or
  ``{"arguments": {...}}`` (an object or a JSON string; Retell's ``{"name", "args", "call"}``
  likewise) when the tool declares no parameter of that name; or Vapi's ``tool-calls`` server
  message, ``{"message": {"toolCalls": [{"id", "function": {"name", "arguments"}}]}}`` (or its
  ``toolCallList`` of ``{"id", "name", "arguments"}``), answered in Vapi's documented shape
  ``{"results": [{"toolCallId", "result"}]}`` with each result a string. Vapi's other server
  messages (status updates, transcripts, reports) get an empty ``200`` and are not calls.
- ``POST {base}/tools``: ``{"name": ..., "arguments": ...}`` (or ``args``), or a Vapi message.

Answers other than Vapi's are the mock's result itself as JSON. A tool the agent config does not
declare is answered ``404`` with the error result the WebSocket runner would send, and recorded
as an invented call (the tools-honest scorer reads it). A body that is not JSON, or lacks a tool
name, is ``400`` with a message saying what was expected, another path ``404``, another method
``405``; those are not calls and go to :attr:`ToolWebhooks.rejected`.

Nothing of a request's headers is kept: ``Authorization``, a platform's secret header and the
like never reach a recording or a log. HTTP/1.1 is spoken by ``h11`` over asyncio streams
(keep-alive, ``Expect: 100-continue``, chunked bodies).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from harness.errors import InputError
from harness.json_http import Answer, JsonHttpServer
from harness.runner.tools import ToolAnswer, answer_call
from harness.scenario.models import AgentConfig, ToolMock

TOOLS_PATH = "/tools"
TOOLS_LISTEN_ENV = "HARNESS_TOOLS_LISTEN"
"""``HOST:PORT`` (or ``PORT``, on every interface) the tool endpoint of a SIP call listens on,
instead of a free loopback port chosen per call: the fixed URL a remote agent's tool
configuration points at (through a tunnel of the user's choosing). One call holds it at a time."""
_WRAPPER_KEYS = frozenset({"arguments", "args", "name", "call"})

log = logging.getLogger(__name__)


def fixed_listen(value: str | None = None, *, name: str = TOOLS_LISTEN_ENV
                 ) -> tuple[str, int] | None:
    """Where an endpoint listens when the variable ``name`` (by default :data:`TOOLS_LISTEN_ENV`,
    the tool endpoint's) or ``value`` fixes it: (host, port), a bare port meaning every
    interface; None when it is not set."""
    raw = (value if value is not None else os.environ.get(name, "")).strip()
    if not raw:
        return None
    host, colon, port = raw.rpartition(":")
    host = host.strip("[]") if colon else "0.0.0.0"
    if not port.isdigit() or not 0 < int(port) < 65536 or \
            not re.fullmatch(r"[A-Za-z0-9.\-:]+", host):
        raise InputError(f"expected HOST:PORT or PORT (e.g. 0.0.0.0:8787), got {raw!r}",
                         field=name)
    return host, int(port)


@dataclass
class WebhookCall:
    """One tool call that came in as a request."""

    t: float
    """Arrival on the server's clock (when the request had been read whole)."""
    name: str
    arguments_raw: str
    """The arguments as sent (a JSON text)."""
    answer: ToolAnswer
    t_answered: float | None = None
    """When the answer was written back; None when the server stopped before (the call had
    not waited out its mock's latency)."""
    call_id: str | None = None
    """The platform's id of the call (Vapi's ``toolCallId``), when it sends one."""


@dataclass(frozen=True)
class RejectedRequest:
    """A request that was no tool call: its time, method, path, status and why."""

    t: float
    method: str
    path: str
    status: int
    reason: str


@dataclass(frozen=True)
class _Incoming:
    call_id: str | None
    name: str
    arguments_raw: str


class ToolWebhooks(JsonHttpServer):
    """The scenario's tool mocks at ``http://HOST:PORT/tools/…`` until :meth:`stop`.

    ``clock`` stamps arrivals and answers (seconds; the runner may pass its session clock);
    ``on_answer`` is called with each call once its answer has been written (for a live
    timeline). ``async with ToolWebhooks(...) as hooks`` starts and stops it.
    """

    def __init__(self, config: AgentConfig, mocks: dict[str, ToolMock], *,
                 host: str = "127.0.0.1", port: int = 0,
                 clock: Callable[[], float] = time.perf_counter,
                 on_answer: Callable[[WebhookCall], None] | None = None) -> None:
        super().__init__(host=host, port=port)
        self.config = config
        self.mocks = mocks
        self.clock = clock
        self.on_answer = on_answer
        self.calls: list[WebhookCall] = []
        """Every call, in order of arrival."""
        self.counts: Counter[str] = Counter()
        """Calls per tool name so far (the ``call_index`` of the next one)."""
        self.rejected: list[RejectedRequest] = []

    async def __aenter__(self) -> ToolWebhooks:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def refused(self, method: str, path: str, status: HTTPStatus, reason: str) -> None:
        self.rejected.append(RejectedRequest(self.clock(), method, path, int(status), reason))
        log.info("tool webhook refused %s %s: %s %s", method, path, int(status), reason)

    # ------------------------------------------------------------------ tool calls

    async def respond(self, method: str, target: str, headers: dict[str, str], body: bytes
                      ) -> Answer:
        path = urlsplit(target).path
        route = path.rstrip("/")
        if route != TOOLS_PATH and not (route.startswith(TOOLS_PATH + "/")
                                        and "/" not in route[len(TOOLS_PATH) + 1:]):
            raise self.refuse(method, target, HTTPStatus.NOT_FOUND,
                               f"no such endpoint {path!r}; POST to {TOOLS_PATH}/{{name}} or "
                               f"{TOOLS_PATH}")
        if method != "POST":
            raise self.refuse(method, target, HTTPStatus.METHOD_NOT_ALLOWED,
                               "tool calls are POST requests", {"Allow": "POST"})
        path_name = unquote(route[len(TOOLS_PATH) + 1:]) or None
        try:
            text = body.decode("utf-8")
            value: Any = json.loads(text) if text.strip() else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self.refuse(method, target, HTTPStatus.BAD_REQUEST,
                               f"the body is not JSON ({exc}); expected the tool's arguments "
                               "as a JSON object") from None
        # a tool with a parameter named ``message`` takes such a body as its arguments
        vapi = _vapi_message(value) if "message" not in self._parameters(path_name) else None
        if vapi is not None and not _is_tool_calls(vapi):
            return HTTPStatus.OK, {}, {}, []  # another Vapi server message: not a tool call
        try:
            incoming = (_vapi_calls(vapi, path_name) if vapi is not None
                        else [self._plain_call(path_name, value, text)])
        except ValueError as exc:
            raise self.refuse(method, target, HTTPStatus.BAD_REQUEST, str(exc)) from None
        if not incoming:
            raise self.refuse(method, target, HTTPStatus.BAD_REQUEST,
                               "a tool-calls message with no tool call in message.toolCalls")
        calls = [self._arrive(call) for call in incoming]
        delay_ms = max(call.answer.latency_ms for call in calls)
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000.0)
        if vapi is not None:
            status: int = HTTPStatus.OK
            payload: Any = {"results": [{"toolCallId": call.call_id, "result": _as_text(
                call.answer.output)} for call in calls]}
        else:
            status = HTTPStatus.NOT_FOUND if calls[0].answer.invented else HTTPStatus.OK
            payload = calls[0].answer.output
        return status, payload, {}, calls

    def _arrive(self, incoming: _Incoming) -> WebhookCall:
        index = self.counts[incoming.name]
        self.counts[incoming.name] += 1
        answer = answer_call(incoming.name, incoming.arguments_raw, config=self.config,
                             mocks=self.mocks, call_index=index)
        call = WebhookCall(self.clock(), incoming.name, incoming.arguments_raw, answer,
                           call_id=incoming.call_id)
        self.calls.append(call)
        log.debug("tool webhook call %s #%d", incoming.name, index)
        return call

    def answered(self, requests: list[Any]) -> None:
        t = self.clock()
        for call in requests:
            call.t_answered = t
            if self.on_answer is not None:
                try:
                    self.on_answer(call)
                except Exception:  # noqa: BLE001 - the observer's fault; serving goes on
                    log.exception("tool webhook observer failed on %s", call.name)

    def _plain_call(self, path_name: str | None, value: Any, text: str) -> _Incoming:
        if path_name is None:  # POST /tools: the name is in the body
            if not isinstance(value, dict) or not isinstance(value.get("name"), str):
                raise ValueError('expected {"name": TOOL, "arguments": {...}} at '
                                 f"{TOOLS_PATH}, or POST to {TOOLS_PATH}/{{name}}")
            return _Incoming(None, value["name"], _arguments_text(
                value.get("arguments", value.get("args", {}))))
        if isinstance(value, dict) and self._is_wrapper(path_name, value):
            named = value.get("name", path_name)
            if named != path_name:
                raise ValueError(f"the path names tool {path_name!r}, the body {named!r}")
            return _Incoming(None, path_name, _arguments_text(
                value.get("arguments", value.get("args", {}))))
        return _Incoming(None, path_name, text.strip())

    def _is_wrapper(self, name: str, value: dict[str, Any]) -> bool:
        """Whether a body is ``{"arguments": ...}`` (or Retell's ``args``) around the arguments
        rather than the arguments themselves: only when the tool has no parameter so named."""
        keys = set(value)
        if not keys <= _WRAPPER_KEYS or not keys & {"arguments", "args"}:
            return False
        return not keys & self._parameters(name)

    def _parameters(self, name: str | None) -> set[str]:
        """The parameter names a declared tool has (none for an unknown one)."""
        tool = self.config.tool(name) if name is not None else None
        return set(tool.parameters.get("properties", {})) if tool is not None else set()


def _vapi_message(value: Any) -> dict[str, Any] | None:
    """The ``message`` of a Vapi server request, or None for another body."""
    if isinstance(value, dict) and isinstance(value.get("message"), dict):
        message: dict[str, Any] = value["message"]
        if "type" in message or "toolCalls" in message or "toolCallList" in message:
            return message
    return None


def _is_tool_calls(message: dict[str, Any]) -> bool:
    return (message.get("type") == "tool-calls" or "toolCalls" in message
            or "toolCallList" in message)


def _vapi_calls(message: dict[str, Any], path_name: str | None = None) -> list[_Incoming]:
    """The calls of a Vapi ``tool-calls`` message (``toolCalls``, else ``toolCallList``)."""
    entries = message.get("toolCalls") or message.get("toolCallList") or []
    if not isinstance(entries, list):
        raise ValueError("message.toolCalls is not a list")
    calls = []
    for i, entry in enumerate(entries):
        function = entry.get("function", entry) if isinstance(entry, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ValueError(f"message.toolCalls[{i}] has no function name; expected "
                             '{"id": ..., "function": {"name": ..., "arguments": ...}}')
        if path_name is not None and function["name"] != path_name:
            raise ValueError(f"the path names tool {path_name!r}, message.toolCalls[{i}] "
                             f"{function['name']!r}")
        call_id = entry.get("id")
        calls.append(_Incoming(call_id if isinstance(call_id, str) else None, function["name"],
                               _arguments_text(function.get("arguments", {}))))
    return calls


def _arguments_text(arguments: Any) -> str:
    """Arguments as a JSON text: a string is taken as sent (OpenAI's style), else encoded."""
    return arguments if isinstance(arguments, str) else json.dumps(arguments)


def _as_text(output: Any) -> str:
    return output if isinstance(output, str) else json.dumps(output)
