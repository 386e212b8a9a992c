"""Helpers of the dialogue policy for what tools return and what the agent says: decoding and
classifying tool outputs, comparing values, filling message templates."""

from __future__ import annotations

import json
from typing import Any

from harness.agent.repairs import normalize_value


class MissingFields(dict):  # type: ignore[type-arg]
    """format_map mapping that leaves unknown fields visible instead of failing."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def clean(text: str) -> str:
    return " ".join(text.replace("’", "'").lower().split())


def decode_output(output: Any) -> Any:
    if isinstance(output, str):
        try:
            return json.loads(output)
        except ValueError:
            return output
    return output


def is_error(output: Any) -> bool:
    if isinstance(output, dict):
        return "error" in output or output.get("ok") is False or output.get("success") is False
    return isinstance(output, str) and "error" in output.lower()


def same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or str(a).lower() == str(b).lower()
    return normalize_value(a) == normalize_value(b)


def plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float)) else json.dumps(value)


def misread(value: str) -> str:
    """``value`` with its middle digit changed (the ``misread_digit`` fault)."""
    digits = [i for i, c in enumerate(value) if c.isdigit()]
    if not digits:
        return value
    i = digits[len(digits) // 2]
    return value[:i] + str((int(value[i]) + 1) % 10) + value[i + 1:]
