"""What a dialogue policy tells the session to do: speak a text, or call a tool."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Action", "CallTool", "Say"]


@dataclass
class Say:
    """Speak this text."""

    text: str


@dataclass
class CallTool:
    """Call this session tool; the output comes back through the policy's ``on_tool_output``."""

    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


Action = Say | CallTool
