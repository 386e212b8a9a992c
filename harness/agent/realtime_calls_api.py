"""The Realtime API's call routes, served by the local agent for its realtime calls
(:mod:`harness.agent.realtime_calls`), at ``http://HOST:PORT/v1``:

- ``POST /v1/realtime/calls/{call_id}/accept`` with a session (``{"type": "realtime", "model",
  "instructions", "tools", "audio", …}``, what ``client.realtime.calls.accept`` sends): the call is
  answered with that session; ``200``.
- ``POST /v1/realtime/calls/{call_id}/reject`` with an optional ``{"status_code": N}``: the
  INVITE gets that final status (603 by default); ``200``.
- ``POST /v1/realtime/calls/{call_id}/hangup``: an answered call is ended with BYE; ``200``.

An unknown call is ``404``, a call no longer pending (or, for hangup, one that has ended)
``409``, a body that is not a JSON object or a session the service would refuse ``400``; errors
are OpenAI's error object (``{"error": {"message", "type", "param", "code"}}``). Another path is
``404``, another method ``405``. An ``Authorization`` header is accepted and ignored: the local
agent asks for no key, and keeps no header. HTTP/1.1 is spoken by the harness's small JSON
server (:mod:`harness.json_http`), keep-alive included (the SDK's client reuses its
connections).
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote, urlsplit

from harness.agent.realtime_calls import ApiError, RealtimeCallBook
from harness.json_http import Answer, JsonHttpServer

log = logging.getLogger(__name__)

API_PREFIX = "/v1"
ROUTE = re.compile(r"/v1/realtime/calls/([^/]+)/(accept|reject|hangup)/?")


class CallsApi(JsonHttpServer):
    """Serves the call routes of ``book`` on ``host:port`` (``port=0``: a free one)."""

    def __init__(self, book: RealtimeCallBook, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self.book = book

    @property
    def url(self) -> str:
        """``http://HOST:PORT/v1``: the base URL of an OpenAI client."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}{API_PREFIX}"

    def error_body(self, status: int, reason: str) -> Any:
        return ApiError(status, reason).body

    async def respond(self, method: str, target: str, headers: dict[str, str], body: bytes
                      ) -> Answer:
        status, payload = self.route(method, target, body)
        return status, payload, {}, []

    def route(self, method: str, target: str, body: bytes) -> tuple[int, Any]:
        """The status and JSON payload (None: no body) of one request."""
        path = urlsplit(target).path
        route = ROUTE.fullmatch(path)
        try:
            if route is None:
                raise ApiError(404, f"Invalid URL ({method} {path}).", code="unknown_url")
            if method != "POST":
                raise ApiError(405, f"Method {method} not allowed: POST to {path}.",
                               code="method_not_allowed")
            try:
                payload = json.loads(body) if body.strip() else {}
            except (ValueError, UnicodeDecodeError):
                payload = None
            if not isinstance(payload, dict):
                raise ApiError(400, "The body must be a JSON object.", code="invalid_json")
            call_id, action = unquote(route.group(1)), route.group(2)
            getattr(self.book, action)(call_id, payload)
            log.info("realtime call %s: %s", call_id, action)
        except ApiError as exc:
            log.info("realtime calls API: %s %s → %d", method, path, exc.status)
            return exc.status, exc.body
        except Exception:  # noqa: BLE001 - the client gets a 500, the server goes on
            log.exception("realtime calls API: %s %s failed", method, path)
            return HTTPStatus.INTERNAL_SERVER_ERROR, ApiError(500, "The server failed.").body
        return HTTPStatus.OK, None
