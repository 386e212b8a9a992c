"""pytest plugin: scenario YAML files become test items; fixtures run scenarios from Python tests.

Collection rule: pytest collects a ``.yaml``/``.yml`` file it visits when the file *is a
scenario by content* (a mapping with top-level ``turns`` and ``expect`` keys; see
:func:`harness.scenario.loader.is_scenario_file`). Agent configs, defaults files and any other
YAML are left alone. Each scenario yields one item per trial (``--realtime-trials``), with ids
like ``scenarios/cancel.yaml::cancel-order-with-confirmation[trial-2]``.

Calls run concurrently although pytest runs items one after another: the first scenario item
starts every selected scenario's calls as one suite run (``--realtime-concurrency`` at a time)
and each item then waits only for its own trial. Under pytest-xdist each worker runs the items
it is given, with its own local agent on its own free port, into its own run folder; the
controller merges those into one report.

An item whose trial *errored* (target unreachable, protocol failure, a call-integrity check
that blames the harness) is reported as an error at setup; a trial with failing expectations or
call-integrity findings fails with its verdicts and their evidence; items for a target whose
credentials are missing are skipped with the reason. The session's exit code follows the
harness's contract where pytest's allows: 1 some failed, 2 a scenario file is invalid (a
collection error), 3 some scenario errored.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

# the fixtures: pytest finds them in this module's namespace
from harness.exit_codes import EXIT_ERRORED
from harness.pytest_plugin._fixtures import (
    RealtimeTarget,
    ScenarioRun,
    realtime_target,
    render_caller_audio,
    run_scenario,
)
from harness.pytest_plugin._options import _Options, pytest_addoption

if TYPE_CHECKING:
    from harness.runner import TrialResult
    from harness.scenario.models import AgentConfig, Scenario
    from harness.scoring import Verdict

RUN_FILE = "run.json"

__all__ = ["RealtimeTarget", "ScenarioRun", "pytest_addoption", "realtime_target",
           "render_caller_audio", "run_scenario"]



def _worker_id(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)
    return workerinput["workerid"] if workerinput else None


AST_RACE = "AST constructor recursion depth mismatch"
"""What :mod:`harness.pyfixes`' interpreter bug raises (CPython gh-106905)."""
_REPORTING_AGAIN = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]  # a hook wrapper's generator
    """A report made again, by the whole hook, when the interpreter's AST race struck while
    pytest read the failing test's source to show it. The harness's threads parse (numpy
    headers) beside the test, and ``ast.parse`` is locked against them, but a parse that
    bypasses the lock can still collide with pytest's: without this the run would end with an
    internal error, and every test not yet run would be lost. The race resets per parse, so a
    second try holds."""
    if item.stash.get(_REPORTING_AGAIN, False):
        return (yield)
    try:
        return (yield)
    except SystemError as exc:
        if AST_RACE not in str(exc):
            raise
        race = exc
    item.stash[_REPORTING_AGAIN] = True
    try:
        for _ in range(2):
            try:
                return item.ihook.pytest_runtest_makereport(item=item, call=call)
            except SystemError as exc:
                if AST_RACE not in str(exc):
                    raise
                race = exc
    finally:
        item.stash[_REPORTING_AGAIN] = False
    raise race


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "realtime_scenario: a scenario trial collected from YAML")
    config.pluginmanager.register(_Calls(config), "harness-realtime-calls")


# --------------------------------------------------------------------------- collection


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml"):
        return None
    from harness.scenario.loader import is_scenario_file  # noqa: PLC0415

    if is_scenario_file(file_path):
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


class ScenarioFile(pytest.File):
    """A scenario YAML file: one item per trial."""

    def collect(self):  # type: ignore[no-untyped-def]
        from harness.errors import HarnessError  # noqa: PLC0415
        from harness.scenario.loader import load_scenario  # noqa: PLC0415

        options = _Options.of(self.config)
        try:
            scenario = load_scenario(self.path)
            if options.agent:
                from harness.scenario.loader import load_agent_config  # noqa: PLC0415

                scenario = scenario.model_copy(
                    update={"agent_config": load_agent_config(Path(options.agent))})
            if options.audio_format:
                from harness.api import with_audio_format  # noqa: PLC0415

                scenario = with_audio_format([scenario], options.audio_format)[0]
        except HarnessError as exc:
            raise self.CollectError(str(exc)) from None
        for k in range(options.trials):
            yield ScenarioItem.from_parent(self, name=f"{scenario.name}[trial-{k}]",
                                           scenario=scenario, trial=k)


class ScenarioItem(pytest.Item):
    """One trial of one scenario: set-up waits for the call, the test checks its verdicts."""

    def __init__(self, *, scenario: Scenario, trial: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.scenario = scenario
        self.trial = trial
        self.result: TrialResult | None = None
        self.verdicts: list[Verdict] = []
        self.add_marker("realtime_scenario")

    @property
    def key(self) -> tuple[str, int]:
        return (str(self.scenario.source), self.trial)

    def setup(self) -> None:
        from harness.realtime.targets import missing_credentials  # noqa: PLC0415

        options = _Options.of(self.config)
        missing = missing_credentials(options.target)
        if missing:
            pytest.skip(f"target {options.target!r} needs {', '.join(missing)} "
                        "in the environment")
        calls: _Calls = self.config.pluginmanager.get_plugin("harness-realtime-calls")
        self.result = calls.result_for(self)
        if self.result.status != "completed":
            # Failing in set-up makes pytest report an error, not a failure; pytrace=False
            # shows the reason alone.
            pytest.fail(ScenarioErrored(self.result).explain(), pytrace=False)
        from harness.scoring import score_trial  # noqa: PLC0415

        assert self.result.recording_dir is not None
        self.verdicts = score_trial(self.result.recording_dir)
        if any(v.status == "error" for v in self.verdicts):
            pytest.fail(ScenarioFailed(self).explain(), pytrace=False)

    def runtest(self) -> None:
        if not all(v.passed for v in self.verdicts):
            raise ScenarioFailed(self)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, ScenarioFailed):
            return excinfo.value.explain()
        return super().repr_failure(excinfo)  # type: ignore[return-value]

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, _line_of(self.path, ("name",)) - 1, f"scenario {self.name}"


class ScenarioFailed(Exception):
    """Some expectations of a trial failed: shown as its verdicts with evidence."""

    def __init__(self, item: ScenarioItem):
        super().__init__(item.name)
        self.item = item

    def explain(self) -> str:
        item = self.item
        failing = [(i, v) for i, v in enumerate(item.verdicts) if not v.passed]
        lines = [f"{item.scenario.name} [trial-{item.trial}]: {len(failing)} of "
                 f"{len(item.verdicts)} verdicts did not pass"]
        for i, verdict in failing:
            # Verdicts past the expectations are the always-on call-integrity checks.
            where = (f"{_rel(item.path)}:{_line_of(item.path, ('expect', i))}"
                     if i < len(item.scenario.expect) else f"{_rel(item.path)}: call integrity")
            lines.append(f"{where}: {verdict.kind} {verdict.status.upper()}: {verdict.summary}")
            for ev in verdict.evidence:
                t = f"{ev.t_ms / 1000:7.2f}s" if ev.t_ms is not None else "      - "
                turn = f" turn {ev.turn_index}" if ev.turn_index is not None else ""
                excerpt = f": {ev.excerpt}" if ev.excerpt else ""
                lines.append(f"    {t}{turn}  {ev.label}{excerpt}")
        if item.result is not None and item.result.recording_dir is not None:
            lines.append(f"recording: {item.result.recording_dir}")
        return "\n".join(lines)


class ScenarioErrored:
    """The call could not run (errored, not failed): the reason shown at set-up."""

    def __init__(self, result: TrialResult):
        self.result = result

    def explain(self) -> str:
        return (f"{self.result.scenario} [trial-{self.result.trial}] errored: "
                f"{self.result.error or self.result.status}\n"
                f"recording: {self.result.recording_dir}")


def _line_of(path: Path, field_path: tuple[str | int, ...]) -> int:
    """1-based line of a field in a YAML file (1 when it cannot be found)."""
    from harness.scenario.loader import locate  # noqa: PLC0415

    return locate(path, field_path)[0]


def _rel(path: Path) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- running the calls


class _Calls:
    """Runs the session's scenario trials and hands each item its result."""

    def __init__(self, config: pytest.Config):
        self.config = config
        self.worker = _worker_id(config)
        self._run_dir: Path | None = None
        self._results: dict[tuple[str, int], TrialResult] = {}
        self._done = threading.Condition()
        self._batch: threading.Thread | None = None
        self._batch_error: BaseException | None = None
        self._agents: dict[tuple[Any, ...], Any] = {}
        self._per_item: list[TrialResult] = []
        self._errored_items = 0

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        # Under xdist the controller sees every worker's reports here.
        if report.when == "setup" and report.failed and "realtime_scenario" in report.keywords:
            self._errored_items += 1

    @property
    def options(self) -> _Options:
        return _Options.of(self.config)

    def run_dir(self) -> Path:
        if self._run_dir is None:
            base = self.options.report
            if base is None:
                base = Path(tempfile.mkdtemp(prefix="harness-pytest-"))
            self._run_dir = base / self.worker if self.worker else base
            self._run_dir.mkdir(parents=True, exist_ok=True)
        return self._run_dir

    def result_for(self, item: ScenarioItem) -> TrialResult:
        if self.worker is None:
            return self._batched(item)
        return self._single(item)

    # One suite run for every selected scenario item: concurrent calls, one run folder.
    def _batched(self, item: ScenarioItem) -> TrialResult:
        if self._batch is None:
            items = [i for i in item.session.items if isinstance(i, ScenarioItem)]
            self._batch = threading.Thread(target=self._run_batch, args=(items,),
                                           name="harness-calls", daemon=True)
            self._batch.start()
        with self._done:
            self._done.wait_for(lambda: item.key in self._results
                                or not self._batch.is_alive())  # type: ignore[union-attr]
            if item.key in self._results:
                return self._results[item.key]
        raise RuntimeError(f"the scenario calls stopped before {item.name} ran: "
                           f"{self._batch_error!r}")

    def _run_batch(self, items: list[ScenarioItem]) -> None:
        from harness.api import start_local_agent_for  # noqa: PLC0415
        from harness.runner import run_suite  # noqa: PLC0415

        scenarios: dict[str, Scenario] = {}
        for i in items:
            scenarios.setdefault(str(i.scenario.source), i.scenario)
        by_name = {s.name: str(s.source) for s in scenarios.values()}
        trials = max(i.trial for i in items) + 1

        def done(result: TrialResult) -> None:
            with self._done:
                self._results[(by_name[result.scenario], result.trial)] = result
                self._done.notify_all()

        options = self.options
        try:
            asyncio.run(run_suite(
                list(scenarios.values()), out_dir=self.run_dir(), target=options.target,
                trials=trials, concurrency=options.concurrency, faults=options.faults or None,
                on_trial_done=done, local_agent=start_local_agent_for,
                options=options.session_options()))
        except BaseException as exc:  # reported by every waiting item
            self._batch_error = exc
        finally:
            with self._done:
                self._done.notify_all()

    # Under xdist: this worker's items one at a time, sharing one local agent.
    def _single(self, item: ScenarioItem) -> TrialResult:
        from harness.realtime.targets import LOCAL_TARGETS, parse_spec  # noqa: PLC0415
        from harness.runner import run_trial  # noqa: PLC0415

        options = self.options
        local = parse_spec(options.target)[0] in LOCAL_TARGETS
        local_url = self._local_url(item.scenario.agent_config) if local else None
        rel = f"{item.scenario.name}/trial-{item.trial}"
        result = asyncio.run(run_trial(
            item.scenario, out_dir=self.run_dir() / rel, target=options.target,
            trial=item.trial, faults=options.faults or None, local_url=local_url,
            options=options.session_options()))
        result.path = rel
        self._per_item.append(result)
        return result

    def _local_url(self, config: AgentConfig | None) -> str:
        """The URL of this worker's local agent for ``config`` (its profile and tool flags;
        ``None``: the ``--realtime-agent`` config, else the default profile), started once."""
        from harness.agent import agent_config_options, start_local_agent  # noqa: PLC0415
        from harness.realtime.targets import parse_spec, transport_of  # noqa: PLC0415
        from harness.scenario.loader import load_agent_config  # noqa: PLC0415
        from harness.scenario.models import AgentConfig  # noqa: PLC0415

        if config is None:
            agent = self.options.agent
            config = load_agent_config(Path(agent)) if agent else AgentConfig()
        options = agent_config_options(config)
        key = tuple((k, tuple(v) if isinstance(v, list) else v) for k, v in options.items())
        if key not in self._agents:
            self._agents[key] = start_local_agent(**options)
        if transport_of(parse_spec(self.options.target)[0]) == "webrtc":
            return self._agents[key].webrtc_url
        return self._agents[key].url

    # ------------------------------------------------------------------ end of the session

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._errored_items and session.exitstatus == pytest.ExitCode.TESTS_FAILED:
            session.exitstatus = EXIT_ERRORED  # some scenario errored: the exit-code contract
        if self._batch is not None:
            self._batch.join()
        for agent in self._agents.values():
            agent.stop()
        if self.worker is not None and self._per_item:
            self._write_worker_run()
        options = self.options
        if options.report is None or self.worker is not None:
            return
        if _xdist_controller(self.config):
            _merge_worker_runs(options.report)
        if (options.report / RUN_FILE).is_file():
            from harness.api import report  # noqa: PLC0415

            outcome = report(options.report)
            tr = self.config.pluginmanager.get_plugin("terminalreporter")
            lines = [f"realtime report: {outcome.index_html}"]
            suite = outcome.statistics.get("suite") or {}
            if suite.get("k", 1) > 1:
                rate, hat = suite["pass_rate"], suite["pass_hat_k"]
                lines.append(
                    f"realtime statistics: k={suite['k']} trials per scenario, suite pass rate "
                    + _estimate_text(rate) + ", pass^k " + _estimate_text(hat)
                    + f", flaky: {', '.join(suite['flaky_scenarios']) or 'none'}")
            if options.store:
                from harness.nightly import store_outcome  # noqa: PLC0415

                stored = store_outcome(outcome, options.store, options.label)
                if stored.error is not None:
                    lines.append(f"realtime store: error: {stored.error}")
                    session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
                elif stored.info is not None:
                    lines.append(f"realtime store: stored run {stored.info.run_id}")
            if tr is not None:
                tr.ensure_newline()
                for line in lines:
                    tr.write_line(line)

    def _write_worker_run(self) -> None:
        from datetime import UTC, datetime  # noqa: PLC0415

        from harness.runner import RunResult  # noqa: PLC0415
        from harness.runner.results import write_run_file  # noqa: PLC0415

        now = datetime.now(UTC).isoformat()
        run = RunResult(self.run_dir(), f"pytest-{self.worker}", self.options.target, now, now,
                        trials=list(self._per_item))
        write_run_file(run, self.options.faults)


def _estimate_text(est: dict[str, Any]) -> str:
    if est.get("value") is None:
        return f"— (n={est.get('n', 0)})"
    band = f" [{100 * est['low']:.0f}, {100 * est['high']:.0f}]" if est.get("low") is not None \
        else ""
    return f"{100 * est['value']:.0f}%{band} (n={est['n']} scenarios)"


def _xdist_controller(config: pytest.Config) -> bool:
    return _worker_id(config) is None and bool(getattr(config.option, "numprocesses", None))


def _merge_worker_runs(report_dir: Path) -> None:
    """One run.json over the workers' run folders (``gw0/``, ``gw1/``…), trials re-pathed."""
    merged: dict[str, Any] | None = None
    for worker_run in sorted(report_dir.glob(f"gw*/{RUN_FILE}")):
        data = json.loads(worker_run.read_text(encoding="utf-8"))
        prefix = worker_run.parent.name
        for trial in data["trials"]:
            trial["path"] = f"{prefix}/{trial['path']}"
        if merged is None:
            merged = {**data, "run_id": "pytest-xdist", "trials": []}
        merged["trials"].extend(data["trials"])
    if merged is not None:
        (report_dir / RUN_FILE).write_text(json.dumps(merged, indent=2), encoding="utf-8")
