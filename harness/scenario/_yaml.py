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


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 scalars: only true/false are booleans (``say: no`` stays a
    string) and dates stay strings (tool mocks are sent as JSON)."""


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
        # Constructing first flattens merge keys (<<) in the node tree, so the walk below
        # sees the same mappings as the data.
        data = loader.construct_document(node) if node is not None else None
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
