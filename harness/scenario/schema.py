"""JSON Schemas of scenario and agent files (for editors) and the Markdown format reference."""

from __future__ import annotations

import json
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from pydantic_core import PydanticUndefined

from harness.scenario._errors import LOADER_FIELDS
from harness.scenario.kinds import ExpectationParams, expectation_kinds
from harness.scenario.models import (
    AgentConfig,
    BargeIn,
    Caller,
    CallerVoice,
    CutOff,
    Expectation,
    InputTranscription,
    NoiseSpec,
    Pause,
    Play,
    Scenario,
    ToolResult,
    ToolSequence,
    ToolSpec,
    Turn,
    TurnDetection,
)

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
SchemaKind = Literal["scenario", "agent"]


def _reachable(schema: dict, defs: dict) -> set[str]:
    """Names of the ``$defs`` entries a schema refers to, directly or through other defs."""
    found: set[str] = set()
    todo: list[Any] = [schema]
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                name = ref.removeprefix("#/$defs/")
                if name not in found:
                    found.add(name)
                    todo.append(defs[name])
            todo.extend(v for k, v in node.items() if k != "$defs")
        elif isinstance(node, list):
            todo.extend(node)
    return found


def _expectation_schema() -> dict:
    """``expect`` items as users write them: ``{kind: params}``, a bare kind whose parameters
    all have defaults, or a scalar for a kind's shorthand field (``escalation: forbidden``)."""
    variants: list[dict] = []
    bare: list[str] = []
    kinds = expectation_kinds()
    for kind, entry in kinds.items():
        model = entry.params_model
        ref: dict = {"$ref": f"#/$defs/{model.__name__}"}
        value: dict = ref
        if model.shorthand is not None:
            field = model.model_json_schema()["properties"][model.shorthand]
            value = {"anyOf": [ref, {k: v for k, v in field.items() if k != "title"}]}
        elif entry.takes_no_params():
            value = {"anyOf": [ref, {"type": "null"}]}
            bare.append(kind)
        variants.append({"type": "object", "properties": {kind: value}, "required": [kind],
                         "additionalProperties": False,
                         "description": (model.__doc__ or "").strip()})
    if bare:
        variants.append({"enum": bare, "description": "a kind with default parameters"})
    variants.append({"type": "object", "additionalProperties": False,
                     "required": ["kind", "params"],
                     "properties": {"kind": {"enum": list(kinds)},
                                    "params": {"type": "object"}}})
    return {"description": "One expectation: {kind: parameters}, e.g. {latency: {max_ms: 1500}}",
            "anyOf": variants}


def json_schema(kind: SchemaKind = "scenario") -> dict:
    """The JSON Schema of scenario files (``kind="scenario"``) or agent configs (``"agent"``)."""
    if kind == "agent":
        schema = AgentConfig.model_json_schema()
        return {"$schema": JSON_SCHEMA_DIALECT, **schema}
    if kind != "scenario":
        raise ValueError(f"unknown schema kind {kind!r}")
    _, combined = models_json_schema(
        [(Scenario, "validation"),
         *((k.params_model, "validation") for k in expectation_kinds().values())],
        ref_template="#/$defs/{model}")
    defs = combined["$defs"]
    root = dict(defs.pop("Scenario"))
    root["properties"] = {k: v for k, v in root["properties"].items()
                          if k not in LOADER_FIELDS[Scenario]}
    defs["Expectation"] = _expectation_schema()
    keep = _reachable(root, defs)
    return {"$schema": JSON_SCHEMA_DIALECT, **root,
            "$defs": {k: v for k, v in sorted(defs.items()) if k in keep}}


def schema_text(kind: SchemaKind = "scenario") -> str:
    """The schema as the committed ``schemas/*.schema.json`` files hold it."""
    return json.dumps(json_schema(kind), indent=2, ensure_ascii=False) + "\n"


def write_schema(kind: SchemaKind, path: str | Path) -> None:
    """Write :func:`schema_text` to ``path``."""
    Path(path).write_text(schema_text(kind), encoding="utf-8")


# --------------------------------------------------------------------------- Markdown reference

_NAMES = {str: "string", int: "integer", float: "number", bool: "boolean", Path: "path",
          Any: "any JSON"}


def _type_text(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Annotated:
        return _type_text(get_args(tp)[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_type_text(a) for a in get_args(tp) if a is not type(None))
    if origin is Literal:
        return " or ".join(f"`{v}`" for v in get_args(tp))
    if origin is list:
        return f"list of ({_type_text(get_args(tp)[0])})"
    if origin is dict:
        return f"mapping of {_type_text(get_args(tp)[0])} → {_type_text(get_args(tp)[1])}"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp.__name__
    return _NAMES.get(tp, getattr(tp, "__name__", str(tp)))


def _default_text(field: Any) -> str:
    if field.is_required():
        return "required"
    value = field.default_factory() if field.default_factory is not None else field.default
    if value is None or value is PydanticUndefined:
        return ""
    if isinstance(value, BaseModel):
        return "its defaults"
    return f"`{json.dumps(value)}`"


def _limits_text(field: Any) -> str:
    """Bounds from ``Field(ge=..., le=..., min_length=...)``, e.g. `` (≥ 0, ≤ 60)``."""
    parts = []
    for meta in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                parts.append(f"{sign} {getattr(meta, attr):g}")
        if getattr(meta, "min_length", None):
            parts.append(f"at least {meta.min_length}")
        if getattr(meta, "pattern", None):
            parts.append(f"matching `{meta.pattern}`")
    return f" ({', '.join(parts)})" if parts else ""


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _model_table(model: type[BaseModel]) -> list[str]:
    rows = ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
    hidden = LOADER_FIELDS.get(model, ())
    for name, field in model.model_fields.items():
        if name in hidden:
            continue
        type_text = _type_text(field.annotation) + _limits_text(field)
        rows.append(f"| `{name}` | {_cell(type_text)} | "
                    f"{_cell(_default_text(field))} | {_cell(field.description or '')} |")
    return rows


def _models_in(tp: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's type mentions (``X | None``, ``list[X]``, ...)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for arg in get_args(tp) for m in _models_in(arg)]


def _model_section(title: str, model: type[BaseModel], level: int) -> list[str]:
    doc = _cell((model.__doc__ or "").strip())
    return ["", f"{'#' * level} {title}", "", *([doc, ""] if doc else []), *_model_table(model)]


def _sections(sections: list[tuple[str, type[BaseModel]]], level: int,
              documented: set[type[BaseModel]]) -> list[str]:
    """A section per model, each followed by one for every model its fields use that has none
    elsewhere (e.g. ``AnswerLimits`` under ``one_question``)."""
    out: list[str] = []
    documented.update(model for _, model in sections)
    for title, model in sections:
        out += _model_section(title, model, level)
        nested: dict[type[BaseModel], list[str]] = {}
        for name, field in model.model_fields.items():
            if name in LOADER_FIELDS.get(model, ()):
                continue
            for used in _models_in(field.annotation):
                if used not in documented and not issubclass(used, (Expectation,
                                                                      ExpectationParams)):
                    nested.setdefault(used, []).append(f"`{name}`")
        for used, names in nested.items():
            out += _sections([(f"{used.__name__} ({', '.join(names)})", used)], level + 1,
                             documented)
    return out


SCENARIO_SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("Scenario file (top level)", Scenario),
    ("Turn (an item of `turns`)", Turn),
    ("Caller (`caller`)", Caller),
    ("CallerVoice (a turn's `voice`)", CallerVoice),
    ("NoiseSpec (`noise`, a turn's `noise`)", NoiseSpec),
    ("Pause (an item of a `say` list)", Pause),
    ("CutOff (`cut_off`)", CutOff),
    ("BargeIn (`barge_in`)", BargeIn),
    ("Play (`play`)", Play),
    ("ToolResult (a mock answer under `tools`)", ToolResult),
    ("ToolSequence (`tools: {name: {sequence: [...]}}`)", ToolSequence),
]
"""The models of a scenario file, in the order the scenario reference documents them."""

AGENT_CONFIG_SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("AgentConfig (`agents/*.yaml`)", AgentConfig),
    ("ToolSpec (an item of an agent's `tools`)", ToolSpec),
    ("TurnDetection (an agent's `turn_detection`)", TurnDetection),
    ("InputTranscription (an agent's `input_transcription`)", InputTranscription),
]
"""The models of an agent config, in the order the agent-config reference documents them."""


def scenario_reference_markdown() -> str:
    """The scenario file reference of the docs (``docs/scenario-reference.md``), generated from
    the models and the expectation kinds' parameter models: a section per model and per kind."""
    out = [
        "Generated from `harness/scenario/models.py` and the expectation kinds' parameter models "
        "(`harness.scenario.scenario_reference_markdown()`); editors get the same information "
        "from `schemas/scenario.schema.json`. Unknown keys are errors everywhere. Paths are "
        "relative to the file that writes them.",
        "",
        "A turn does exactly one of `say`, `audio`, `silence_ms` or `play`, and starts by at "
        "most one of `barge_in`, `after_ms` or `when_agent_says` (default: after the agent "
        "finishes speaking plus `reaction_gap_ms`). A tool mock under `tools` is one "
        "ToolResult, a list of them (the first whose `when` matches the call's arguments "
        "answers), or a ToolSequence (the n-th call gets the n-th answer; the last repeats).",
    ]
    documented: set[type[BaseModel]] = {m for _, m in AGENT_CONFIG_SECTIONS}
    out += _sections(SCENARIO_SECTIONS, 2, documented)
    out += ["", "## Expectations (items of `expect`)", "",
            "Each item is `{kind: parameters}`; a kind whose parameters all have defaults may "
            "be written bare (`- no_response`), and `escalation` takes `required` or "
            "`forbidden` directly.", ""]
    for kind, entry in expectation_kinds().items():
        model = entry.params_model
        doc = _cell((model.__doc__ or "").strip())
        if model.model_fields:
            out += _sections([(f"`{kind}`", model)], 3, documented)[1:]
        else:
            out += [f"### `{kind}`", "", doc]
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def models_reference_markdown(sections: list[tuple[str, type[BaseModel]]], *, level: int = 2,
                              documented: Iterable[type[BaseModel]] = ()) -> str:
    """Markdown reference tables of other file formats' models (a comparison file's): a section
    per ``(title, model)`` at heading ``level``, then one per model a field uses that is neither
    listed nor in ``documented`` (models another page documents)."""
    return "\n".join(_sections(sections, level, set(documented))).strip() + "\n"


def agent_config_reference_markdown() -> str:
    """The agent config reference of the docs (``docs/agent-configs.md``, under its "Reference"
    heading), generated from the models: a section per model."""
    out = ["Generated from `harness/scenario/models.py` "
           "(`harness.scenario.agent_config_reference_markdown()`); editors get the same "
           "information from `schemas/agent.schema.json`. Unknown keys are errors everywhere. "
           "Paths are relative to the agent config."]
    out += _sections(AGENT_CONFIG_SECTIONS, 3, set())
    return "\n".join(out).rstrip() + "\n"
