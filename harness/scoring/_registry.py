"""The scorer registry: each expectation kind's scorer, one-line description and parameter model.

The kind itself (name, description, parameter model) is registered in ``harness.scenario.kinds``,
which is what scenario files are validated against; the scorer function is kept here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.extras import require
from harness.recording import Recording
from harness.scenario.kinds import ExpectationParams, expectation_kinds, register_kind
from harness.scenario.models import AgentConfig, Scenario, ToolSpec
from harness.scoring.timeline import Timeline
from harness.scoring.verdict import Evidence, Status


@dataclass
class Outcome:
    """What a scorer found; ``score`` turns it into a Verdict with the expectation's kind/params."""

    status: Status
    summary: str
    measured: dict[str, Any] = field(default_factory=dict)
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class ScoringContext:
    """What a scorer may look at: the timeline, the agent config and the recording itself."""

    timeline: Timeline
    agent_config: AgentConfig | None
    recording: Recording | None = None

    def tool_spec(self, name: str) -> ToolSpec | None:
        return self.agent_config.tool(name) if self.agent_config is not None else None

    @property
    def wait_tools(self) -> frozenset[str]:
        """The agent config's no-op wait tools (``wait: true``)."""
        return frozenset(self.agent_config.wait_tools if self.agent_config is not None else ())


ScorerFn = Callable[[ScoringContext, Any], Outcome]


@dataclass(frozen=True)
class ScorerInfo:
    """A registered scorer: its kind, its one-line description and its parameter model."""

    kind: str
    description: str
    params_model: type[ExpectationParams]
    fn: ScorerFn
    extra: str | None = None
    """The optional part of the harness (``harness.extras``) the scorer needs, if any."""


_REGISTRY: dict[str, ScorerInfo] = {}


def scorer(kind: str, description: str, *, params: type[ExpectationParams],
           extra: str | None = None) -> Callable[[ScorerFn], ScorerFn]:
    """Register the scorer of expectation ``kind``, whose parameters ``params`` validates.

    ``description`` is one sentence on what the kind checks (the references show it). ``extra``
    names the optional part of the harness the scorer needs (``harness.extras``), if any: a run
    of a scenario that expects this kind stops before its calls when that extra is missing. A
    plugin package uses this decorator in the module its ``harness.scorers`` entry point names.
    """

    def register(fn: ScorerFn) -> ScorerFn:
        entry = register_kind(kind, description, params, origin=fn.__module__)
        _REGISTRY[kind] = ScorerInfo(kind, entry.description, params, fn, extra)
        return fn

    return register


def require_extras(scenarios: Iterable[Scenario]) -> None:
    """Stop with the install command when a scenario expects a kind whose scorer needs an extra
    that is not installed (before any call runs, so no call is made for nothing)."""
    for scenario in scenarios:
        for expectation in scenario.expect:
            info = _REGISTRY.get(expectation.kind) or registry().get(expectation.kind)
            if info is not None and info.extra is not None:
                require(info.extra, f"the expectation {expectation.kind!r} of "
                        f"{scenario.source or scenario.name}")


def registry() -> dict[str, ScorerInfo]:
    """Every registered scorer by kind, built-in and plugin, in the references' order."""
    return {kind: _REGISTRY[kind] for kind in expectation_kinds() if kind in _REGISTRY}
