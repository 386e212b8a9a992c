"""The harness's main job as a library: load a suite, run it, score the calls, write the reports.

The CLI (``harness run``, ``harness report``) and the pytest plugin call these functions; they
hold no logic of their own. Everything here raises :class:`~harness.errors.HarnessError`
subclasses for bad input (exit code 2), never a traceback meant for users.

Public API:

- :func:`run` / :func:`run_async`: scenarios (files, folders or ``Scenario`` objects) → a new
  run folder ``out_dir/run-YYYYmmdd-HHMMSS`` with recordings, ``verdicts.json``, ``index.html``,
  ``junit.xml`` and ``summary.json``; returns a :class:`RunOutcome` (``.run_dir``,
  ``.trials``, ``.exit_code``).
- :class:`RunOptions`: how the calls are made (target, agent config, trials, concurrency,
  faults, audio format, workers); one object through ``run``, ``harness nightly``, ``harness
  compare``, the CLI and the pytest plugin, checked in one place.
- :func:`report`: re-render (and, for unscored trials, score) an existing run folder.
- :func:`exit_code`: 0 all passed, 1 some failed, 2 usage or invalid input, 3 some errored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import exit_codes
from harness.audio import Transcriber, asr_model_choice
from harness.errors import HarnessError, InputError
from harness.extras import require
from harness.folders import new_stamped_folder
from harness.realtime.netem import NetworkConditions
from harness.realtime.targets import LOCAL_TARGETS, parse_spec, require_transport, transport_of
from harness.recording import META_FILE, VERDICTS_FILE
from harness.report import (
    EXIT_ERRORED,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    RunOutcome,
    TrialOutcome,
    read_run,
    render_report,
)
from harness.runner.sideband import WEBHOOK_LISTEN_ENV, sideband_settings
from harness.runner.webhooks import TOOLS_LISTEN_ENV, fixed_listen
from harness.scenario.models import (
    AUDIO_FORMAT_NAMES,
    AudioFormat,
    Scenario,
    audio_format_named,
)
from harness.scoring import require_extras
from harness.sip.trunk import trunk_call

if TYPE_CHECKING:
    from harness.agent.server import LocalAgentHandle
    from harness.scenario.models import AgentConfig

__all__ = ["DEFAULT_SUITE", "EXIT_ERRORED", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "RunOptions",
           "RunOutcome", "TrialOutcome", "exit_code", "load_scenarios", "report", "run",
           "run_async", "with_audio_format"]

DEFAULT_SUITE = Path("scenarios")
"""What ``harness run`` runs without arguments: the example suite, against the local agent."""


def exit_code(outcome: RunOutcome | HarnessError) -> int:
    """The exit code of a run: 0 all passed, 1 some failed, 3 some errored; for a run that could
    not start, 2 on bad input (files, options) and 3 when the target could not be used
    (``harness.exit_codes``)."""
    if isinstance(outcome, HarnessError):
        return exit_codes.exit_code(error=outcome)
    return outcome.exit_code


def load_scenarios(items: Iterable[str | Path | Scenario] | None = None, *,
                   agent: str | Path | None = None,
                   audio_format: str | None = None) -> list[Scenario]:
    """Scenarios from files, folders and ready ``Scenario`` objects (default: ``scenarios/``);
    ``agent`` (an AgentConfig file) replaces every scenario's own agent config, and
    ``audio_format`` (e.g. ``audio/pcmu`` or ``g711_ulaw``: a telephone line) sets both audio
    directions of every scenario's config, which otherwise stays its own."""
    from harness.scenario.loader import load_agent_config, load_suite  # noqa: PLC0415

    check_audio_format(audio_format)

    items = list(items) if items is not None else [DEFAULT_SUITE]
    if not items:
        items = [DEFAULT_SUITE]
    given = [s for s in items if isinstance(s, Scenario)]
    paths = [p for p in items if not isinstance(p, Scenario)]
    scenarios = given + (load_suite(paths) if paths else [])
    require_extras(scenarios)
    if agent is not None:
        config = load_agent_config(agent)
        scenarios = [s.model_copy(update={"agent_config": config}) for s in scenarios]
    return with_audio_format(scenarios, audio_format)


def with_audio_format(scenarios: Iterable[Scenario], name: str | None) -> list[Scenario]:
    """The scenarios with both audio directions of their own agent configs set to the format
    ``name`` (``audio/pcmu``, ``g711_ulaw``, ...; None leaves them as they are)."""
    line = check_audio_format(name)
    if line is None:
        return list(scenarios)
    # a scenario without an agent config is left for the runner to refuse, with its location
    return [s if s.agent_config is None else s.model_copy(update={
        "agent_config": s.agent_config.model_copy(update={
            "input_audio_format": line, "output_audio_format": line})}) for s in scenarios]


def check_audio_format(name: str | None) -> AudioFormat | None:
    """The GA name of an audio format given on the command line; a located error otherwise."""
    if name is None:
        return None
    fmt = audio_format_named(name)
    if fmt is None:
        raise InputError(f"unknown audio format {name!r}; expected one of "
                         + ", ".join(AUDIO_FORMAT_NAMES), field="--audio-format")
    return fmt


@dataclass(frozen=True)
class RunOptions:
    """How the calls of a run are made: what ``harness run``, ``harness nightly``, ``harness
    compare`` and the pytest plugin share, as one value. :meth:`check` refuses what cannot run
    here with located errors (``--trials``, ``--target``, ...), before any call starts."""

    target: str = "local"
    """``local`` (the reference agent), ``openai``, ``azure`` or a ``ws://``/``wss://`` URL."""
    agent: str | Path | None = None
    """An agent config file used instead of each scenario's own."""
    audio_format: str | None = None
    """Both audio directions of each scenario's agent config (``audio/pcmu``: a phone line)."""
    trials: int = 1
    concurrency: int = 4
    """Calls at the same time."""
    faults: tuple[str, ...] = ()
    """Faults of the local agent (``no_preamble``, ``added_latency_ms=400``, ...)."""
    session_timeout_s: float | None = None
    """Each trial's time limit instead of its scenario's own."""
    workers: int | None = None
    """Processes (or Ray actors) the trials are spread over."""
    executor: str = "local"
    """``local`` (processes on this machine) or ``ray``."""
    address: str | None = None
    """The Ray cluster's address (``executor="ray"``)."""
    ship_recordings: bool = False
    """Ray workers send each finished trial back through Ray's object store."""
    network: str | None = None
    """Conditions imposed on a WebRTC target's path, e.g. ``delay=100ms,jitter=10ms,loss=2%``
    (:mod:`harness.realtime.netem`)."""
    caller_model: str | None = None
    """The model persona scenarios' callers are played by (else ``HARNESS_CALLER_MODEL``)."""
    caller_url: str | None = None
    """The caller model's OpenAI-compatible API base (else ``HARNESS_CALLER_URL``, else
    OpenAI's)."""
    replay_callers: str | Path | None = None
    """A run folder whose persona calls' recorded lines are spoken again instead of asking the
    caller model."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "faults", tuple(self.faults or ()))

    def check(self) -> RunOptions:
        """These options, when the calls can be made with them; else a located ``InputError``."""
        check_run_options(self.target, self.trials, self.concurrency, self.faults)
        if (self.workers or 1) > 1:
            check_one_call_at_a_time(self.target, self.workers or 1, "--workers")
        check_audio_format(self.audio_format)
        self.network_conditions()
        return self

    def network_conditions(self) -> NetworkConditions | None:
        """:attr:`network` read (a located ``InputError`` when it cannot be, or when the target
        is not reached over WebRTC: the harness imposes conditions on its own RTP path)."""
        if self.network is None:
            return None
        conditions = NetworkConditions.parse(self.network)
        if transport_of(parse_spec(self.target)[0]) != "webrtc":
            raise InputError(f"--network imposes conditions on a WebRTC call's path; target "
                             f"{self.target!r} is reached over a WebSocket (use local-webrtc, "
                             "openai-webrtc, azure-webrtc or a webrtc+https:// calls URL)",
                             field="--network")
        return conditions

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes`` (field names of :class:`RunOptions`)."""
        return dataclasses.replace(self, **changes)


def check_run_options(target: str, trials: int, concurrency: int,
                      faults: Sequence[str] | None) -> None:
    """Options every command that runs calls shares (run, nightly, compare): located errors."""
    if trials < 1:
        raise InputError(f"trials must be at least 1, got {trials}", field="--trials")
    if concurrency < 1:
        raise InputError(f"concurrency must be at least 1, got {concurrency}",
                         field="--concurrency")
    check_target(target, faults)
    check_one_call_at_a_time(target, concurrency, "--concurrency")


def check_one_call_at_a_time(target: str, calls: int, field: str) -> None:
    """A fixed tool endpoint (``HARNESS_TOOLS_LISTEN``) serves one SIP call at a time: a run of
    SIP calls with it makes them one after another."""
    if calls > 1 and transport_of(parse_spec(target)[0]) == "sip" and fixed_listen():
        raise InputError(f"{TOOLS_LISTEN_ENV} fixes the tool endpoint's port, which one call "
                         f"holds at a time; run these SIP calls one at a time ({field} 1), or "
                         f"unset {TOOLS_LISTEN_ENV} to serve each call's tools on its own port",
                         field=field)
    if calls > 1 and transport_of(parse_spec(target)[0]) == "sip" and sideband_settings():
        raise InputError(f"a sideband's webhook listens at {WEBHOOK_LISTEN_ENV}, which one call "
                         f"holds at a time; run these SIP calls one at a time ({field} 1)",
                         field=field)


def check_target(target: str, faults: Sequence[str] | None = None) -> None:
    """A target the calls can reach from this install: faults only for the local agent, and the
    local agent only with its extra installed. Located errors."""
    name = parse_spec(target)[0]
    local = name in LOCAL_TARGETS
    if faults and not local:
        raise InputError("faults apply to the local reference agent only (target 'local'), "
                         f"not to target {target!r}", field="--fault")
    if local:
        require("agent", f"the local reference agent (target {name!r})", field="--target")
    require_transport(name, field="--target")
    if name.startswith("tel:"):
        trunk_call(name)  # the trunk file read and its password found, before any call
    if transport_of(name) == "sip":
        sideband_settings()  # its variables checked before any call


def start_local_agent_for(config: AgentConfig, **options: Any) -> LocalAgentHandle:
    """The local reference agent for one scenario's agent config, started in a background
    thread. The agent (the ``agent`` extra) is imported only when a call targets it, so runs
    against any other target work on a core install."""
    from harness.agent import start_local_agent_for as start  # noqa: PLC0415 - VAD and ASR

    return start(config, **options)


def new_run_dir(out_dir: Path) -> Path:
    """A fresh run folder under ``out_dir``, named by its UTC start time, so runs never mix
    and old reports stay readable."""
    return new_stamped_folder(Path(out_dir), "run")


def score_missing(run_dir: Path, *, rescore: bool = False) -> None:
    """Score every recorded trial of the run that has no ``verdicts.json`` (all with
    ``rescore``); a trial whose recording cannot be read stays unscored and reports errored."""
    from harness.scoring import score_trial  # noqa: PLC0415

    for entry in read_run(run_dir)["trials"]:
        trial_dir = Path(run_dir) / (entry.get("path") or "")
        if not (trial_dir / META_FILE).is_file():
            continue
        if rescore or not (trial_dir / VERDICTS_FILE).is_file():
            try:
                score_trial(trial_dir)
            except HarnessError:
                continue


async def run_async(items: Iterable[str | Path | Scenario] | None = None,
                    options: RunOptions | None = None, *, out_dir: Path = Path("reports"),
                    run_dir: Path | None = None,
                    on_progress: Callable[[Any], None] | None = None,
                    on_trial_done: Callable[[Any], None] | None = None,
                    **changes: Any) -> RunOutcome:
    """Load → run → score → report, the calls made as ``options`` say (keyword ``changes`` are
    fields of :class:`RunOptions` over them: ``run_async(paths, trials=3)``). The run goes to
    ``run_dir`` when given, else to a new folder under ``out_dir``. ``on_progress`` /
    ``on_trial_done`` are the runner's callbacks (progress events for a progress bar; each
    finished trial). With ``workers`` the trials run in that many processes or Ray actors;
    scoring and the reports stay in this process."""
    from harness.runner.executors import run_suite_with  # noqa: PLC0415

    o = (options or RunOptions()).replace(**changes).check()
    network = o.network_conditions()
    scenarios = load_scenarios(items, agent=o.agent, audio_format=o.audio_format)
    sessions = session_options([o.target], network)
    if any(s.persona is not None for s in scenarios):
        sessions = _persona_options(o, sessions)
    result = await run_suite_with(
        scenarios, executor=o.executor, workers=o.workers, address=o.address,
        ship_recordings=o.ship_recordings, out_dir=run_dir or new_run_dir(Path(out_dir)),
        target=o.target, trials=o.trials, concurrency=o.concurrency,
        faults=list(o.faults) or None, on_progress=on_progress, on_trial_done=on_trial_done,
        session_timeout_s=o.session_timeout_s, local_agent=start_local_agent_for,
        options=sessions)
    return await report_when_quiet(result.run_dir)


async def report_when_quiet(run_dir: str | Path) -> RunOutcome:
    """:func:`report` once no call of this process is live (``harness.runner.live``: scoring
    takes seconds of CPU, which calls still streaming beside it would answer with), off the event
    loop."""
    from harness.runner.live import until_quiet  # noqa: PLC0415

    await until_quiet()
    return await asyncio.to_thread(report, run_dir)


def _persona_options(o: RunOptions, session_options: Any) -> Any:
    """The sessions' options with what persona scenarios need: the caller model (or the
    recorded lines to replay). Located errors, before any call, when they cannot run."""
    from harness.persona import caller_model  # noqa: PLC0415
    from harness.runner.persona import recorded_callers  # noqa: PLC0415
    from harness.runner.session import SessionOptions  # noqa: PLC0415

    if transport_of(parse_spec(o.target)[0]) == "sip":
        raise InputError("persona scenarios need the agent's transcript events to answer it, "
                         "which a SIP call does not carry; run them over a WebSocket or WebRTC",
                         field="--target")
    replay = recorded_callers(Path(o.replay_callers)) if o.replay_callers is not None else None
    model = caller_model(o.caller_model, o.caller_url)
    if model is None and replay is None:
        raise InputError("persona scenarios need a caller model: --caller-model (or "
                         "HARNESS_CALLER_MODEL) and, for a server other than OpenAI's, "
                         "--caller-url (or HARNESS_CALLER_URL); or --replay-callers RUN_DIR",
                         field="--caller-model")
    if replay is None:
        require("personas", "a persona's caller model", field="--caller-model")
    base = session_options if session_options is not None else SessionOptions()
    return dataclasses.replace(base, caller_model=model, replay_callers=replay)


def session_options(targets: Sequence[str], network: Any) -> Any:
    """The sessions' options: the network conditions, and when a call goes over SIP (no
    transcripts on the line: ``targets`` are the run's and its variants') the local recogniser
    for the agent's words."""
    from harness.realtime.targets import parse_spec, transport_of  # noqa: PLC0415
    from harness.runner.session import SessionOptions  # noqa: PLC0415

    transcribe = None
    if any(transport_of(parse_spec(target)[0]) == "sip" for target in targets):
        transcribe = sip_transcriber()
    if network is None and transcribe is None:
        return None
    return SessionOptions(network=network, transcribe=transcribe)


SIP_TRANSCRIBE_ENV = "HARNESS_SIP_TRANSCRIBE"
SIP_TRANSCRIBE_MODEL_ENV = "HARNESS_SIP_TRANSCRIBE_MODEL"
SIP_TRANSCRIBE_MODEL = "gpt-4o-mini-transcribe"


def sip_transcriber() -> Transcriber:
    """What hears the agent's words on a SIP call: the local recogniser (``local``, the default
    of :data:`SIP_TRANSCRIBE_ENV`), which writes only English, or ``openai``: the transcription
    endpoint (``OPENAI_BASE_URL``, its key in ``OPENAI_API_KEY``, checked now) with the model
    :data:`SIP_TRANSCRIBE_MODEL_ENV` names, for a line the offline recogniser does not hear
    well or an agent that may answer in another language than English."""
    choice = os.environ.get(SIP_TRANSCRIBE_ENV, "").strip() or "local"
    if choice == "openai":
        from harness.audio._openai_stt import endpoint_transcriber  # noqa: PLC0415

        model = os.environ.get(SIP_TRANSCRIBE_MODEL_ENV, "").strip() or SIP_TRANSCRIBE_MODEL
        return Transcriber(endpoint_transcriber(model), f"the transcription endpoint ({model})")
    if choice != "local":
        raise InputError(f"expected local or openai, got {choice!r}", field=SIP_TRANSCRIBE_ENV)
    from harness.scoring.scorers.speech_matches_transcript import (  # noqa: PLC0415
        transcribe_line,
    )

    return Transcriber(transcribe_line, f"the local recogniser ({asr_model_choice()})",
                       writes_only="en")


def run(items: Iterable[str | Path | Scenario] | None = None,
        options: RunOptions | None = None, *, out_dir: Path = Path("reports"),
        on_progress: Callable[[Any], None] | None = None,
        on_trial_done: Callable[[Any], None] | None = None, **changes: Any) -> RunOutcome:
    """:func:`run_async` for callers without an event loop (the CLI).

    Stopped with Ctrl-C, it still reports what was recorded (unfinished trials are errored) and
    returns with ``stopped`` set."""
    o = (options or RunOptions()).replace(**changes).check()
    run_dir = new_run_dir(Path(out_dir))
    try:
        return asyncio.run(run_async(items, o, run_dir=run_dir, on_progress=on_progress,
                                     on_trial_done=on_trial_done))
    except KeyboardInterrupt:
        if not (run_dir / "run.json").is_file():
            raise
        outcome = report(run_dir)
        outcome.stopped = True
        return outcome
    finally:
        if not any(run_dir.iterdir()):
            run_dir.rmdir()


def report(run_dir: str | Path, *, rescore: bool = False) -> RunOutcome:
    """Score the run's unscored trials (every trial with ``rescore``) and render its reports."""
    run_dir = Path(run_dir)
    score_missing(run_dir, rescore=rescore)
    return render_report(run_dir)
