"""Protocol dialects (GA and beta): session.update shapes, and received events normalised to GA.

The harness speaks GA internally and in every recording. A beta target gets a beta-shaped
``session.update`` and its events are renamed (``response.audio.delta`` →
``response.output_audio.delta``, ``conversation.item.created`` → ``conversation.item.added``, ...)
and reshaped (``text``/``audio`` content parts → ``output_text``/``output_audio``, flat session
fields → the GA ``audio.input``/``audio.output`` tree) before anything else sees them.
"""

from __future__ import annotations

from typing import Any, Literal, TypeGuard

from harness.scenario.models import AgentConfig

Dialect = Literal["ga", "beta"]
DIALECTS: tuple[Dialect, ...] = ("ga", "beta")


def is_dialect(name: str) -> TypeGuard[Dialect]:
    """Whether ``name`` is one of :data:`DIALECTS`."""
    return name in DIALECTS

BETA_TO_GA_EVENTS: dict[str, str] = {
    "response.audio.delta": "response.output_audio.delta",
    "response.audio.done": "response.output_audio.done",
    "response.audio_transcript.delta": "response.output_audio_transcript.delta",
    "response.audio_transcript.done": "response.output_audio_transcript.done",
    "response.text.delta": "response.output_text.delta",
    "response.text.done": "response.output_text.done",
    "conversation.item.created": "conversation.item.added",
}

_BETA_CONTENT_TYPES = {"text": "output_text", "audio": "output_audio"}

_GA_TO_BETA_FORMAT = {"audio/pcm": "pcm16", "audio/pcmu": "g711_ulaw", "audio/pcma": "g711_alaw"}
_BETA_TO_GA_FORMAT = {v: k for k, v in _GA_TO_BETA_FORMAT.items()}


def audio_format(fmt: str) -> dict[str, Any]:
    """The GA ``format`` object of an audio format name."""
    return {"type": fmt, "rate": 24_000} if fmt == "audio/pcm" else {"type": fmt}


def _turn_detection(config: AgentConfig) -> dict[str, Any] | None:
    td = config.turn_detection
    if td is None:
        return None
    if td.type == "semantic_vad":
        # semantic VAD takes no threshold/padding/silence parameters
        keep = {"type", "eagerness", "create_response", "interrupt_response"}
        return {k: v for k, v in td.model_dump(exclude_none=True).items() if k in keep}
    return {k: v for k, v in td.model_dump(exclude_none=True).items() if k != "eagerness"}


def session_config(config: AgentConfig, instructions: str | None,
                   dialect: Dialect) -> dict[str, Any]:
    """The ``session`` object of a ``session.update`` for this agent config, in the dialect's shape.

    Tools go without the harness's own flags (``ToolSpec.session_tool``).
    """
    tools = [t.session_tool() for t in config.tools]
    transcription = (config.input_transcription.model_dump(exclude_none=True)
                     if config.input_transcription is not None else None)
    if dialect == "beta":
        session: dict[str, Any] = {
            "modalities": ["audio", "text"],
            "voice": config.voice,
            "input_audio_format": _GA_TO_BETA_FORMAT[config.input_audio_format],
            "output_audio_format": _GA_TO_BETA_FORMAT[config.output_audio_format],
            "input_audio_transcription": transcription,
            "turn_detection": _turn_detection(config),
            "tools": tools,
            "tool_choice": config.tool_choice,
        }
    else:
        session = {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": audio_format(config.input_audio_format),
                    "transcription": transcription,
                    "turn_detection": _turn_detection(config),
                },
                "output": {"format": audio_format(config.output_audio_format),
                           "voice": config.voice},
            },
            "tools": tools,
            "tool_choice": config.tool_choice,
        }
    if instructions is not None:
        session["instructions"] = instructions
    return session


def _ga_content(content: Any) -> Any:
    if isinstance(content, list):
        return [_ga_part(p) for p in content]
    return content


def _ga_part(part: Any) -> Any:
    if isinstance(part, dict) and part.get("type") in _BETA_CONTENT_TYPES:
        return {**part, "type": _BETA_CONTENT_TYPES[part["type"]]}
    return part


def _ga_item(item: Any) -> Any:
    if isinstance(item, dict) and item.get("role") == "assistant" and "content" in item:
        return {**item, "content": _ga_content(item["content"])}
    return item


def _ga_session(session: dict[str, Any]) -> dict[str, Any]:
    """A beta session object in the GA shape (the fields GA moved; the rest kept as they are)."""
    moved = {"modalities", "voice", "input_audio_format", "output_audio_format",
             "input_audio_transcription", "turn_detection"}
    out = {k: v for k, v in session.items() if k not in moved}
    out.setdefault("type", "realtime")
    if "modalities" in session:
        mods = session["modalities"] or []
        out["output_modalities"] = ["audio"] if "audio" in mods else list(mods)
    audio_in: dict[str, Any] = {}
    audio_out: dict[str, Any] = {}
    if "input_audio_format" in session:
        fmt = _BETA_TO_GA_FORMAT.get(session["input_audio_format"], session["input_audio_format"])
        audio_in["format"] = audio_format(fmt)
    if "input_audio_transcription" in session:
        audio_in["transcription"] = session["input_audio_transcription"]
    if "turn_detection" in session:
        audio_in["turn_detection"] = session["turn_detection"]
    if "output_audio_format" in session:
        fmt = _BETA_TO_GA_FORMAT.get(session["output_audio_format"], session["output_audio_format"])
        audio_out["format"] = audio_format(fmt)
    if "voice" in session:
        audio_out["voice"] = session["voice"]
    if audio_in or audio_out:
        out["audio"] = {"input": audio_in, "output": audio_out}
    return out


def normalize_event(event: dict[str, Any], dialect: Dialect) -> dict[str, Any]:
    """A received event in GA names and shapes. GA events come back unchanged (same object)."""
    if dialect == "ga":
        return event
    type_ = event.get("type", "")
    out = dict(event)
    if isinstance(type_, str):  # a type that is not a string is left for the protocol to ignore
        out["type"] = BETA_TO_GA_EVENTS.get(type_, type_)
    if "item" in out:
        out["item"] = _ga_item(out["item"])
    if "part" in out:
        out["part"] = _ga_part(out["part"])
    if type_ in ("session.created", "session.updated") and isinstance(out.get("session"), dict):
        out["session"] = _ga_session(out["session"])
    response = out.get("response")
    if isinstance(response, dict) and isinstance(response.get("output"), list):
        out["response"] = {**response, "output": [_ga_item(i) for i in response["output"]]}
    return out
