"""Turns pydantic validation errors into ``file:line:col: field.path: message`` input errors.

pydantic reports one error per branch of a union (``say`` is a string *or* a list, a tool mock
is a sequence, one answer or a list of answers). Users wrote one thing, so for each union we keep
the branch that fits the shape they wrote and drop the others; when no branch fits, the branches'
expectations are merged into one message ("should be a valid string or a valid list").
"""

from __future__ import annotations

import difflib
import re
import types
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from harness.errors import InputError
from harness.scenario._yaml import FieldPath, Positions, format_path
from harness.scenario.kinds import kind_of
from harness.scenario.models import Expectation, Scenario

LOADER_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {Scenario: ("source", "agent_config")}
"""Model fields the loader sets; they are not keys a YAML file may write."""

_SHAPE_ERRORS = {
    "model_type", "model_attributes_type", "dict_type", "list_type", "string_type", "int_type",
    "float_type", "bool_type", "literal_error", "int_parsing", "float_parsing", "bool_parsing",
    "none_required", "is_instance_of", "path_type",
}
"""Error types meaning "this branch does not take a value of this shape at all"."""

_BUILTIN_TAGS = {"str", "int", "float", "bool", "none", "any"}
_MISSING = object()


def _is_tag(el: Any) -> bool:
    """Whether a loc element names a union branch rather than a key (keys are snake_case)."""
    return isinstance(el, str) and (
        "[" in el or el in _BUILTIN_TAGS or el[:1].isupper())


def _expect_loc(loc: tuple, data: Any) -> tuple:
    """Put the expectation kind into ``expect[i]`` locs (pydantic validates the params directly)."""
    if len(loc) < 2 or loc[0] != "expect" or not isinstance(loc[1], int):
        return loc
    items = data.get("expect") if isinstance(data, dict) else None
    if not isinstance(items, list) or loc[1] >= len(items) or len(loc) == 2:
        return loc
    item = items[loc[1]]
    if isinstance(item, dict) and set(item) == {"kind", "params"}:
        return (*loc[:2], "params", *loc[2:])
    if isinstance(item, dict) and len(item) == 1:
        return (*loc[:2], next(iter(item)), *loc[2:])
    return loc[:2]


def _child(data: Any, key: Any) -> Any:
    if isinstance(data, dict):
        return data.get(key, _MISSING)
    if isinstance(data, list) and isinstance(key, int) and 0 <= key < len(data):
        return data[key]
    return _MISSING


_Item = tuple[tuple, dict]  # (loc still to walk, pydantic error dict)


def _branch_fits(items: list[_Item]) -> bool:
    return not all(not rest and err["type"] in _SHAPE_ERRORS for rest, err in items)


def _select(items: list[_Item], data: Any, path: FieldPath,
            out: list[tuple[FieldPath, dict]]) -> None:
    """Walk errors down the data, keeping one union branch per union (see module doc)."""
    tagged: dict[str, list[_Item]] = {}
    by_key: dict[Any, list[_Item]] = {}
    for rest, err in items:
        if not rest:
            out.append((path, err))
        elif _is_tag(rest[0]) and not (isinstance(data, dict) and rest[0] in data):
            tagged.setdefault(rest[0], []).append((rest[1:], err))
        else:
            by_key.setdefault(rest[0], []).append((rest[1:], err))
    if tagged:
        fitting = {tag: group for tag, group in tagged.items() if _branch_fits(group)}
        if fitting:
            best = min(fitting.values(),
                       key=lambda g: (len(g), -max(len(rest) for rest, _ in g)))
            _select(best, data, path, out)
        else:
            wanted: list[str] = []
            for group in tagged.values():
                for _, err in group:
                    w = _friendly(err["msg"]).removeprefix("Input should be ")
                    if w not in wanted:
                        wanted.append(w)
            first = next(iter(tagged.values()))[0][1]
            out.append((path, {**first, "type": "union_shape",
                               "msg": "Input should be " + " or ".join(wanted)}))
    for key, group in by_key.items():
        child = _child(data, key)
        if child is _MISSING and not isinstance(data, dict):
            # Nothing to descend into (e.g. a string where a mapping was expected): the error
            # belongs to the value that was written.
            for _, err in group:
                out.append((path, err))
            continue
        _select(group, child, (*path, key), out)


def _unwrap(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _branch_matches(tp: Any, tag: str) -> bool:
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if tag.startswith("list["):
        return origin is list
    if tag.startswith("literal["):
        return origin is Literal
    # Model branches are tagged "Name" or, with an after-validator, "function-after[f(), Name]".
    return isinstance(tp, type) and (tag == tp.__name__ or tag.endswith(f", {tp.__name__}]"))


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """The model class reached by walking ``loc`` (keys, indexes and union tags) from ``root``."""
    tp: Any = root
    for el in loc:
        tp = _unwrap(tp)
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if _is_tag(el):
                tp = next((a for a in args if _branch_matches(a, el)), None)
                continue
            models = [a for a in map(_unwrap, args)
                      if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if len(models) == 1 else None
            tp = _unwrap(tp)
            origin = get_origin(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp is Expectation:
                entry = kind_of(el) if isinstance(el, str) else None
                tp = entry.params_model if entry is not None else None
            elif el in tp.model_fields:
                tp = tp.model_fields[el].annotation
            else:
                return None
        elif origin is list and isinstance(el, int):
            tp = get_args(tp)[0]
        elif origin is dict and isinstance(el, str):
            tp = get_args(tp)[1]
        elif _is_tag(el):
            continue
        else:
            return None
        if tp is None:
            return None
    tp = _unwrap(tp)
    if get_origin(tp) in (Union, types.UnionType):
        models = [a for a in map(_unwrap, get_args(tp))
                  if isinstance(a, type) and issubclass(a, BaseModel)]
        tp = models[0] if len(models) == 1 else None
    return tp if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    """Keys a YAML mapping of ``model`` may use."""
    hidden = LOADER_FIELDS.get(model, ())
    return [name for name in model.model_fields if name not in hidden]


def unknown_key_message(key: str, allowed: list[str]) -> str:
    """``unknown key; did you mean 'x'? (expected one of: ...)``."""
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"unknown key{hint} (expected one of: {', '.join(allowed)})"


def _friendly(msg: str) -> str:
    msg = msg.removeprefix("Value error, ")
    msg = re.sub(r"a valid dictionary or instance of \w+", "a mapping", msg)
    msg = msg.replace("a valid dictionary", "a mapping")
    return msg


def _message(err: dict, root: type[BaseModel], loc: tuple) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        model = _model_at(root, loc[:-1])
        if model is not None:
            return unknown_key_message(str(loc[-1]), allowed_keys(model))
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    msg = _friendly(err["msg"])
    value = err.get("input")
    if kind in _SHAPE_ERRORS or kind in ("union_shape", "string_pattern_mismatch"):
        if isinstance(value, (str, int, float, bool)) or value is None:
            msg += f" (got {value!r})"
        elif isinstance(value, (dict, list)):
            msg += f" (got a {'mapping' if isinstance(value, dict) else 'list'})"
    return msg


def validation_errors(exc: ValidationError, data: Any, positions: Positions,
                      root: type[BaseModel]) -> list[InputError]:
    """One InputError per problem the user wrote, located at the value (or key) in the file."""
    items: list[_Item] = []
    for err in exc.errors(include_url=False):
        loc = _expect_loc(tuple(err["loc"]), data) if root is Scenario else tuple(err["loc"])
        err = {**err, "loc": loc}
        items.append((loc, err))
    selected: list[tuple[FieldPath, dict]] = []
    _select(items, data, (), selected)
    out: list[InputError] = []
    seen: set[tuple[str, str]] = set()
    for path, err in selected:
        key_error = err["type"] == "extra_forbidden"
        mark = positions.find(path, key=key_error)
        message = _message(err, root, err["loc"])
        field = format_path(path) or None
        if (field or "", message) in seen:
            continue
        seen.add((field or "", message))
        out.append(InputError(message, location=str(mark) if mark else None, field=field))
    return out
