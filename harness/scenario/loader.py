"""Loading and validating scenario and agent-config YAML files, with every error located.

Every problem found in a file is reported at once, each as
``file:line:col: field.path: message`` (an :class:`~harness.errors.InputErrors`).

``extends``: a scenario may name a defaults file. The defaults are merged under the scenario:
the scenario's keys win; ``caller`` and ``tools`` are merged key by key (a scenario may override
one tool's mock and keep the others). Relative paths are resolved against the file that wrote
them, and the loader stores every file path as an absolute path on the models.
"""

from __future__ import annotations

import copy
import functools
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from harness.errors import InputError, InputErrors
from harness.scenario._checks import check_agent_files, check_scenario, is_profile_file
from harness.scenario._errors import (
    LOADER_FIELDS,
    allowed_keys,
    unknown_key_message,
    validation_errors,
)
from harness.scenario._yaml import (
    Document,
    FieldPath,
    Positions,
    format_path,
    load_yaml,
    parse_yaml,
    path_problem,
)
from harness.scenario.models import AgentConfig, Scenario

T = TypeVar("T")

MERGED_KEY_BY_KEY = ("caller", "tools")
"""Mappings merged key by key under ``extends``; any other key of the scenario replaces the
default's value whole."""

SCENARIO_PATH_FIELDS: tuple[FieldPath, ...] = (
    ("agent",), ("extends",), ("noise", "file"),
)
TURN_PATH_FIELDS: tuple[FieldPath, ...] = (("audio",), ("play", "file"), ("noise", "file"))


def _display(path: Path) -> str:
    """How a file is named in messages: as the user gave it."""
    return os.path.normpath(str(path))


def _get(data: Any, path: FieldPath) -> Any:
    for part in path:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


def _set(data: Any, path: FieldPath, value: Any) -> None:
    _get(data, path[:-1])[path[-1]] = value


def _path_fields(data: Any) -> list[FieldPath]:
    """Field paths in scenario data that hold file paths (only where a string was written)."""
    out = [p for p in SCENARIO_PATH_FIELDS if isinstance(_get(data, p), str)]
    turns = data.get("turns") if isinstance(data, dict) else None
    if isinstance(turns, list):
        for i, _turn in enumerate(turns):
            out += [("turns", i, *p) for p in TURN_PATH_FIELDS
                    if isinstance(_get(data, ("turns", i, *p)), str)]
    return out


def _resolve_paths(data: Any, fields: Iterable[FieldPath], base: Path,
                   written: dict[FieldPath, str]) -> None:
    """Make the file paths at ``fields`` absolute against ``base``, remembering what was written."""
    for p in fields:
        value = _get(data, p)
        if isinstance(value, str) and value:
            written[p] = value
            _set(data, p, os.path.abspath(base / os.path.expanduser(value)))


class _Source:
    """A file's data merged with its defaults, with positions and as-written paths."""

    def __init__(self, doc: Document, path: Path):
        self.data = doc.data
        self.positions = doc.positions
        self.path = path
        self.file = doc.file
        self.written: dict[FieldPath, str] = {}


def _read_mapping(path: Path, display: str, what: str) -> Document:
    doc = load_yaml(path, display)
    if not isinstance(doc.data, dict):
        got = "an empty file" if doc.data is None else f"a {type(doc.data).__name__}"
        raise InputError(f"expected a mapping ({what}), got {got}",
                         location=str(doc.positions.find(())))
    return doc


def _load_source(path: Path, display: str, chain: tuple[Path, ...] = ()) -> _Source:
    doc = _read_mapping(path, display, "a scenario with name, turns and expect")
    src = _Source(doc, path)
    _resolve_paths(src.data, _path_fields(src.data), path.parent, src.written)
    extends = src.data.get("extends")
    if extends is None:
        return src
    where = str(src.positions.find(("extends",)))
    if not isinstance(extends, str) or not extends.strip():
        raise InputError("expected a path to a defaults file", location=where, field="extends")
    written = src.written[("extends",)]
    problem = path_problem(extends)
    if problem is not None:
        what = " not found" if problem == "not found" else f": {problem}"
        raise InputError(f"defaults file {written!r}{what}", location=where, field="extends")
    defaults_path = Path(extends)
    chain = (*chain, path.resolve())
    if defaults_path.resolve() in chain:
        raise InputError("extends loops back to a file already being extended",
                         location=where, field="extends")
    base_display = os.path.normpath(os.path.join(os.path.dirname(display), written))
    return _merge(_load_source(defaults_path, base_display, chain), src)


def _merge(base: _Source, top: _Source) -> _Source:
    """``top`` over ``base`` (see the module doc), positions following the winning values."""
    merged = _Source.__new__(_Source)
    merged.path, merged.file = top.path, top.file
    merged.data = {k: v for k, v in base.data.items() if k != "extends"}
    merged.positions = Positions()
    merged.positions.copy_subtree(base.positions, ())
    merged.positions.values[()] = top.positions.values[()]
    for key, value in top.data.items():
        if key in MERGED_KEY_BY_KEY and isinstance(value, dict) \
                and isinstance(merged.data.get(key), dict):
            merged.data[key] = {**merged.data[key], **value}
            for sub in value:
                merged.positions.copy_subtree(top.positions, (key, sub))
            merged.positions.values[(key,)] = top.positions.values[(key,)]
            merged.positions.keys[(key,)] = top.positions.keys[(key,)]
        else:
            merged.data[key] = value
            merged.positions.copy_subtree(top.positions, (key,))
    # The key-by-key merged mappings hold no file paths, so a written path belongs to whichever
    # file supplied its top-level key.
    merged.written = {p: w for p, w in base.written.items()
                      if p[0] not in top.data and p[0] != "extends"}
    merged.written.update(top.written)
    return merged


def _validate(model: type[BaseModel], data: dict, positions: Positions) -> tuple[Any, list]:
    errors: list[InputError] = []
    for hidden in LOADER_FIELDS.get(model, ()):
        if hidden in data:
            data = {k: v for k, v in data.items() if k != hidden}
            errors.append(InputError(unknown_key_message(hidden, allowed_keys(model)),
                                     location=str(positions.find((hidden,), key=True)),
                                     field=hidden))
    try:
        return model.model_validate(data), errors
    except ValidationError as exc:
        return None, errors + validation_errors(exc, data, positions, model)


def _one_or_many(load: Callable[[Path], T]) -> Callable[[str | Path], T]:
    """Public loaders raise InputErrors only, even when a file stops at its first problem."""

    @functools.wraps(load)
    def wrapper(path: str | Path) -> T:
        try:
            return load(Path(path))
        except InputError as exc:
            raise InputErrors([exc]) from None

    return wrapper


M = TypeVar("M", bound=BaseModel)


def load_yaml_model(path: str | Path, model: type[M], *, what: str) -> M:
    """Read one YAML file into ``model`` the way scenarios are read: YAML 1.2 scalars (only
    ``true``/``false`` are booleans), duplicate keys refused, and every problem of the file
    reported at once as ``file:line:col: field: message``.

    ``what`` names the expected content in the message for a file that is not a mapping
    (``"an agent profile"``). Raises :class:`InputErrors`.
    """
    path = Path(path)
    try:
        doc = _read_mapping(path, _display(path), what)
    except InputError as exc:
        raise InputErrors([exc]) from None
    value, errors = _validate(model, doc.data, doc.positions)
    if value is None or errors:
        raise InputErrors(errors)
    return value


@_one_or_many
def load_agent_config(path: Path) -> AgentConfig:
    """Read and validate an agent config (``agents/*.yaml``).

    ``instructions_file`` is read relative to the YAML file; its text becomes ``instructions``
    (the path is kept, made absolute). A ``local_profile`` given as a file is made absolute
    against the YAML file too. Raises :class:`InputErrors` listing every problem.
    """
    doc = _read_mapping(path, _display(path), "an agent config")
    written: dict[FieldPath, str] = {}
    fields: list[FieldPath] = [("instructions_file",)] if isinstance(
        doc.data.get("instructions_file"), str) else []
    profile = doc.data.get("local_profile")
    if isinstance(profile, str) and is_profile_file(profile):
        fields.append(("local_profile",))
    _resolve_paths(doc.data, fields, path.parent, written)
    config, errors = _validate(AgentConfig, doc.data, doc.positions)
    if config is not None:
        errors += check_agent_files(config, doc.positions, written)
        if not errors and config.instructions_file is not None:
            text = config.instructions_file.read_text(encoding="utf-8")
            config = config.model_copy(update={"instructions": text})
    if errors:
        raise InputErrors(errors)
    if config.name is None:
        config = config.model_copy(update={"name": path.stem})
    return config


def merged_scenario_data(path: Path) -> dict[str, Any]:
    """A scenario file's data as written, merged with its defaults (``extends``), every file
    path absolute: what a copy of the scenario elsewhere needs (``harness vary``)."""
    return copy.deepcopy(_load_source(path, _display(path)).data)


@_one_or_many
def load_scenario(path: Path) -> Scenario:
    """Read, merge (``extends``) and validate one scenario file.

    The result carries ``source`` (the file) and ``agent_config`` (the loaded ``agent`` file, or
    ``None`` when the scenario names none). Raises :class:`InputErrors` listing every problem.
    """
    src = _load_source(path, _display(path))
    scenario, errors = _validate(Scenario, src.data, src.positions)
    if scenario is None:
        raise InputErrors(errors)
    agent_config = None
    if scenario.agent is not None:
        agent_path = scenario.agent
        where = str(src.positions.find(("agent",)))
        problem = path_problem(agent_path)
        if problem is not None:
            what = " not found" if problem == "not found" else f": {problem}"
            errors.append(InputError(f"agent config {src.written.get(('agent',))!r}{what}",
                                     location=where, field="agent"))
        else:
            try:
                agent_config = load_agent_config(agent_path)
            except InputErrors as exc:
                # Reported where they are: in the agent file.
                errors += exc.errors
    errors += check_scenario(scenario, agent_config, src.positions, src.written)
    if errors:
        raise InputErrors(errors)
    return scenario.model_copy(update={"source": path.resolve(), "agent_config": agent_config})


def is_scenario_file(path: str | Path) -> bool:
    """Whether a YAML file is a scenario: a mapping with ``expect`` and ``turns`` or ``persona``.

    Decided by content, so suites can hold agent configs and defaults next to scenarios. A file
    that does not parse counts when it has top-level ``turns:`` (or ``persona:``) and ``expect:``
    lines, so a broken scenario is reported rather than skipped.
    """
    path = Path(path)
    if path.suffix not in (".yaml", ".yml") or path_problem(path) is not None:
        return False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        data = parse_yaml(text, str(path))
    except InputError:
        return bool(re.search(r"^expect\s*:", text, re.M)
                    and re.search(r"^(turns|persona)\s*:", text, re.M))
    return isinstance(data, dict) and "expect" in data and ("turns" in data or "persona" in data)


def scenario_files(paths: Iterable[str | Path]) -> list[Path]:
    """The scenario files named by ``paths``: files as given; folders scanned recursively for
    ``*.yaml``/``*.yml`` scenarios, skipping ``_``-prefixed (defaults) files."""
    out: list[Path] = []
    for p in map(Path, paths):
        problem = path_problem(p)
        if problem is not None and problem != "is a folder, not a file":
            raise InputError("no such file or folder" if problem == "not found" else problem,
                             location=_display(p))
        if problem is not None:
            found = sorted(f for f in p.rglob("*.y*ml")
                           if not f.name.startswith("_") and is_scenario_file(f))
            if not found:
                raise InputError("no scenario files (YAML with turns and expect) in this folder",
                                 location=_display(p))
            out += found
        else:
            out.append(p)
    return out


def load_suite(paths: Iterable[str | Path]) -> list[Scenario]:
    """Load every scenario named by ``paths`` (files or folders, see :func:`scenario_files`).

    Checks that names are unique in the suite. Raises :class:`InputErrors` listing every problem
    of every file.
    """
    errors: list[InputError] = []
    scenarios: list[Scenario] = []
    files = scenario_files(paths)
    seen: dict[str, Path] = {}
    for f in dict.fromkeys(p.resolve() for p in files):
        display_path = next(p for p in files if p.resolve() == f)
        try:
            scenario = load_scenario(display_path)
        except InputErrors as exc:
            errors += exc.errors
            continue
        if scenario.name in seen:
            doc = load_yaml(display_path, _display(display_path))
            errors.append(InputError(
                f"name {scenario.name!r} is also used by {_display(seen[scenario.name])}; "
                "names are unique in a suite",
                location=str(doc.positions.find(("name",))), field="name"))
            continue
        seen[scenario.name] = display_path
        scenarios.append(scenario)
    if errors:
        raise InputErrors(errors)
    return scenarios


def _is_agent_config_file(path: Path) -> bool:
    """Whether a YAML file that is not a scenario looks like an agent config (by its keys)."""
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, InputError):
        return False
    return isinstance(data, dict) and bool(data) and set(data) <= set(AgentConfig.model_fields)


def validate_paths(paths: Iterable[str | Path]) -> list[str]:
    """Validate scenario files, folders of scenarios and agent configs named directly.

    Returns one line per valid file (``scenario order-status (scenarios/order-status.yaml)``);
    raises :class:`InputErrors` with every problem of every file.
    """
    paths = [Path(p) for p in paths]
    agent_files = [p for p in paths if path_problem(p) is None and not is_scenario_file(p)
                   and _is_agent_config_file(p)]
    errors: list[InputError] = []
    done: list[str] = []
    for p in agent_files:
        try:
            config = load_agent_config(p)
            done.append(f"agent config {config.name} ({_display(p)})")
        except InputErrors as exc:
            errors += exc.errors
    rest = [p for p in paths if p not in agent_files]
    if rest:
        try:
            done += [f"scenario {s.name} ({_display(Path(os.path.relpath(s.source)))})"
                     for s in load_suite(rest)]
        except InputErrors as exc:
            errors += exc.errors
        except InputError as exc:
            errors.append(exc)
    if errors:
        raise InputErrors(errors)
    return done


__all__ = [
    "format_path",
    "is_scenario_file",
    "load_agent_config",
    "load_scenario",
    "load_suite",
    "scenario_files",
    "validate_paths",
]


def locate(path: str | Path, field_path: tuple[str | int, ...]) -> tuple[int, int]:
    """(line, column), 1-based, of a field in a YAML file — e.g. ``("expect", 2)`` — for
    pointing users at the entry a result concerns; ``(1, 1)`` when it cannot be found."""
    try:
        mark = load_yaml(Path(path)).positions.find(tuple(field_path))
    except (InputError, OSError):
        return (1, 1)
    return (mark.line, mark.col) if mark is not None else (1, 1)
