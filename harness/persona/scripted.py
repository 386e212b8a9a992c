"""A scripted caller model: a real HTTP server that speaks the chat-completions protocol and
plays a persona's lines from a script keyed on what the agent said.

It makes persona calls run offline and exactly repeatable (the test suite's caller model, and
``harness personas serve`` for a team without a model at hand). A script names the scenario it
plays and its lines in order::

    scenario: persona-two-breaths
    lines:
      - say: "Hi, I'd like to check on an order."
      - when: "order (number|id)"          # a regex on what the agent just said
        say: "It's eight, three, five..."
      - when: "rest|go on|continue"
        say: "...two, one."
        gives: [order_id]
      - when: "8, 3, 5, 2, 1|eight, three"
        say: "Yes, that's right."
        intent: affirm
    otherwise: {say: "Thanks, that's all. Goodbye.", hang_up: true}

For each request the server reads the scenario from the persona's system message, replays the
conversation's agent messages through the script (each line is used once, unless it says
``again: true``; a line without ``when`` matches anything) and answers the last one with the
first unused line that matches, or ``otherwise``. Nothing is kept between requests, so the same
conversation always gets the same line. A line may instead fail on purpose, for tests of what a
broken caller model does to a trial: ``status: 500`` (an HTTP error), ``delay_s: 5`` (slow),
``content: "not json"`` (a reply that is not a caller line).

Token counts are estimated as one token per four characters of the messages and the reply
(OpenAI's rule of thumb for English), so costs can be measured on scripted runs.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import InputError
from harness.scenario._yaml import parse_yaml

_SCENARIO = re.compile(r"\(scenario ([a-z0-9][a-z0-9_.-]*)\)")


class ScriptLine(BaseModel):
    """One line of a script: when it is said, and what."""

    model_config = ConfigDict(extra="forbid")

    when: str | None = Field(None, description="regex on the agent's last words (any: none)")
    say: str = ""
    intent: Literal["affirm", "deny", "correct", "other"] = "other"
    gives: list[str] = Field(default_factory=list)
    hang_up: bool = False
    again: bool = Field(False, description="may be used more than once")
    status: int | None = Field(None, ge=400, le=599, description="answer with this HTTP error")
    delay_s: float | None = Field(None, ge=0, le=600, description="answer this late")
    content: str | None = Field(None, description="reply this raw content instead")

    def matches(self, agent_words: str) -> bool:
        return self.when is None or re.search(self.when, agent_words, re.I) is not None

    def reply(self) -> str:
        if self.content is not None:
            return self.content
        return json.dumps({"say": self.say, "intent": self.intent, "gives": self.gives,
                           "hang_up": self.hang_up}, sort_keys=True)


class Script(BaseModel):
    """A persona's script: the scenario it plays, its lines, and what it says otherwise."""

    model_config = ConfigDict(extra="forbid")

    scenario: str
    lines: list[ScriptLine] = Field(..., min_length=1)
    otherwise: ScriptLine = Field(
        default_factory=lambda: ScriptLine(say="Thank you. Goodbye.", hang_up=True))

    def choose(self, agent_turns: list[str]) -> ScriptLine:
        """The line that answers the last of ``agent_turns`` (the earlier ones replayed)."""
        used: set[int] = set()
        chosen = self.otherwise
        for words in agent_turns:
            chosen = self.otherwise
            for i, line in enumerate(self.lines):
                if (i not in used or line.again) and line.matches(words):
                    used.add(i)
                    chosen = line
                    break
        return chosen


def load_scripts(paths: list[Path]) -> dict[str, Script]:
    """Scripts from YAML files or folders of them, by the scenario each plays."""
    files: list[Path] = []
    for path in paths:
        files += sorted(path.glob("*.y*ml")) if path.is_dir() else [path]
    scripts: dict[str, Script] = {}
    for file in files:
        try:
            data = parse_yaml(file.read_text(encoding="utf-8"), str(file))
            script = Script.model_validate(data)
        except OSError as exc:
            raise InputError(f"cannot read the script: {exc.strerror}", location=str(file)
                             ) from None
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(first["msg"], location=str(file), field=where) from None
        for line in [*script.lines, script.otherwise]:
            if line.when is not None:
                try:
                    re.compile(line.when)
                except re.error as exc:
                    raise InputError(f"not a valid regex: {exc}", location=str(file),
                                     field="when") from None
        scripts[script.scenario] = script
    if not scripts:
        raise InputError("no scripts found", location=", ".join(map(str, paths)))
    return scripts


def estimate_tokens(text: str) -> int:
    """One token per four characters (at least one for any text)."""
    return math.ceil(len(text) / 4) if text else 0


@dataclass
class ScriptedCallerModel:
    """The server: start it, point the harness at :attr:`url`, stop it. :attr:`requests` counts
    the chat requests it answered (a fully cached run makes none)."""

    scripts: dict[str, Script]
    host: str = "127.0.0.1"
    port: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    _server: ThreadingHTTPServer | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def url(self) -> str:
        """The API base to give as the caller model's URL."""
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}/v1"

    def start(self) -> ScriptedCallerModel:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
                return

            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, payload = owner.answer(self.path, body)
                data = json.dumps(payload).encode("utf-8")
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped waiting (its timeout): nothing to answer

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True,
                         name="scripted-caller-model").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ScriptedCallerModel:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def answer(self, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one request."""
        if not path.rstrip("/").endswith("/chat/completions"):
            return 404, _error(f"no route {path}")
        try:
            request = json.loads(body)
            messages = request["messages"]
            system = next(m["content"] for m in messages if m["role"] == "system")
        except (ValueError, KeyError, StopIteration, TypeError):
            return 400, _error("expected a chat-completions request with a system message")
        found = _SCENARIO.search(system)
        script = self.scripts.get(found.group(1)) if found else None
        if script is None:
            return 404, _error(f"no script for {found.group(1) if found else 'this persona'}")
        agent_turns = [str(m.get("content") or "") for m in messages if m["role"] == "user"]
        line = script.choose(agent_turns)
        if line.delay_s:
            time.sleep(line.delay_s)
        if line.status is not None:
            return line.status, _error("the script answers this line with an error")
        content = line.reply()
        prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in messages)
        completion = estimate_tokens(content)
        with self._lock:
            self.requests += 1
            self.prompt_tokens += prompt
            self.completion_tokens += completion
        return 200, {
            "id": f"chatcmpl-scripted-{self.requests}", "object": "chat.completion",
            "created": int(time.time()), "model": str(request.get("model") or "scripted"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content,
                                     "refusal": None}}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}}


def _error(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error"}}
