"""Checks that span fields or files: cut-off prefixes, barge-in targets, entity values, referenced
files and voices, and that mocks and expectations name real tools, entities and turns."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import soundfile

from harness.errors import InputError
from harness.espeak import resolve_voice
from harness.kokoro import kokoro_voice
from harness.scenario._yaml import FieldPath, Positions, format_path, path_problem
from harness.scenario.models import AgentConfig, CallerVoice, Scenario, ToolSpec


class _Report:
    """Collects located errors for one file."""

    def __init__(self, positions: Positions, written: dict[FieldPath, str]):
        self.positions = positions
        self.written = written
        self.errors: list[InputError] = []

    def add(self, path: FieldPath, message: str, *, key: bool = False) -> None:
        mark = self.positions.find(path, key=key)
        self.errors.append(InputError(message, location=str(mark) if mark else None,
                                      field=format_path(path) or None))

    def as_written(self, path: FieldPath, value: Path) -> str:
        return self.written.get(path, str(value))


def _words(text: str) -> list[str]:
    """Words for prefix comparison: case, punctuation and spacing do not matter."""
    return re.sub(r"[^\w\s]", "", text.casefold()).split()


def _check_file(report: _Report, path: FieldPath, file: Path | None, *, wav: bool) -> None:
    if file is None:
        return
    shown = report.as_written(path, file)
    problem = path_problem(file)
    if problem == "not found":
        report.add(path, f"file {shown!r} not found (looked for {file})")
        return
    if problem is not None:
        report.add(path, f"file {shown!r}: {problem}")
        return
    if wav:
        try:
            info = soundfile.info(str(file))
        except (RuntimeError, soundfile.LibsndfileError) as exc:
            report.add(path, f"{shown!r} is not a readable audio file: {exc}")
            return
        if info.frames == 0:
            report.add(path, f"{shown!r} holds no audio")


def _check_voice(report: _Report, path: FieldPath, voice: CallerVoice) -> None:
    engine = voice.engine_name
    try:
        if engine == "kokoro":
            kokoro_voice(voice.voice)
        elif engine == "espeak":
            resolve_voice(voice.voice)
        elif not voice.voice.strip():
            raise InputError("the openai engine needs a voice name")
    except InputError as exc:
        hint = "" if "harness voices" in exc.message else " (`harness voices` lists the voices)"
        report.add(path, exc.message + hint)


def _check_openai_fields(report: _Report, at: FieldPath, voices: list[CallerVoice]) -> None:
    """``model`` and ``instructions`` only where every voice speaks with the openai engine."""
    engines = sorted({v.engine_name for v in voices} - {"openai"})
    for name in ("model", "instructions"):
        if engines and getattr(voices[0], name) is not None:
            report.add((*at, name), f"only the openai engine takes {name} (this caller speaks "
                                    f"with {', '.join(engines)})")


def _check_caller(report: _Report, scenario: Scenario) -> None:
    caller = scenario.caller
    spoken = [caller.for_trial(k) for k in range(len(caller.voices or [None]))]
    for k, voice in enumerate(spoken):
        _check_voice(report, ("caller", "voices", k) if caller.voices else ("caller", "voice"),
                     voice)
    _check_openai_fields(report, ("caller",), spoken)


def _check_turns(report: _Report, scenario: Scenario) -> None:
    from harness.spoken import find_readbacks, normalize_value, spoken_to_compact  # noqa: PLC0415
    from harness.spoken.dates import says_date  # noqa: PLC0415

    for i, turn in enumerate(scenario.turns):
        at: FieldPath = ("turns", i)
        cut = turn.cut_off
        if cut is not None and isinstance(turn.say, list):
            report.add((*at, "cut_off"), "cut_off applies to a plain say text, not to a say "
                                         "with pauses; split the turn and cut the last part")
        elif cut is not None and cut.after_text is not None:
            text = turn.spoken_text
            if text is None:
                report.add((*at, "cut_off", "after_text"),
                           "after_text needs the clip's words: give the turn a `text`")
            else:
                prefix, whole = _words(cut.after_text), _words(text)
                if not prefix:
                    report.add((*at, "cut_off", "after_text"), "after_text has no words")
                elif whole[:len(prefix)] != prefix:
                    where = ("is not at the start of" if " ".join(prefix) in " ".join(whole)
                             else "is not in")
                    report.add((*at, "cut_off", "after_text"),
                               f"{cut.after_text!r} {where} the turn's text {text!r}; "
                               "after_text is the part the caller gets to say")
                elif len(prefix) == len(whole):
                    report.add((*at, "cut_off", "after_text"),
                               f"{cut.after_text!r} is the whole text; nothing would be cut off")

        if turn.barge_in is not None:
            prev = scenario.turns[i - 1] if i > 0 else None
            if prev is None:
                report.add((*at, "barge_in"),
                           "the first turn has no agent reply to interrupt")
            elif not prev.addressed:
                report.add((*at, "barge_in"),
                           f"the turn before is a {prev.kind} turn, so the agent has no reply "
                           "to interrupt; barge_in needs a say or audio turn before it")

        for label, value in (turn.entity or {}).items():
            compact = normalize_value(value)
            if not compact:
                report.add((*at, "entity", label),
                           f"{value!r} has no value once normalised (digits, letters, separators)")
                continue
            text = turn.spoken_text
            if cut is None and text is not None and compact not in find_readbacks(text) \
                    and compact not in spoken_to_compact(text) and not says_date(text, value):
                report.add((*at, "entity", label),
                           f"{value!r} is not what the turn says ({text!r} gives "
                           f"{', '.join(find_readbacks(text)) or 'no value'})")

        _check_file(report, (*at, "audio"), turn.audio, wav=True)
        if turn.play is not None:
            _check_file(report, (*at, "play", "file"), turn.play.file, wav=True)
        if turn.noise is not None and turn.noise != "none":
            _check_file(report, (*at, "noise", "file"), turn.noise.file, wav=True)
        if turn.voice is not None and turn.voice.model_fields_set & {"voice", "engine", "model",
                                                                     "instructions"}:
            _check_voice(report, (*at, "voice", "voice"), scenario.voice_of(turn))
            _check_openai_fields(report, (*at, "voice"), [scenario.voice_of(turn)])


def _tool_names(agent: AgentConfig) -> str:
    return ", ".join(t.name for t in agent.tools) or "none"


def _check_tool(report: _Report, agent: AgentConfig, path: FieldPath,
                name: str | None) -> ToolSpec | None:
    if name is None:
        return None
    tool = agent.tool(name)
    if tool is None:
        report.add(path, f"{name!r} is not a tool of agent {agent.name!r} "
                         f"(tools: {_tool_names(agent)})")
    return tool


def _check_arguments(report: _Report, path: FieldPath, tool: ToolSpec | None,
                     names: str | Sequence[str] | dict[str, Any] | None) -> None:
    """Argument names exist on the tool; a list's errors point at the item, a mapping's at the
    key."""
    if tool is None or not names:
        return
    if isinstance(names, str):
        items = [(path, names, False)]
    elif isinstance(names, dict):
        items = [((*path, n), n, True) for n in names]
    else:
        items = [((*path, j), n, False) for j, n in enumerate(names)]
    known = list(tool.parameters.get("properties", {}))
    for where, name, key in items:
        if name not in known:
            report.add(where, f"{tool.name!r} has no argument {name!r} "
                              f"(arguments: {', '.join(known) or 'none'})", key=key)


def _check_turn_indexes(report: _Report, scenario: Scenario, path: FieldPath,
                        turns: Sequence[int] | int | None, *, addressed: bool) -> None:
    """Turn numbers (1 = the first turn) exist (and, when ``addressed``, are say/audio turns).
    A list is checked item by item, each error pointing at its item."""
    items = [(path, turns)] if isinstance(turns, int) else [
        ((*path, j), n) for j, n in enumerate(turns or [])]
    for where, n in items:
        if not 1 <= n <= len(scenario.turns) and scenario.persona is not None:
            report.add(where, f"turn {n} is not a scripted turn: a persona's lines are not "
                              "known before the call, so only its scripted turns (1-"
                              f"{len(scenario.turns)}) can be named; grade the persona's calls "
                              "over all turns, or by its goal (goal_met)")
        elif not 1 <= n <= len(scenario.turns):
            report.add(where, f"turn {n} does not exist (turns are numbered 1-"
                              f"{len(scenario.turns)}, 1 being the first)")
        elif addressed and not scenario.turns[n - 1].addressed:
            report.add(where, f"turn {n} is a {scenario.turns[n - 1].kind} turn; only say and "
                              "audio turns get answers")


class _ExpectationCheck:
    """What an expectation's parameter model checks through (``ExpectationParams.check``):
    errors located under ``expect[i].<kind>``."""

    def __init__(self, report: _Report, scenario: Scenario, agent: AgentConfig | None,
                 at: FieldPath):
        self._report = report
        self._at = at
        self.scenario = scenario
        self.agent = agent

    def error(self, message: str, *keys: str | int, key: bool = False) -> None:
        self._report.add((*self._at, *keys), message, key=key)

    def tool(self, name: str | None, *keys: str | int) -> ToolSpec | None:
        if self.agent is None:
            return None
        return _check_tool(self._report, self.agent, (*self._at, *keys), name)

    def arguments(self, tool: ToolSpec | None, names: str | Sequence[str] | dict[str, Any] | None,
                  *keys: str | int) -> None:
        _check_arguments(self._report, (*self._at, *keys), tool, names)

    def turns(self, turns: int | Sequence[int] | None, *keys: str | int,
              addressed: bool) -> None:
        _check_turn_indexes(self._report, self.scenario, (*self._at, *keys), turns,
                            addressed=addressed)


def _check_expectations(report: _Report, scenario: Scenario, agent: AgentConfig | None) -> None:
    for i, exp in enumerate(scenario.expect):
        exp.params.check(_ExpectationCheck(report, scenario, agent, ("expect", i, exp.kind)))


def check_scenario(scenario: Scenario, agent: AgentConfig | None, positions: Positions,
                   written: dict[FieldPath, str]) -> list[InputError]:
    """Every cross-field and cross-file problem of a validated scenario."""
    report = _Report(positions, written)
    _check_caller(report, scenario)
    if scenario.noise is not None:
        _check_file(report, ("noise", "file"), scenario.noise.file, wav=True)
    _check_turns(report, scenario)
    if agent is not None:
        for name in scenario.tools:
            if agent.tool(name) is None:
                report.add(("tools", name), f"{name!r} is not a tool of agent {agent.name!r} "
                                            f"(tools: {_tool_names(agent)})", key=True)
    _check_expectations(report, scenario, agent)
    return report.errors


# The profiles that ship with the local reference agent, by name.
BUILTIN_PROFILES_DIR = Path(__file__).resolve().parents[1] / "agent" / "profiles"


def is_profile_file(value: str) -> bool:
    """Whether a ``local_profile`` value names a file (else a built-in profile's name)."""
    return "/" in value or os.sep in value or value.endswith((".yaml", ".yml"))


def builtin_profile_problem(name: str) -> str | None:
    """Why ``name`` is not a built-in profile of the local agent (None when it is one)."""
    if path_problem(BUILTIN_PROFILES_DIR / f"{name}.yaml") is None:
        return None
    known = ", ".join(sorted(p.stem for p in BUILTIN_PROFILES_DIR.glob("*.yaml")))
    return f"unknown agent profile {name!r}; expected a YAML file or one of: {known}"


def check_agent_files(config: AgentConfig, positions: Positions,
                      written: dict[FieldPath, str]) -> list[InputError]:
    """The agent config's instructions file exists and is readable text; its ``local_profile``
    file exists, or names a built-in profile."""
    report = _Report(positions, written)
    profile = config.local_profile
    if is_profile_file(profile):
        _check_file(report, ("local_profile",), Path(profile), wav=False)
    elif (problem := builtin_profile_problem(profile)) is not None:
        report.add(("local_profile",), problem.replace(
            "a YAML file", "a YAML file (relative to this agent config)"))
    path = config.instructions_file
    if path is not None:
        _check_file(report, ("instructions_file",), path, wav=False)
        if not report.errors:
            try:
                path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                report.add(("instructions_file",), f"cannot read the instructions: {exc}")
    return report.errors
