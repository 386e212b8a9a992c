"""The scorer registry: each expectation kind's scorer, one-line description and parameter model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.scenario.models import EXPECTATION_PARAMS, AgentConfig, Strict
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
    recording: Any = None

    def tool_spec(self, name: str) -> Any:
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
    params_model: type[Strict]
    fn: ScorerFn


_REGISTRY: dict[str, ScorerInfo] = {}


def scorer(kind: str, description: str) -> Callable[[ScorerFn], ScorerFn]:
    """Register a scorer of expectation ``kind`` (its parameters: EXPECTATION_PARAMS)."""
    if kind not in EXPECTATION_PARAMS:
        raise KeyError(f"no parameter model for expectation kind {kind!r}")

    def register(fn: ScorerFn) -> ScorerFn:
        _REGISTRY[kind] = ScorerInfo(kind, description, EXPECTATION_PARAMS[kind], fn)
        return fn

    return register


def registry() -> dict[str, ScorerInfo]:
    """Every registered scorer by kind (importing the scorers registers them)."""
    import harness.scoring.scorers  # noqa: F401, PLC0415 - registration side effect

    return dict(sorted(_REGISTRY.items()))
