"""The session configuration of the local agent: defaults, ``session.update`` merging and checks.

The configuration is kept as the GA ``session`` object itself, so ``session.created`` and
``session.updated`` echo exactly what the service would. Live defaults follow the recorded
service (``silence_duration_ms`` is 200 there, although the docs say 500).
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Any

from harness.agent.events import new_id

DEFAULT_INSTRUCTIONS = (
    "You are a support agent on a phone line. Be brief, read identifiers back before using "
    "them, and confirm before changing anything."
)

# The session's lifetime the service announces (``expires_at``): 30 minutes.
SESSION_LIFETIME_S = 30 * 60

SERVER_VAD_DEFAULTS: dict[str, Any] = {
    "type": "server_vad",
    "threshold": 0.5,
    "prefix_padding_ms": 300,
    "silence_duration_ms": 200,
    "idle_timeout_ms": None,
    "create_response": True,
    "interrupt_response": True,
}
SEMANTIC_VAD_DEFAULTS: dict[str, Any] = {
    "type": "semantic_vad",
    "eagerness": "auto",
    "create_response": True,
    "interrupt_response": True,
}
FORMAT_RATES = {"audio/pcm": 24000, "audio/pcmu": 8000, "audio/pcma": 8000}
_TOP_LEVEL_KEYS = {
    "type", "model", "instructions", "output_modalities", "tools", "tool_choice",
    "max_output_tokens", "tracing", "truncation", "prompt", "include", "audio",
}
_TOOL_CHOICES = {"auto", "none", "required"}
_EAGERNESS = {"low", "medium", "high", "auto"}


class ConfigError(ValueError):
    """A ``session.update`` the service would refuse; ``param`` names the offending field."""

    def __init__(self, message: str, *, param: str, code: str = "invalid_value"):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True)
class TurnDetection:
    """Effective turn detection settings (semantic_vad approximated by a silence length)."""

    kind: str
    threshold: float
    prefix_padding_ms: int
    silence_duration_ms: int
    idle_timeout_ms: int | None
    create_response: bool
    interrupt_response: bool


# semantic_vad waits for the end of the thought; without a language model the agent
# approximates eagerness with a silence length: "high" answers fast, "low" lets pauses pass.
SEMANTIC_SILENCE_MS = {"high": 250, "auto": 500, "medium": 500, "low": 900}


def default_session(model: str) -> dict[str, Any]:
    """The ``session`` object of ``session.created`` for a fresh connection."""
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": model,
        "output_modalities": ["audio"],
        "instructions": DEFAULT_INSTRUCTIONS,
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": int(time.time()) + SESSION_LIFETIME_S,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": dict(SERVER_VAD_DEFAULTS),
            },
            "output": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "voice": "alloy",
                "speed": 1.0,
            },
        },
        "include": None,
    }


def _format(value: Any, param: str) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in FORMAT_RATES:
        raise ConfigError(
            f"Invalid value for '{param}': expected an object with type one of "
            f"{sorted(FORMAT_RATES)}.", param=param)
    kind = value["type"]
    if kind == "audio/pcm":
        rate = value.get("rate", 24000)
        if rate != 24000:
            raise ConfigError(f"Invalid '{param}.rate': only 24000 is supported for audio/pcm.",
                              param=f"{param}.rate")
        return {"type": kind, "rate": 24000}
    return {"type": kind}


def _turn_detection(value: Any, current: dict[str, Any] | None) -> dict[str, Any] | None:
    param = "session.audio.input.turn_detection"
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError(f"Invalid value for '{param}': expected an object or null.", param=param)
    kind = value.get("type", current["type"] if current else "server_vad")
    if kind == "server_vad":
        base = current if current and current["type"] == "server_vad" else SERVER_VAD_DEFAULTS
    elif kind == "semantic_vad":
        base = current if current and current["type"] == "semantic_vad" else SEMANTIC_VAD_DEFAULTS
    else:
        raise ConfigError(f"Invalid value for '{param}.type': expected 'server_vad' or "
                          f"'semantic_vad', got {kind!r}.", param=f"{param}.type")
    merged = dict(base)
    for key, item in value.items():
        if key not in merged:
            raise ConfigError(f"Unknown parameter: '{param}.{key}'.", param=f"{param}.{key}",
                              code="unknown_parameter")
        merged[key] = item
    if kind == "server_vad":
        threshold = merged["threshold"]
        if not isinstance(threshold, int | float) or not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"Invalid '{param}.threshold': expected a number from 0 to 1.",
                              param=f"{param}.threshold")
        for key in ("prefix_padding_ms", "silence_duration_ms"):
            if not isinstance(merged[key], int) or merged[key] < 0:
                raise ConfigError(f"Invalid '{param}.{key}': expected a non-negative integer.",
                                  param=f"{param}.{key}")
        idle = merged["idle_timeout_ms"]
        if idle is not None and (not isinstance(idle, int) or idle < 1):
            raise ConfigError(f"Invalid '{param}.idle_timeout_ms': expected a positive integer "
                              "or null.", param=f"{param}.idle_timeout_ms")
    elif merged["eagerness"] not in _EAGERNESS:
        raise ConfigError(f"Invalid '{param}.eagerness': expected one of {sorted(_EAGERNESS)}.",
                          param=f"{param}.eagerness")
    return merged


def _tools(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise ConfigError("Invalid 'session.tools': expected an array.", param="session.tools")
    tools = []
    for i, tool in enumerate(value):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise ConfigError(f"Missing required parameter: 'session.tools[{i}].name'.",
                              param=f"session.tools[{i}].name", code="missing_required_parameter")
        tools.append({
            "type": tool.get("type", "function"),
            "name": tool["name"],
            "description": tool.get("description", ""),
            "parameters": tool.get("parameters", {"type": "object", "properties": {}}),
        })
    return tools


def apply_update(session: dict[str, Any], update: Any) -> dict[str, Any]:
    """``session`` with ``update`` (the ``session`` of a ``session.update``) merged in.

    Raises :class:`ConfigError` for what the service refuses; ``session`` is left untouched then.
    """
    if not isinstance(update, dict):
        raise ConfigError("Invalid 'session': expected an object.", param="session")
    if update.get("type") != "realtime":
        raise ConfigError("Missing required parameter: 'session.type' (expected 'realtime').",
                          param="session.type", code="missing_required_parameter")
    for key in update:
        if key not in _TOP_LEVEL_KEYS:
            raise ConfigError(f"Unknown parameter: 'session.{key}'.", param=f"session.{key}",
                              code="unknown_parameter")
    new = copy.deepcopy(session)
    if "instructions" in update:
        if not isinstance(update["instructions"], str):
            raise ConfigError("Invalid 'session.instructions': expected a string.",
                              param="session.instructions")
        new["instructions"] = update["instructions"]
    if "output_modalities" in update:
        new["output_modalities"] = output_modalities(update["output_modalities"],
                                                     "session.output_modalities")
    if "tools" in update:
        new["tools"] = _tools(update["tools"])
    if "tool_choice" in update:
        new["tool_choice"] = tool_choice(update["tool_choice"], "session.tool_choice")
    for key in ("max_output_tokens", "tracing", "truncation", "prompt", "include"):
        if key in update:
            new[key] = update[key]
    audio = update.get("audio")
    if audio is not None:
        if not isinstance(audio, dict):
            raise ConfigError("Invalid 'session.audio': expected an object.", param="session.audio")
        inp = audio.get("input") or {}
        out = audio.get("output") or {}
        if "format" in inp:
            new["audio"]["input"]["format"] = _format(inp["format"], "session.audio.input.format")
        if "transcription" in inp:
            new["audio"]["input"]["transcription"] = _transcription(inp["transcription"])
        if "noise_reduction" in inp:
            new["audio"]["input"]["noise_reduction"] = inp["noise_reduction"]
        if "turn_detection" in inp:
            new["audio"]["input"]["turn_detection"] = _turn_detection(
                inp["turn_detection"], session["audio"]["input"]["turn_detection"])
        if "format" in out:
            new["audio"]["output"]["format"] = _format(out["format"], "session.audio.output.format")
        if "voice" in out:
            if not isinstance(out["voice"], str):
                raise ConfigError("Invalid 'session.audio.output.voice': expected a string.",
                                  param="session.audio.output.voice")
            new["audio"]["output"]["voice"] = out["voice"]
        if "speed" in out:
            speed = out["speed"]
            if not isinstance(speed, int | float) or not 0.25 <= speed <= 1.5:
                raise ConfigError("Invalid 'session.audio.output.speed': expected 0.25 to 1.5.",
                                  param="session.audio.output.speed")
            new["audio"]["output"]["speed"] = float(speed)
    return new


def _transcription(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ConfigError("Invalid 'session.audio.input.transcription': expected an object.",
                          param="session.audio.input.transcription")
    return {"model": value.get("model", "whisper-1"), "language": value.get("language"),
            "prompt": value.get("prompt")}


def output_modalities(value: Any, param: str) -> list[str]:
    """Checked ``output_modalities``: ``["audio"]`` or ``["text"]``."""
    if value not in (["audio"], ["text"]):
        raise ConfigError(f"Invalid '{param}': expected [\"audio\"] or [\"text\"].", param=param)
    return list(value)


def tool_choice(value: Any, param: str) -> Any:
    """Checked ``tool_choice``: auto, none, required or ``{"type": "function", "name": ...}``."""
    if value in _TOOL_CHOICES:
        return value
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(
            value.get("name"), str):
        return {"type": "function", "name": value["name"]}
    raise ConfigError(f"Invalid '{param}': expected 'auto', 'none', 'required' or a function.",
                      param=param)


def turn_detection(session: dict[str, Any]) -> TurnDetection | None:
    """The effective turn detection of ``session`` (``None`` when turns are committed by hand)."""
    td = session["audio"]["input"]["turn_detection"]
    if td is None:
        return None
    if td["type"] == "semantic_vad":
        return TurnDetection(
            kind="semantic_vad", threshold=0.5, prefix_padding_ms=300,
            silence_duration_ms=SEMANTIC_SILENCE_MS[td["eagerness"]], idle_timeout_ms=None,
            create_response=td["create_response"], interrupt_response=td["interrupt_response"])
    return TurnDetection(
        kind="server_vad", threshold=float(td["threshold"]),
        prefix_padding_ms=td["prefix_padding_ms"], silence_duration_ms=td["silence_duration_ms"],
        idle_timeout_ms=td["idle_timeout_ms"], create_response=td["create_response"],
        interrupt_response=td["interrupt_response"])
