"""The pytest plugin's command-line options (its ``realtime`` group) and how they are read."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from harness.api import RunOptions
    from harness.runner.session import SessionOptions


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("realtime", "realtime voice-agent scenarios (harness)")
    group.addoption("--realtime-target", default="local", metavar="TARGET",
                    help="local (default), openai, azure or a ws(s):// URL (':beta' for the "
                         "beta dialect); over WebRTC local-webrtc, openai-webrtc, "
                         "azure-webrtc or a webrtc+https:// calls URL")
    group.addoption("--realtime-agent", default=None, metavar="FILE",
                    help="agent config replacing every scenario's own")
    group.addoption("--realtime-audio-format", default=None, metavar="FORMAT",
                    help="audio format of both directions on every scenario's agent config, "
                         "e.g. audio/pcmu (G.711 µ-law at 8 kHz, a telephone line)")
    group.addoption("--realtime-trials", type=int, default=1, metavar="K",
                    help="trials per scenario (default 1)")
    group.addoption("--realtime-concurrency", type=int, default=4, metavar="N",
                    help="calls in flight at once (default 4)")
    group.addoption("--realtime-fault", action="append", default=[], metavar="FAULT",
                    help="switch on a local-agent fault (repeatable), e.g. no_preamble")
    group.addoption("--realtime-network", default=None, metavar="CONDITIONS",
                    help="over WebRTC: delay, jitter and loss added on the harness's own RTP "
                         "path, each way, e.g. delay=100ms,jitter=10ms,loss=2%%")
    group.addoption("--realtime-caller-model", default=None, metavar="MODEL",
                    help="the model persona scenarios' callers are played by (default: "
                         "HARNESS_CALLER_MODEL)")
    group.addoption("--realtime-caller-url", default=None, metavar="URL",
                    help="the caller model's OpenAI-compatible API base (default: "
                         "HARNESS_CALLER_URL, else OpenAI's)")
    group.addoption("--realtime-report", default=None, metavar="DIR",
                    help="write the run (recordings + HTML report, JUnit, JSON) to DIR")
    group.addoption("--realtime-store", default=None, metavar="URL",
                    help="record the run in this history store (a SQLite file or a SQLAlchemy "
                         "URL); needs --realtime-report")
    group.addoption("--realtime-label", default=None, metavar="LABEL",
                    help="label of the stored run (e.g. nightly)")


@dataclass
class _Options:
    run: RunOptions
    """How the calls are made (target, agent config, trials, concurrency, faults, format)."""
    report: Path | None
    store: str | None = None
    label: str | None = None

    @property
    def target(self) -> str:
        return self.run.target

    @property
    def agent(self) -> str | None:
        return None if self.run.agent is None else str(self.run.agent)

    @property
    def trials(self) -> int:
        return self.run.trials

    @property
    def concurrency(self) -> int:
        return self.run.concurrency

    @property
    def faults(self) -> list[str]:
        return list(self.run.faults)

    @property
    def audio_format(self) -> str | None:
        return self.run.audio_format

    def session_options(self) -> SessionOptions | None:
        """What each call's session is given: the network conditions on its path, over SIP what
        hears the agent's words (as ``harness run`` gives it), and the caller model persona
        scenarios speak through (a persona item without one errors with the reason)."""
        import dataclasses  # noqa: PLC0415

        from harness.api import session_options  # noqa: PLC0415
        from harness.persona import caller_model  # noqa: PLC0415
        from harness.runner.session import SessionOptions  # noqa: PLC0415

        options = session_options([self.run.target], self.run.network_conditions())
        model = caller_model(self.run.caller_model, self.run.caller_url)
        if model is None:
            return options
        return dataclasses.replace(options or SessionOptions(), caller_model=model)

    @classmethod
    def of(cls, config: pytest.Config) -> _Options:
        from harness.api import RunOptions  # noqa: PLC0415
        from harness.errors import InputError  # noqa: PLC0415

        report = config.getoption("realtime_report")
        store = config.getoption("realtime_store")
        if store and not report:
            raise pytest.UsageError("--realtime-store needs --realtime-report DIR: the store "
                                    "keeps the paths of the run's report and recordings")
        try:
            run = RunOptions(
                target=config.getoption("realtime_target"),
                agent=config.getoption("realtime_agent"),
                audio_format=config.getoption("realtime_audio_format"),
                trials=config.getoption("realtime_trials"),
                concurrency=config.getoption("realtime_concurrency"),
                faults=tuple(config.getoption("realtime_fault")),
                network=config.getoption("realtime_network"),
                caller_model=config.getoption("realtime_caller_model"),
                caller_url=config.getoption("realtime_caller_url")).check()
        except InputError as exc:
            option = {"--trials": "--realtime-trials", "--concurrency": "--realtime-concurrency",
                      "--fault": "--realtime-fault", "--target": "--realtime-target",
                      "--audio-format": "--realtime-audio-format",
                      "--network": "--realtime-network"}.get(exc.field or "", "")
            raise pytest.UsageError(f"{option}: {exc.message}" if option
                                    else exc.format()) from None
        return cls(run, Path(report).resolve() if report else None, store,
                   config.getoption("realtime_label"))
