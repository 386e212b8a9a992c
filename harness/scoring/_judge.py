"""The rubric judge: an OpenAI-compatible chat endpoint asked for one verdict per criterion,
with its replies cached by content hash so that re-scoring a call asks nothing again.

Configured from the environment: ``HARNESS_JUDGE_URL`` (the API base, e.g.
``https://api.openai.com/v1`` or ``http://127.0.0.1:8080/v1`` for a local vLLM, Ollama or
llama.cpp server), ``HARNESS_JUDGE_MODEL``, ``HARNESS_JUDGE_API_KEY`` (optional for local
servers; never written anywhere), ``HARNESS_JUDGE_TIMEOUT_S`` (default 60) and
``HARNESS_JUDGE_CACHE`` (default ``~/.cache/realtime-voice-harness/judge``).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.chat import ChatError, Endpoint, ask_chat, schema_problem

ENV_URL = "HARNESS_JUDGE_URL"
ENV_MODEL = "HARNESS_JUDGE_MODEL"
ENV_KEY = "HARNESS_JUDGE_API_KEY"
ENV_TIMEOUT = "HARNESS_JUDGE_TIMEOUT_S"
ENV_CACHE = "HARNESS_JUDGE_CACHE"

NOT_CONFIGURED = (f"the rubric judge is not configured: set {ENV_URL} (an OpenAI-compatible API "
                  f"base such as https://api.openai.com/v1) and {ENV_MODEL}, and {ENV_KEY} when "
                  "the endpoint needs a key")


class JudgeError(Exception):
    """The judge gave no usable verdicts (timeout, refusal, a reply out of schema); the message
    says why."""


@dataclass(frozen=True)
class JudgeConfig:
    """Where the judge is and how long to wait for it."""

    url: str
    model: str
    api_key: str | None
    timeout_s: float
    cache_dir: Path

    @property
    def host(self) -> str:
        """The endpoint's host (and port), as recorded in verdicts: never the key or a query."""
        return urlsplit(self.url).netloc or self.url


def judge_config() -> JudgeConfig | None:
    """The judge configured in the environment, or None when it is not."""
    url, model = os.environ.get(ENV_URL, "").strip(), os.environ.get(ENV_MODEL, "").strip()
    if not url or not model:
        return None
    try:
        timeout = float(os.environ.get(ENV_TIMEOUT, "60"))
    except ValueError:
        timeout = 60.0
    cache = os.environ.get(ENV_CACHE) or Path.home() / ".cache" / "realtime-voice-harness" / "judge"
    return JudgeConfig(url=url, model=model, api_key=os.environ.get(ENV_KEY) or None,
                       timeout_s=timeout, cache_dir=Path(cache))


class CriterionVerdict(BaseModel):
    """The judge's verdict on one criterion."""

    model_config = ConfigDict(extra="forbid")

    criterion: str
    verdict: Literal["pass", "fail"]
    reason: str = Field(..., description="one sentence")
    evidence: list[str] = Field(..., description="exact quotes from the transcript")


class JudgeReply(BaseModel):
    """The whole reply: one verdict per criterion."""

    model_config = ConfigDict(extra="forbid")

    verdicts: list[CriterionVerdict]


def reply_schema(criteria: list[str]) -> dict[str, Any]:
    """The JSON Schema the judge's reply must follow (strict structured output)."""
    verdict = {"type": "object", "additionalProperties": False,
               "required": ["criterion", "verdict", "reason", "evidence"],
               "properties": {"criterion": {"type": "string", "enum": criteria},
                              "verdict": {"type": "string", "enum": ["pass", "fail"]},
                              "reason": {"type": "string"},
                              "evidence": {"type": "array", "items": {"type": "string"}}}}
    return {"type": "object", "additionalProperties": False, "required": ["verdicts"],
            "properties": {"verdicts": {"type": "array", "items": verdict}}}


@dataclass
class JudgeResult:
    """The verdicts of one request and where they came from."""

    reply: JudgeReply
    prompt_sha256: str
    cached: bool


def _request(config: JudgeConfig, messages: list[dict[str, str]],
             criteria: list[str]) -> dict[str, Any]:
    return {"model": config.model, "temperature": 0, "messages": messages,
            "response_format": {"type": "json_schema",
                                "json_schema": {"name": "rubric_verdicts", "strict": True,
                                                "schema": reply_schema(criteria)}}}


def prompt_hash(config: JudgeConfig, messages: list[dict[str, str]], criteria: list[str]) -> str:
    """Content hash of a request: the cache key, recorded in the verdict."""
    body = json.dumps({"endpoint": config.host, **_request(config, messages, criteria)},
                      sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _parse(content: str | None, criteria: list[str]) -> JudgeReply:
    if not content:
        raise JudgeError("the judge's reply was empty")
    try:
        reply = JudgeReply.model_validate_json(content)
    except ValidationError as exc:
        raise JudgeError(f"the judge's reply does not follow the schema "
                         f"({schema_problem(exc)})") from None
    got = [v.criterion for v in reply.verdicts]
    missing = [c for c in criteria if c not in got]
    if missing or len(got) != len(set(got)) or set(got) - set(criteria):
        raise JudgeError(f"the judge's reply must hold one verdict per criterion "
                         f"({', '.join(criteria)}); got {', '.join(got) or 'none'}")
    return reply


def ask_judge(config: JudgeConfig, messages: list[dict[str, str]],
              criteria: list[str]) -> JudgeResult:
    """One verdict per criterion, from the cache when this exact request was answered before.

    Raises :class:`JudgeError` on a timeout, a refusal, an HTTP error or a reply out of schema
    (nothing is cached then).
    """
    digest = prompt_hash(config, messages, criteria)
    endpoint = Endpoint(config.url, config.model, config.host, config.api_key, config.timeout_s)
    try:
        reply, answer = ask_chat(endpoint, _request(config, messages, criteria),
                                 config.cache_dir / digest[:2] / f"{digest}.json",
                                 lambda content: _parse(content, criteria), who="the judge")
    except ChatError as exc:
        raise JudgeError(str(exc)) from None
    return JudgeResult(reply, digest, cached=answer.cached)
