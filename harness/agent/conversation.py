"""The conversation state of one agent session: items, responses and their public shapes."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(eq=False)
class Item:
    """A conversation item plus what the agent needs to know about it (compared by identity)."""

    id: str
    type: str
    role: str | None = None
    status: str = "completed"
    content: list[dict[str, Any]] = field(default_factory=list)
    name: str | None = None
    call_id: str | None = None
    arguments: str | None = None
    output: str | None = None
    # user audio (input rate) or agent audio (24 kHz PCM16)
    audio: np.ndarray | None = None
    audio_rate: int = 24000
    # agent speech: (start_ms, end_ms, text) per sentence, on the item's own audio
    sentences: list[tuple[float, float, str]] = field(default_factory=list)
    # the caller's words: None while user audio is still being transcribed
    transcript: str | None = None
    no_input: bool = False
    addressed: bool = True
    consumed: bool = False
    transcription_pending: bool = False
    play_start: float | None = None  # clock time its audio starts playing at the client

    def public(self) -> dict[str, Any]:
        """The item as the service shows it."""
        if self.type == "message":
            return {"id": self.id, "type": "message", "status": self.status, "role": self.role,
                    "content": copy.deepcopy(self.content)}
        if self.type == "function_call":
            return {"id": self.id, "type": "function_call", "status": self.status,
                    "name": self.name, "call_id": self.call_id, "arguments": self.arguments}
        return {"id": self.id, "type": "function_call_output", "call_id": self.call_id,
                "output": self.output}

    @property
    def audio_ms(self) -> float:
        return 0.0 if self.audio is None else len(self.audio) * 1000.0 / self.audio_rate

    @property
    def is_user_message(self) -> bool:
        return self.type == "message" and self.role == "user"


@dataclass(eq=False)
class Response:
    """One response in progress."""

    id: str
    in_conversation: bool
    modalities: list[str]
    voice: str
    speed: float
    output_format: dict[str, Any]
    metadata: Any
    instructions: str | None
    tool_choice: Any
    input_items: list[Item] | None
    output: list[Item] = field(default_factory=list)
    open_item: Item | None = None
    done: bool = False
    consumed_items: list[Item] = field(default_factory=list)
    input_tokens: tuple[int, int] = (0, 0)
    spoken: bool = False  # audio of it has been synthesised: the next sentence is not its head
    delayed: bool = False  # the added_latency fault has held its first output back

    def public(self, status: str, status_details: Any = None,
               usage_block: Any = None) -> dict[str, Any]:
        return {
            "object": "realtime.response",
            "id": self.id,
            "status": status,
            "status_details": status_details,
            "output": [item.public() for item in self.output],
            "conversation_id": None,
            "output_modalities": list(self.modalities),
            "max_output_tokens": "inf",
            "audio": {"output": {"format": dict(self.output_format), "voice": self.voice}},
            "usage": usage_block,
            "metadata": self.metadata,
        }


class ClientEventError(Exception):
    """A client event the service would answer with an ``error`` event."""

    def __init__(self, message: str, *, code: str, param: str | None = None):
        super().__init__(message)
        self.message = message
        self.code = code
        self.param = param


def spoken_text(item: Item, spoken_ms: float) -> str:
    """The part of an agent message heard in its first ``spoken_ms`` ms (whole words, assuming
    an even pace within a sentence)."""
    words: list[str] = []
    for start, end, sentence in item.sentences:
        if spoken_ms >= end:
            words.extend(sentence.split())
            continue
        if spoken_ms > start:
            parts = sentence.split()
            heard = int(len(parts) * (spoken_ms - start) / max(end - start, 1e-6))
            words.extend(parts[:heard])
        break
    return " ".join(words)


def word_deltas(text: str, *, leading_space: bool) -> list[str]:
    """``text`` cut into word deltas as the service sends them (" word", punctuation attached)."""
    return [(" " if i or leading_space else "") + word for i, word in enumerate(text.split())]


def item_text(item: Item) -> str:
    """The text an item carries (arguments of a call), for token counts."""
    if item.type == "function_call":
        return item.arguments or ""
    return " ".join(str(p.get("transcript") or p.get("text") or "") for p in item.content)
