"""The caller model: an OpenAI-compatible chat endpoint asked for a persona's next line, each
reply cached by the hash of the request so that a rerun of an unchanged conversation asks
nothing and speaks the same lines.

Configured like the rubric judge, from options or the environment: ``--caller-url`` /
``HARNESS_CALLER_URL`` (the API base, default ``https://api.openai.com/v1``; any server that
speaks chat completions: vLLM, Ollama, llama.cpp, a scripted server), ``--caller-model`` /
``HARNESS_CALLER_MODEL``, ``HARNESS_CALLER_API_KEY`` (for api.openai.com, ``OPENAI_API_KEY``
when it is not set; never written anywhere), ``HARNESS_CALLER_TIMEOUT_S`` (default 30),
``HARNESS_CALLER_SEED`` (default 0) and ``HARNESS_CALLER_CACHE`` (default
``~/.cache/realtime-voice-harness/caller``). Requests ask for temperature 0 and the seed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.chat import ChatError, Endpoint, ask_chat, schema_problem, short
from harness.errors import InputError, TargetError

ENV_URL = "HARNESS_CALLER_URL"
ENV_MODEL = "HARNESS_CALLER_MODEL"
ENV_KEY = "HARNESS_CALLER_API_KEY"
ENV_TIMEOUT = "HARNESS_CALLER_TIMEOUT_S"
ENV_SEED = "HARNESS_CALLER_SEED"
ENV_CACHE = "HARNESS_CALLER_CACHE"
DEFAULT_URL = "https://api.openai.com/v1"


class CallerModelError(TargetError):
    """The caller model gave no usable line (an HTTP error, a timeout, a reply out of schema):
    the trial is errored with this reason, never failed or passed."""


@dataclass(frozen=True)
class CallerModel:
    """Where the caller model is, which model, and how long to wait for it."""

    url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    seed: int = 0
    cache_dir: Path = field(
        default_factory=lambda: Path.home() / ".cache" / "realtime-voice-harness" / "caller")

    @property
    def host(self) -> str:
        """The endpoint's host (and port), as recorded: never the key or a query."""
        return urlsplit(self.url).netloc or self.url


def caller_model(model: str | None = None, url: str | None = None) -> CallerModel | None:
    """The caller model the options (else the environment) name; None when none is named."""
    chosen = (model or os.environ.get(ENV_MODEL, "")).strip()
    if not chosen:
        return None
    base = (url or os.environ.get(ENV_URL, "") or DEFAULT_URL).strip().rstrip("/")
    if urlsplit(base).scheme not in ("http", "https"):
        raise InputError(f"the caller model's URL must be http(s)://…, got {base!r}",
                         field="--caller-url")
    key = os.environ.get(ENV_KEY) or None
    if key is None and urlsplit(base).hostname == "api.openai.com":
        key = os.environ.get("OPENAI_API_KEY") or None
    try:
        timeout = float(os.environ.get(ENV_TIMEOUT, "30"))
        seed = int(os.environ.get(ENV_SEED, "0"))
    except ValueError:
        raise InputError(f"{ENV_TIMEOUT} must be a number of seconds and {ENV_SEED} an "
                         "integer", field=ENV_TIMEOUT) from None
    cache = os.environ.get(ENV_CACHE)
    kwargs: dict[str, Any] = {"cache_dir": Path(cache)} if cache else {}
    return CallerModel(url=base, model=chosen, api_key=key, timeout_s=timeout, seed=seed,
                       **kwargs)


class CallerLine(BaseModel):
    """One line of the caller, as the caller model must reply it."""

    model_config = ConfigDict(extra="forbid")

    say: str = Field(..., description="what the caller says next, as spoken words")
    intent: Literal["affirm", "deny", "correct", "other"] = Field(
        ..., description="affirm/deny: the line answers a yes-or-no question; correct: it "
                         "corrects something said before")
    gives: list[str] = Field(..., description="names of the facts this line completes")
    hang_up: bool = Field(..., description="the caller is done and ends the call after this")


LINE_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["say", "intent", "gives", "hang_up"],
    "properties": {"say": {"type": "string"},
                   "intent": {"type": "string", "enum": ["affirm", "deny", "correct", "other"]},
                   "gives": {"type": "array", "items": {"type": "string"}},
                   "hang_up": {"type": "boolean"}}}
"""The JSON Schema the caller model's reply follows (strict structured output)."""


@dataclass(frozen=True)
class Usage:
    """Tokens one request cost, as the endpoint counted them (0 from the cache)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass(frozen=True)
class CallerReply:
    """A line, the request's hash (the cache key) and where it came from."""

    line: CallerLine
    request_sha256: str
    cached: bool
    usage: Usage


def request_body(config: CallerModel, messages: list[dict[str, str]]) -> dict[str, Any]:
    """The chat-completions request for ``messages``."""
    return {"model": config.model, "temperature": 0, "seed": config.seed, "messages": messages,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "caller_line", "strict": True,
                                                "schema": LINE_SCHEMA}}}


def request_hash(config: CallerModel, messages: list[dict[str, str]]) -> str:
    """Content hash of a request (endpoint, model, seed, persona prompt, conversation)."""
    body = json.dumps({"endpoint": config.host, **request_body(config, messages)},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def parse_line(content: str | None, facts: dict[str, str]) -> CallerLine:
    """The caller's line from the reply's content; :class:`CallerModelError` when it is not one."""
    if not content:
        raise CallerModelError("the caller model's reply was empty")
    try:
        line = CallerLine.model_validate_json(content)
    except ValidationError as exc:
        raise CallerModelError(f"the caller model's reply is not a caller line "
                               f"({schema_problem(exc)}): {short(content)!r}") from None
    if not line.say.strip() and not line.hang_up:
        raise CallerModelError("the caller model's line says nothing and does not hang up")
    unknown = [g for g in line.gives if g not in facts]
    if unknown:
        raise CallerModelError(f"the caller model's line gives facts the persona does not "
                               f"have: {', '.join(unknown)}")
    return line


def ask_caller(config: CallerModel, messages: list[dict[str, str]],
               facts: dict[str, str]) -> CallerReply:
    """The next line, from the cache when this exact request was answered before.

    Blocking (run it off the event loop). Raises :class:`CallerModelError` on a timeout, an
    HTTP error or a reply that is not a caller line (nothing is cached then).
    """
    digest = request_hash(config, messages)
    endpoint = Endpoint(config.url, config.model, config.host, config.api_key, config.timeout_s)
    try:
        line, answer = ask_chat(endpoint, request_body(config, messages),
                                config.cache_dir / digest[:2] / f"{digest}.json",
                                lambda content: parse_line(content, facts),
                                who="the caller model")
    except ChatError as exc:
        raise CallerModelError(str(exc)) from None
    return CallerReply(line, digest, answer.cached,
                       Usage(answer.prompt_tokens, answer.completion_tokens))
