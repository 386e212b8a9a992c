"""YAML reading that keeps, for every value, the file, line and column it was written at."""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.errors import InputError, InputErrors

FieldPath = tuple[str | int, ...]
"""Where a value sits in a document: mapping keys and list indexes, e.g. ``("turns", 2, "say")``."""


@dataclass(frozen=True)
class Mark:
    """A position in a file (1-based line and column), printed as ``file:line:col``."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass
class Positions:
    """Where each field path of a document was written: the key's mark and the value's mark."""

    values: dict[FieldPath, Mark] = field(default_factory=dict)
    keys: dict[FieldPath, Mark] = field(default_factory=dict)

    def find(self, path: FieldPath, *, key: bool = False) -> Mark | None:
        """Mark of ``path`` (its key when ``key``), else of its nearest written ancestor."""
        if key and path in self.keys:
            return self.keys[path]
        for n in range(len(path), -1, -1):
            mark = self.values.get(path[:n])
            if mark is not None:
                return mark
        return None

    def copy_subtree(self, other: Positions, prefix: FieldPath) -> None:
        """Take ``other``'s marks for ``prefix`` and everything under it."""
        n = len(prefix)
        for src, dst in ((other.values, self.values), (other.keys, self.keys)):
            for path in [p for p in dst if p[:n] == prefix]:
                del dst[path]
            dst.update({p: m for p, m in src.items() if p[:n] == prefix})


MAX_ALIASED_VALUES = 10_000
"""Values that aliases may stand for in one file, counted as if every alias were written out.

Aliases nested in aliases grow exponentially (a "billion laughs": 400 bytes that stand for
hundreds of millions of values), and everything after the parser walks the expanded values."""

MAX_DEPTH = 100
"""Levels of nesting in one file: the composer and the walks after it recurse per level."""


class _Refused(yaml.composer.ComposerError):
    """A file the loader will not expand: a recursive alias, too many aliased values, or too deep
    nesting (a YAML error with a mark, so it is reported like a syntax error but in its words)."""

    def __init__(self, problem: str, mark: yaml.Mark):
        super().__init__(None, None, problem, mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars: only true/false are booleans (``say: no`` stays a
    string) and dates stay strings (tool mocks are sent as JSON); files come from pull requests,
    so recursive aliases, alias bombs and deep nesting are refused while composing, before any
    value is expanded."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, int] = {}
        """Per node (by id), the values it stands for with every alias in it written out."""
        self._aliased = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise _Refused(
                    f"recursive YAML alias: *{event.anchor} stands for a value that contains "
                    "it; expected an alias to a value written before it, not one it is part "
                    "of", event.start_mark)
            node = super().compose_node(parent, index)
            self._aliased += self._sizes[id(node)]
            if self._aliased > MAX_ALIASED_VALUES:
                raise _Refused(
                    "YAML aliases nested in aliases (a \"billion laughs\"): by here they "
                    f"stand for more than {MAX_ALIASED_VALUES:,} values; expected at most "
                    f"{MAX_ALIASED_VALUES:,} values written through aliases", event.start_mark)
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(f"YAML nested too deep: more than {MAX_DEPTH} levels; expected at "
                           f"most {MAX_DEPTH}", event.start_mark)
        if event.anchor is not None:
            self._open_anchors.add(event.anchor)
        node = super().compose_node(parent, index)
        self._open_anchors.discard(event.anchor)
        self._depth -= 1
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return node


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


@dataclass
class Document:
    """A parsed YAML file: its data and where each value was written."""

    data: Any
    positions: Positions
    file: str


def _mark(node: yaml.Node, file: str) -> Mark:
    return Mark(file, node.start_mark.line + 1, node.start_mark.column + 1)


def _walk(node: yaml.Node, path: FieldPath, file: str, out: Positions,
          errors: list[InputError]) -> None:
    out.values[path] = _mark(node, file)
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if key is None:
                continue
            child = (*path, key)
            if key in seen:
                errors.append(InputError("duplicate key (each key may appear once)",
                                         location=str(_mark(key_node, file)),
                                         field=format_path(child)))
            seen.add(key)
            out.keys[child] = _mark(key_node, file)
            _walk(value_node, child, file, out, errors)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), file, out, errors)


def path_problem(path: Path | str) -> str | None:
    """Why ``path`` cannot be read as a file, in words for the user; None when it can.

    Paths the operating system refuses (too long, a NUL character, a loop) are answered here, so
    no ``OSError`` or ``ValueError`` reaches the user."""
    text = os.fspath(path)
    if not text:
        return "the path is empty"
    if "\0" in text:
        return "the path contains a NUL character"
    try:
        mode = os.stat(text).st_mode
    except FileNotFoundError:
        return "not found"
    except NotADirectoryError:
        return "not found (a part of the path is a file, not a folder)"
    except (OSError, ValueError) as exc:
        return f"the system refuses this path: {getattr(exc, 'strerror', None) or exc}"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file"
    return None


def _compose(text: str, file: str) -> tuple[yaml.Node | None, Any]:
    """Parse YAML text into (node tree, data). Raises InputError with ``file:line:col``."""
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        what = (f"U+{exc.character:04X}" if isinstance(exc.character, int)
                else repr(exc.character))
        raise InputError(f"YAML cannot hold the character {what}: {exc.reason}",
                         location=f"{file}:{line}:{col}") from None
    try:
        node = loader.get_single_node()
        # Constructing first flattens merge keys (<<) in the node tree, so the walk that follows
        # sees the same mappings as the data.
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        mark = exc.problem_mark
        raise InputError(str(exc.problem),
                         location=f"{file}:{mark.line + 1}:{mark.column + 1}") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else file
        what = exc.problem or exc.context or "cannot parse"
        if exc.context and exc.problem:
            what += f" {exc.context}"
            if exc.context_mark is not None and exc.context_mark is not mark:
                what += (f" that starts at line {exc.context_mark.line + 1}, "
                         f"column {exc.context_mark.column + 1}")
        raise InputError(f"YAML syntax error: {what}", location=where) from None
    except yaml.YAMLError as exc:
        raise InputError(f"YAML error: {exc}", location=file) from None
    except (OverflowError, ValueError):
        # PyYAML's scanner turns an escape such as "\UFFFFFFFF" into chr() unchecked
        mark = loader.get_mark()
        raise InputError("YAML syntax error: an escape names no character (a \\x, \\u or "
                         "\\U code above U+10FFFF)",
                         location=f"{file}:{mark.line + 1}:{mark.column + 1}") from None
    finally:
        loader.dispose()
    return node, data


def parse_yaml(text: str, file: str) -> Any:
    """The data of YAML text, read as :func:`load_yaml` reads files (YAML 1.2 scalars; recursive
    aliases, alias bombs and deep nesting refused). ``file`` names the text in messages.

    Raises InputError with ``file:line:col``."""
    return _compose(text, file)[1]


def load_yaml(path: Path, display: str | None = None) -> Document:
    """Parse one YAML file, keeping positions. Raises InputError(s) with ``file:line:col``.

    ``display`` is how the file is named in messages (defaults to ``str(path)``).
    """
    file = display or str(path)
    problem = path_problem(path)
    if problem is not None:
        raise InputError("file not found" if problem == "not found" else problem, location=file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the file: {exc}", location=file) from None
    node, data = _compose(text, file)
    positions = Positions()
    errors: list[InputError] = []
    if node is not None:
        _walk(node, (), file, positions, errors)
    else:
        positions.values[()] = Mark(file, 1, 1)
    if errors:
        raise InputErrors(errors)
    return Document(data, positions, file)


def format_path(path: FieldPath) -> str:
    """``("turns", 2, "cut_off")`` → ``turns[2].cut_off``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
