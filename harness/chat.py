"""One question to an OpenAI-compatible chat-completions endpoint, its reply cached by the
request's hash: what the rubric judge and a persona's caller model share.

Each failure (a timeout, an HTTP error, an unreachable host, no choice, a refusal) is one
:class:`ChatError` whose message names the endpoint's host, never its key; nothing is cached
then. A reply is cached only after the caller's ``parse`` accepted it, so a reply out of schema
is asked again next time. The key goes in the request's header only: the cache file holds the
model, the host, the content and the tokens the request cost.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

T = TypeVar("T")


class ChatError(Exception):
    """The endpoint gave no reply to use; the message says why."""


@dataclass(frozen=True)
class Endpoint:
    """Where to ask, which model, with which key, and how long to wait."""

    url: str
    model: str
    host: str
    api_key: str | None
    timeout_s: float


@dataclass(frozen=True)
class Answer:
    """Whether the reply came from the cache, and the tokens the request cost (0 cached)."""

    cached: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0


def schema_problem(exc: ValidationError) -> str:
    """The first problem of a reply that does not validate: ``where: what``."""
    first = exc.errors()[0]
    return f"{'.'.join(str(p) for p in first['loc']) or 'reply'}: {first['msg']}"


def short(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def ask_chat(endpoint: Endpoint, body: dict[str, Any], cache_file: Path,
             parse: Callable[[str | None], T], *, who: str) -> tuple[T, Answer]:
    """``parse`` of the reply to ``body`` (a chat-completions request), from ``cache_file`` when
    this request was answered before. ``who`` names the endpoint in messages ("the judge").

    Blocking. Raises :class:`ChatError`, or what ``parse`` raises for a reply it refuses.
    """
    if cache_file.is_file():
        cached = json.loads(cache_file.read_text(encoding="utf-8"))
        return parse(cached["content"]), Answer(cached=True)
    import openai  # noqa: PLC0415 - only what asks a chat model needs the client

    client = openai.OpenAI(base_url=endpoint.url, api_key=endpoint.api_key or "not-needed",
                           timeout=endpoint.timeout_s, max_retries=0)
    try:
        completion = client.chat.completions.create(**body)
    except openai.APITimeoutError:
        raise ChatError(f"{who} at {endpoint.host} did not answer within "
                        f"{endpoint.timeout_s:g} s") from None
    except openai.APIStatusError as exc:
        raise ChatError(f"{who} at {endpoint.host} answered HTTP {exc.status_code}: "
                        f"{short(exc.message)}") from None
    except openai.APIError as exc:
        raise ChatError(f"{who} at {endpoint.host} could not be used: "
                        f"{type(exc).__name__}: {short(str(exc))}") from None
    if not completion.choices:
        raise ChatError(f"{who}'s reply held no choice")
    message = completion.choices[0].message
    refusal = getattr(message, "refusal", None)
    if refusal:
        raise ChatError(f"{who} refused: {short(refusal)}")
    parsed = parse(message.content)
    usage = completion.usage
    answer = Answer(False, usage.prompt_tokens if usage else 0,
                    usage.completion_tokens if usage else 0)
    cache_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache_file.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps({"model": endpoint.model, "endpoint": endpoint.host,
                               "content": message.content,
                               "usage": {"prompt_tokens": answer.prompt_tokens,
                                         "completion_tokens": answer.completion_tokens}},
                              ensure_ascii=False), encoding="utf-8")
    tmp.replace(cache_file)
    return parsed, answer
