"""Generated input files for the loaders: scenario files, agent configs and agent profiles.

Documents start from valid ones (the example suite's shapes) and are bent: values swapped for
values of other types, keys added and dropped, file paths the operating system refuses, odd
``extends`` values, and the YAML text itself cut or garbled. ``check_*`` load one document and
return the traceback text when the loader failed with anything but the harness's own located
user error, so the pytest test and ``bench/fuzz.py`` judge a case the same way.

Hostile documents (files from pull requests) are valid ones with one value swapped for a
recursive alias or a nested-alias bomb; ``check_hostile`` wants the loader's refusal of exactly
that, located, within a second.
"""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from harness.errors import InputError, InputErrors

ROOT = Path(__file__).resolve().parents[1]
AGENT_FILE = ROOT / "agents" / "support.yaml"
PROFILE_FILE = ROOT / "harness" / "agent" / "profiles" / "support_desk.yaml"

ODD_PATHS = ["", " ", ".", "..", "/", "/dev/null", "/proc", "\x00", "a\x00b.yaml", "a" * 300,
             "a/" * 3000, "~", "~nobody/x.yaml", "does/not/exist.yaml", "\n", "*.yaml",
             "file:///etc/passwd", "C:\\scenarios\\x.yaml", "é/ü.yaml"]
"""Paths a user might write by mistake, and paths the system refuses."""

SCENARIO = {
    "name": "fuzzed",
    "agent": str(AGENT_FILE),
    "description": "generated",
    "tags": ["a"],
    "caller": {"voice": "en-us", "words_per_minute": 165},
    "noise": {"kind": "pink", "snr_db": 30, "seed": 1},
    "reaction_gap_ms": 700,
    "idle_timeout_ms": 5000,
    "max_duration_s": 60,
    "turns": [
        {"say": "Hi, I want to check my order."},
        {"say": ["It's eight, three,", {"pause_ms": 800}, "five, two, one."],
         "entity": {"order_id": "83521"}},
        {"say": "Eight, three, five.", "cut_off": {"after_text": "Eight, three,"}},
        {"silence_ms": 2000},
        {"play": {"noise": "hold_music", "ms": 1000}},
        {"say": "Can I cancel it?"},
        {"say": "Yes.", "intent": "affirm", "barge_in": {"at_agent_ms": 300}},
    ],
    "tools": {"lookup_order": {"returns": {"status": "shipped"}, "latency_ms": 100},
              "cancel_order": [{"when": {"order_id": "83521"}, "returns": {"ok": True}},
                               {"error": "not_found"}],
              "update_email": {"sequence": [{"returns": 1}, {"error": "x"}]}},
    "expect": [
        {"latency": {"max_ms": 1500}}, {"preamble": {"before_tool": "lookup_order"}},
        {"entity_confirmed": {"entity": "order_id"}}, "no_response",
        {"escalation": "forbidden"}, {"turn_answered": {"turns": [1, 2]}},
        {"tool_called": {"name": "lookup_order", "arguments": {"order_id": "83521"}}},
        {"transcript": {"must_say": ["shipped"]}}, {"input_heard": {"max_wer": 0.3}},
        {"confirmation_before_write": {"tool": "cancel_order"}}, {"dead_air": {"max_ms": 3000}},
        {"barge_in": {}}, {"no_tool_call": {"name": "cancel_order"}},
        {"speech_matches_transcript": {}},
    ],
}
"""A valid scenario using most of the format (the seed of the scenario documents)."""

AGENT = yaml.safe_load(AGENT_FILE.read_text(encoding="utf-8"))
AGENT["instructions_file"] = str(AGENT_FILE.parent / AGENT["instructions_file"])
PROFILE = yaml.safe_load(PROFILE_FILE.read_text(encoding="utf-8"))

_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's emitter when present: writing the documents is half of a case's time otherwise."""

_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-10**12, max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(ODD_PATHS), st.sampled_from(["say", "turns", "expect", "latency", "1e999",
                                                 "-1", "0", "null", "~", "yes", "no"]))
_junk = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.one_of(st.text(max_size=12), st.integers(), st.booleans()), inner,
                    max_size=4)), max_leaves=12)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a document."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc


def _delete(doc: Any, path: tuple[Any, ...]) -> Any:
    if not path:
        return doc
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    del parent[path[-1]]
    return doc


@st.composite
def bent(draw: st.DrawFn, seed: dict[str, Any], keys: list[str]) -> str:
    """YAML text of ``seed`` after a few random edits (and sometimes a garbled text)."""
    doc: Any = copy.deepcopy(seed)
    for _ in range(draw(st.integers(0, 4))):
        # The whole document replaced by one value is a single case; edits inside it are many.
        paths = _paths(doc)[1:] or [()]
        path = draw(st.sampled_from(paths))
        edit = draw(st.sampled_from(["replace", "replace", "delete", "add", "path"]))
        if edit == "replace":
            doc = _set(doc, path, draw(_junk))
        elif edit == "delete" and path:
            doc = _delete(doc, path)
        elif edit == "add":
            target = draw(st.sampled_from([p for p in paths
                                           if isinstance(_get(doc, p), dict)] or [()]))
            holder = _get(doc, target)
            if isinstance(holder, dict):
                holder[draw(st.one_of(st.sampled_from(keys), st.text(max_size=10)))] = draw(_junk)
        elif edit == "path":
            doc = _set(doc, path, draw(st.sampled_from(ODD_PATHS)))
    text = yaml.dump(doc, Dumper=_DUMPER, allow_unicode=True, sort_keys=False)
    garble = draw(st.sampled_from(["none", "none", "none", "cut", "insert"]))
    if garble == "cut" and text:
        text = text[: draw(st.integers(0, len(text)))]
    elif garble == "insert":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.text(max_size=8)) + text[at:]
    return text


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


SCENARIO_KEYS = [*SCENARIO, "extends", "say", "audio", "text", "when_agent_says", "after_ms",
                 "kind", "file", "pause_ms", "at_ms", "fraction", "sequence", "when", "returns"]
AGENT_KEYS = [*AGENT, "instructions", "write", "escalation", "parameters", "create_response"]
PROFILE_KEYS = [*PROFILE, "pattern", "rewrites", "kind", "prompt", "readback", "after_failures"]

scenario_texts = bent(SCENARIO, SCENARIO_KEYS)
agent_texts = bent(AGENT, AGENT_KEYS)
profile_texts = bent(PROFILE, PROFILE_KEYS)


def _located(exc: BaseException, file: Path) -> bool:
    """A harness user error whose every problem names where it is."""
    errors = exc.errors if isinstance(exc, InputErrors) else [exc]
    return all(isinstance(e, InputError) and bool(e.location) for e in errors)


def _judge(load: Any, file: Path) -> str | None:
    try:
        load(file)
    except (InputError, InputErrors) as exc:
        if _located(exc, file):
            return None
        return f"user error without a location: {exc}"
    except Exception:  # noqa: BLE001 - any other exception is what the fuzzing looks for
        return traceback.format_exc()
    return None


def check_scenario(text: str, folder: Path) -> str | None:
    """None when the scenario text loads or fails with located user errors, else a traceback."""
    from harness.scenario.loader import load_scenario  # noqa: PLC0415

    file = folder / "fuzzed.yaml"
    file.write_text(text, encoding="utf-8")
    return _judge(load_scenario, file)


def check_agent(text: str, folder: Path) -> str | None:
    """As :func:`check_scenario`, for an agent config."""
    from harness.scenario.loader import load_agent_config  # noqa: PLC0415

    file = folder / "agent.yaml"
    file.write_text(text, encoding="utf-8")
    return _judge(load_agent_config, file)


def check_profile(text: str, folder: Path) -> str | None:
    """As :func:`check_scenario`, for a dialogue profile of the local agent."""
    from harness.agent.policy import load_profile  # noqa: PLC0415

    file = folder / "profile.yaml"
    file.write_text(text, encoding="utf-8")
    return _judge(load_profile, file)


RECURSIVE_ALIASES = ("&x [1, *x]", "&x {a: *x}", "&x {a: [b, {c: *x}]}", "&x {a: 1, <<: *x}",
                     "&x [[[[*x]]]]")
"""Values that contain an alias of themselves, the shapes PyYAML builds as cyclic objects."""

RECURSIVE_MESSAGE = "recursive YAML alias"
BOMB_MESSAGE = "billion laughs"


def alias_bomb(levels: int = 9, width: int = 10) -> str:
    """A "billion laughs" as one flow value: level 0 holds ``width`` strings, each next level
    ``width`` aliases of the level before, so ~400 bytes stand for ``width ** levels`` strings."""
    parts = [f"&l0 [{','.join(['lol'] * width)}]"]
    parts += [f"&l{i} [{','.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return f"[{', '.join(parts)}]"


_PLACEHOLDER = "HOSTILE-VALUE-GOES-HERE"


@st.composite
def hostile(draw: st.DrawFn, seed: dict[str, Any], kind: str) -> str:
    """YAML text of ``seed`` with one value (anywhere) swapped for a recursive alias
    (``kind="recursive"``) or an alias bomb (``kind="bomb"``) beyond the loader's cap."""
    doc: Any = copy.deepcopy(seed)
    doc = _set(doc, draw(st.sampled_from(_paths(doc))), _PLACEHOLDER)
    if kind == "recursive":
        value = draw(st.sampled_from(RECURSIVE_ALIASES))
    else:
        # width ** levels from 15,625 to a billion: every one over the 10,000-value cap
        width = draw(st.integers(5, 10))
        value = alias_bomb(draw(st.integers(6, 9)), width)
    text = yaml.dump(doc, Dumper=_DUMPER, allow_unicode=True, sort_keys=False)
    return text.replace(_PLACEHOLDER, value, 1)


def _load_scenario(file: Path) -> Any:
    from harness.scenario.loader import load_scenario  # noqa: PLC0415

    return load_scenario(file)


def _load_agent(file: Path) -> Any:
    from harness.scenario.loader import load_agent_config  # noqa: PLC0415

    return load_agent_config(file)


def _load_profile(file: Path) -> Any:
    from harness.agent.policy import load_profile  # noqa: PLC0415

    return load_profile(file)


HOSTILE_LOADERS: dict[str, tuple[dict[str, Any], Callable[[Path], Any]]] = {
    "scenario": (SCENARIO, _load_scenario),
    "agent": (AGENT, _load_agent),
    "profile": (PROFILE, _load_profile),
}
"""Per kind of file: the valid document hostile ones start from, and its loader."""

HOSTILE_LIMIT_S = 1.0
"""A hostile file is refused within this time."""


def check_hostile(kind: str, text: str, folder: Path, message: str) -> tuple[str | None, float]:
    """Load a hostile document of one kind of file: (None when the loader refused it with a
    located error saying ``message`` within :data:`HOSTILE_LIMIT_S`, else what went wrong;
    the seconds the loader took)."""
    file = folder / f"hostile-{kind}.yaml"
    file.write_text(text, encoding="utf-8")
    load = HOSTILE_LOADERS[kind][1]
    started = time.perf_counter()
    try:
        load(file)
    except (InputError, InputErrors) as exc:
        elapsed = time.perf_counter() - started
        if not _located(exc, file):
            return f"user error without a location: {exc}", elapsed
        if message not in str(exc):
            return f"refused for another reason: {exc}", elapsed
        if elapsed > HOSTILE_LIMIT_S:
            return f"refused after {elapsed:.2f} s", elapsed
        return None, elapsed
    except Exception:  # noqa: BLE001 - any other exception is what the fuzzing looks for
        return traceback.format_exc(), time.perf_counter() - started
    return "loaded without a complaint", time.perf_counter() - started
