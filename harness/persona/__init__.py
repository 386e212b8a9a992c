"""Callers that think: the caller model a persona scenario's lines come from, what it is asked,
and a scripted caller model that speaks the protocol for offline runs and tests
(:mod:`harness.persona.scripted`)."""

from harness.persona._client import (
    CallerLine,
    CallerModel,
    CallerModelError,
    CallerReply,
    Usage,
    ask_caller,
    caller_model,
    request_hash,
)
from harness.persona._prompt import conversation, system_prompt

__all__ = [
    "CallerLine",
    "CallerModel",
    "CallerModelError",
    "CallerReply",
    "Usage",
    "ask_caller",
    "caller_model",
    "conversation",
    "request_hash",
    "system_prompt",
]
