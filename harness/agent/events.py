"""Builders for the GA Realtime server events of the local agent, in the recorded service's shape.

Key order and field sets follow the sessions recorded against ``gpt-realtime``
(``tests/fixtures/realtime-cassettes``): ``object``/``id``/``expires_at``/``include`` on the
session, ``null`` ``previous_item_id`` for the first item, ``status_details: null`` on a completed
response, an ``obfuscation`` field on text deltas.
"""

from __future__ import annotations

import secrets
import string
from typing import Any

_ID_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    """An id like the service's (``item_E6U0xWSFIFri2uw2kTLLq``): prefix, underscore, 21 chars."""
    return prefix + "_" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(21))


def obfuscation(delta: str) -> str:
    """Padding the service adds to text deltas so that deltas have similar sizes on the wire."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(max(3, 16 - len(delta))))


def server_event(event_type: str, **fields: Any) -> dict[str, Any]:
    """A server event: ``type`` and a fresh ``event_id`` first, then ``fields`` in order."""
    return {"type": event_type, "event_id": new_id("event"), **fields}


def error_event(
    message: str,
    *,
    code: str,
    param: str | None = None,
    client_event_id: str | None = None,
    error_type: str = "invalid_request_error",
) -> dict[str, Any]:
    """The GA ``error`` event; ``client_event_id`` echoes the ``event_id`` of the faulty event."""
    return server_event(
        "error",
        error={
            "type": error_type,
            "code": code,
            "message": message,
            "param": param,
            "event_id": client_event_id,
        },
    )


def rate_limits() -> list[dict[str, Any]]:
    """The limits a local agent reports: it has none, so remaining always equals the limit."""
    return [
        {"name": "requests", "limit": 5000, "remaining": 5000, "reset_seconds": 0.0},
        {"name": "tokens", "limit": 800000, "remaining": 800000, "reset_seconds": 0.0},
    ]


def usage(
    *, input_text_tokens: int, input_audio_tokens: int, output_text_tokens: int,
    output_audio_tokens: int,
) -> dict[str, Any]:
    """The ``usage`` block of ``response.done`` in the service's layout."""
    input_tokens = input_text_tokens + input_audio_tokens
    output_tokens = output_text_tokens + output_audio_tokens
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_token_details": {
            "text_tokens": input_text_tokens,
            "audio_tokens": input_audio_tokens,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": output_text_tokens,
                                 "audio_tokens": output_audio_tokens},
    }


def text_tokens(text: str) -> int:
    """A rough token count (about four characters a token), for ``usage`` only."""
    return (len(text) + 3) // 4


def audio_tokens(duration_ms: float) -> int:
    """Audio tokens of a clip: the service counts about ten per second of input audio."""
    return int(duration_ms / 100)
