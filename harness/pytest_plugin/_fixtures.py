"""The plugin's fixtures: the session's target, running a scenario from a Python test, and
rendering a scenario's caller audio."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from harness.recording import Recording
    from harness.runner import TrialResult
    from harness.scenario.models import Scenario
    from harness.scoring import Verdict


@dataclass
class ScenarioRun:
    """What :func:`run_scenario` returns: the trial, its recording and its verdicts."""

    result: TrialResult
    recording: Recording | None
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.result.status == "completed" and all(v.passed for v in self.verdicts)

    def failing(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.passed]


@dataclass(frozen=True)
class RealtimeTarget:
    """The session's target: its spec and, for ``local``, the running local agent's URL."""

    spec: str
    local_url: str | None = None


@pytest.fixture(scope="session")
def realtime_target(request: pytest.FixtureRequest) -> RealtimeTarget:
    """The target of this pytest session (``--realtime-target``); a local agent is started
    once per session (per xdist worker) when the target is ``local``."""
    from harness.realtime.targets import (  # noqa: PLC0415
        LOCAL_TARGETS,
        missing_credentials,
        parse_spec,
    )

    calls: Any = request.config.pluginmanager.get_plugin("harness-realtime-calls")  # _Calls
    spec = calls.options.target
    missing = missing_credentials(spec)
    if missing:
        pytest.skip(f"target {spec!r} needs {', '.join(missing)} in the environment")
    local = parse_spec(spec)[0] in LOCAL_TARGETS
    return RealtimeTarget(spec, calls._local_url(None) if local else None)


@pytest.fixture
def run_scenario(realtime_target: RealtimeTarget, tmp_path: Path,  # type: ignore[no-untyped-def]
                 request: pytest.FixtureRequest):
    """Run a scenario (a YAML path or a ``Scenario`` built in Python) once against the session's
    target; returns a :class:`ScenarioRun` with the recording and its verdicts.

    ``run_scenario(path_or_scenario, faults=[...], trial=0)``
    """
    from harness.recording import Recording  # noqa: PLC0415
    from harness.runner import run_trial  # noqa: PLC0415
    from harness.scenario.loader import load_scenario  # noqa: PLC0415
    from harness.scoring import score_trial  # noqa: PLC0415

    def run(scenario: Scenario | str | Path, *, faults: list[str] | None = None,
            trial: int = 0) -> ScenarioRun:
        if not hasattr(scenario, "turns"):
            scenario = load_scenario(Path(scenario))  # type: ignore[arg-type]
        folder = tmp_path / f"{scenario.name}-trial-{trial}"  # type: ignore[union-attr]
        local_url = realtime_target.local_url
        if local_url is not None:
            # the local agent that serves this scenario's own agent config
            calls: Any = request.config.pluginmanager.get_plugin("harness-realtime-calls")  # _Calls
            local_url = calls._local_url(scenario.agent_config)  # type: ignore[union-attr]
        result = asyncio.run(run_trial(
            scenario, out_dir=folder, target=realtime_target.spec, trial=trial,  # type: ignore[arg-type]
            faults=faults, local_url=local_url))
        if not (folder / "meta.json").is_file():
            return ScenarioRun(result, None)
        verdicts = score_trial(folder) if result.status == "completed" else []
        return ScenarioRun(result, Recording.load(folder), verdicts)

    return run


@pytest.fixture
def render_caller_audio():  # type: ignore[no-untyped-def]
    """Render a scenario's caller audio (a YAML path or a ``Scenario``) → ``CallerScript``."""
    from harness.audio import render_scenario  # noqa: PLC0415
    from harness.scenario.loader import load_scenario  # noqa: PLC0415

    def render(scenario: Scenario | str | Path) -> Any:
        if not hasattr(scenario, "turns"):
            scenario = load_scenario(Path(scenario))  # type: ignore[arg-type]
        return render_scenario(scenario)

    return render
