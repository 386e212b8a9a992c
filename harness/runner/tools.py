"""Answers to the agent's function calls, from the scenario's tool mocks (pure; no I/O)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from harness.scenario.models import AgentConfig, ToolMock, resolve_mock


@dataclass
class ToolAnswer:
    """What the runner sends back for one call, and after how long."""

    name: str
    arguments: dict[str, Any] | None
    arguments_raw: str
    invented: bool
    output: Any
    latency_ms: int
    call_index: int


def parse_arguments(raw: str) -> dict[str, Any] | None:
    """The call's arguments as a dict; None when they are not a JSON object."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def answer_call(name: str, arguments_raw: str, *, config: AgentConfig,
                mocks: dict[str, ToolMock], call_index: int) -> ToolAnswer:
    """The answer to the ``call_index``-th call (0-based) of tool ``name``.

    A tool the agent config does not declare is *invented*: it gets an error result at once.
    A declared tool answers from its mock (argument-conditional rules, sequences, ``latency_ms``,
    error results); a call no mock rule matches, or a tool without a mock, gets an error result.
    """
    arguments = parse_arguments(arguments_raw)
    if config.tool(name) is None:
        output: Any = {"error": f"unknown tool {name!r}"}
        return ToolAnswer(name, arguments, arguments_raw, True, output, 0, call_index)
    if arguments is None:
        return ToolAnswer(name, None, arguments_raw, False,
                          {"error": "arguments are not a JSON object"}, 0, call_index)
    mock = mocks.get(name)
    rule = resolve_mock(mock, arguments, call_index) if mock is not None else None
    if rule is None:
        return ToolAnswer(name, arguments, arguments_raw, False,
                          {"error": "no answer for these arguments"}, 0, call_index)
    return ToolAnswer(name, arguments, arguments_raw, False, rule.output(), rule.latency_ms,
                      call_index)
