"""What a comparison runs: its variants (agent config files or a base config with overrides).

A comparison file (``comparisons/*.yaml``) names the scenarios, a base agent config and two or
more variants; the first variant is the baseline every other one is compared with. The same
comparison can be given on the command line (``--variant NAME=FILE``, ``--set NAME.KEY=VALUE``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator

from harness.errors import InputError, InputErrors
from harness.scenario.models import (
    AgentConfig,
    AudioFormat,
    CallerVoice,
    Strict,
    ToolSpec,
    TurnDetection,
    audio_format_named,
)

DEFAULT_TRIALS = 5
VARIANT_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
OVERRIDE_KEYS = ("instructions", "instructions_file", "model", "voice", "turn_detection", "tools",
                 "local_profile", "faults", "audio_format", "target", "caller")


class VariantSpec(Strict):
    """One variant: an agent config file, or the base config with these fields replaced."""

    agent: Path | None = Field(None, description="agent config file of this variant (relative to "
                                                 "the comparison file); the base config if omitted")
    instructions: str | None = Field(None, description="instructions replacing the config's own")
    instructions_file: Path | None = Field(
        None, description="instructions read from this file (relative to the comparison file)")
    model: str | None = Field(None, description="realtime model")
    voice: str | None = Field(None, description="output voice")
    turn_detection: TurnDetection | None = Field(
        None, description="turn detection; the keys given replace the config's own, null turns "
                          "server turn detection off")
    tools: list[ToolSpec] | None = Field(None, description="tools replacing the config's own")
    local_profile: str | None = Field(
        None, description="dialogue profile of the local reference agent: a built-in name, or a "
                          "file (relative to the comparison file)")
    faults: list[str] = Field(
        default_factory=list, description="faults of the local reference agent in this variant's "
                                          "calls, e.g. no_preamble or added_latency_ms=300")
    audio_format: AudioFormat | None = Field(
        None, description="audio format of both directions, e.g. audio/pcmu (G.711 µ-law at "
                          "8 kHz: the same agent on a telephone line)")

    target: str | None = Field(
        None, description="where this variant's calls go instead of the comparison's target, "
                          "e.g. local-webrtc beside local: the same agent over another transport")

    caller: CallerVoice | None = Field(
        None, description="who calls in this variant's calls: the fields given replace each "
                          "scenario's caller's, e.g. {voice: bf_emma} (variants that differ only "
                          "in the caller's voice)")

    @field_validator("target")
    @classmethod
    def _known_target(cls, value: str | None) -> str | None:
        from harness.realtime.targets import parse_spec  # noqa: PLC0415

        if value is not None:
            try:
                parse_spec(value)
            except InputError as exc:
                raise ValueError(exc.message) from None
        return value

    @field_validator("faults", mode="before")
    @classmethod
    def _faults_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("audio_format", mode="before")
    @classmethod
    def _audio_format_name(cls, value: Any) -> Any:
        # beta and short names (g711_ulaw, pcmu) stand for the GA one
        return (audio_format_named(value) or value) if isinstance(value, str) else value


class ComparisonSpec(Strict):
    """A comparison file: scenarios, a base agent config and the variants to compare."""

    scenarios: list[Path] = Field(
        default_factory=list, description="scenario files or folders (relative to this file); "
                                          "the example suite if omitted")
    base: Path | None = Field(None, description="agent config the variants start from; the "
                                                "scenarios' own config if omitted")
    trials: int = Field(DEFAULT_TRIALS, ge=1, le=1000,
                        description="trials per scenario and variant")
    variants: dict[str, VariantSpec] = Field(
        ..., min_length=2, description="variant name → variant, baseline first")
    fail_if_worse: list[str] | bool = Field(
        False, description="gate: fail when a candidate is significantly worse on any metric "
                           "(true) or on the metrics named")

    @field_validator("variants")
    @classmethod
    def _names(cls, variants: dict[str, VariantSpec]) -> dict[str, VariantSpec]:
        for name in variants:
            if not re.match(VARIANT_NAME, name):
                raise ValueError(f"variant name {name!r} must be letters, digits, '_', '.' or "
                                 "'-' (it names folders)")
        return variants


def comparison_schema() -> dict[str, Any]:
    """The JSON Schema of comparison files (``schemas/comparison.schema.json``), for editors."""
    from harness.scenario.schema import JSON_SCHEMA_DIALECT  # noqa: PLC0415

    return {"$schema": JSON_SCHEMA_DIALECT, **ComparisonSpec.model_json_schema()}


def comparison_schema_text() -> str:
    """The schema as the committed file holds it."""
    import json  # noqa: PLC0415

    return json.dumps(comparison_schema(), indent=2, ensure_ascii=False) + "\n"


def _abs(base: Path, value: Path | None) -> Path | None:
    if value is None:
        return None
    return Path(os.path.abspath(base / os.path.expanduser(str(value))))


def build_variant(spec: VariantSpec, base: AgentConfig | None, *, name: str) -> AgentConfig:
    """The AgentConfig of a variant: its own file, or ``base`` with the spec's fields replaced."""
    from harness.scenario.loader import load_agent_config  # noqa: PLC0415

    if spec.agent is not None:
        config = load_agent_config(spec.agent)
    elif base is not None:
        config = base
    else:
        raise InputError(f"variant {name!r} names no agent config and there is no base config",
                         field=f"variants.{name}.agent")
    update: dict[str, Any] = {}
    given = spec.model_fields_set
    if spec.local_profile is not None:
        _check_profile(spec.local_profile, name)
    for key in ("model", "voice", "local_profile", "tools"):
        if key in given and getattr(spec, key) is not None:
            update[key] = getattr(spec, key)
    if spec.audio_format is not None:
        update.update(input_audio_format=spec.audio_format, output_audio_format=spec.audio_format)
    if "instructions" in given:
        update.update(instructions=spec.instructions, instructions_file=None)
    if "instructions_file" in given and spec.instructions_file is not None:
        path = spec.instructions_file
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InputError(f"cannot read the instructions: {exc.strerror}",
                             location=str(path), field=f"variants.{name}.instructions_file"
                             ) from None
        update.update(instructions=text, instructions_file=path)
    if "turn_detection" in given:
        if spec.turn_detection is None:
            update["turn_detection"] = None
        else:
            current = config.turn_detection.model_dump() if config.turn_detection else {}
            merged = {**current, **spec.turn_detection.model_dump(exclude_unset=True)}
            update["turn_detection"] = TurnDetection.model_validate(merged)
    if update or config.name != name:
        config = config.model_copy(update={**update, "name": name})
    return config


def _check_profile(profile: str | None, name: str) -> None:
    """A variant's ``local_profile`` names a file that exists or a built-in profile."""
    from harness.scenario._checks import builtin_profile_problem, is_profile_file  # noqa: PLC0415

    if profile is None:
        return
    field = f"variants.{name}.local_profile"
    if is_profile_file(profile):
        if not Path(profile).is_file():
            raise InputError(f"profile file not found: {profile}", field=field)
    elif (problem := builtin_profile_problem(profile)) is not None:
        raise InputError(problem, field=field)


def check_faults(spec: VariantSpec, name: str) -> list[str]:
    """The variant's faults, checked against the local agent's fault names."""
    from harness.agent.faults import Faults  # noqa: PLC0415

    try:
        Faults.parse(spec.faults)
    except InputError as exc:
        raise InputError(exc.message, field=f"variants.{name}.faults") from None
    return list(spec.faults)


def check_caller(spec: VariantSpec, name: str) -> CallerVoice | None:
    """The variant's caller voice, its voice checked against its engine's voices."""
    from harness.espeak import resolve_voice  # noqa: PLC0415
    from harness.kokoro import kokoro_voice  # noqa: PLC0415

    voice = spec.caller
    if voice is None or "voice" not in voice.model_fields_set:
        return voice
    try:
        if voice.engine_name == "kokoro":
            kokoro_voice(voice.voice)
        elif voice.engine_name == "espeak":
            resolve_voice(voice.voice)
    except InputError as exc:
        raise InputError(f"{exc.message} (`harness voices` lists the voices)",
                         field=f"variants.{name}.caller.voice") from None
    return voice


def voice_variants(voices: Sequence[str], *, faults: Sequence[str] = (),
                   audio_format: str | None = None) -> dict[str, VariantSpec]:
    """The variants of a robustness matrix, one per caller voice (``--voices af_heart,bm_george``
    or ``ENGINE:VOICE``, e.g. ``espeak:en-gb``), named after the voice; the first is the
    baseline. Each voice is checked against its engine's voices."""
    names = [n.strip() for item in voices for n in str(item).split(",") if n.strip()]
    if len(names) < 2:
        raise InputError("a robustness matrix needs at least two caller voices, e.g. "
                         "--voices af_heart,bm_george", field="--voices")
    out: dict[str, VariantSpec] = {}
    for given in names:
        engine, sep, voice = given.rpartition(":")
        fields: dict[str, Any] = {"voice": voice}
        if sep:
            fields["engine"] = engine
        name = re.sub(r"[^A-Za-z0-9_.-]", "-", voice)
        if name in out:
            raise InputError(f"caller voice {given!r} given twice", field="--voices")
        try:
            caller = CallerVoice.model_validate(fields)
            out[name] = VariantSpec(caller=caller, faults=list(faults),
                                    audio_format=audio_format)
        except ValidationError as exc:
            raise InputError(f"{given!r}: {exc.errors(include_url=False)[0]['msg']} (expected "
                             "VOICE or ENGINE:VOICE, ENGINE one of espeak, kokoro, openai)",
                             field="--voices") from None
        try:
            check_caller(out[name], name)
        except InputError as exc:
            raise InputError(exc.message, field="--voices") from None
    return out


def load_comparison(path: str | Path) -> ComparisonSpec:
    """Read and validate a comparison file; paths in it become absolute.

    Raises :class:`InputErrors` naming file, line, field and what was expected.
    """
    from harness.scenario._checks import is_profile_file  # noqa: PLC0415
    from harness.scenario._errors import validation_errors  # noqa: PLC0415
    from harness.scenario._yaml import load_yaml  # noqa: PLC0415
    path = Path(path)
    try:
        doc = load_yaml(path)
    except InputError as exc:
        raise InputErrors([exc]) from None
    if not isinstance(doc.data, dict):
        raise InputErrors([InputError("expected a mapping (a comparison file)",
                                      location=str(path))])
    try:
        spec = ComparisonSpec.model_validate(doc.data)
    except ValidationError as exc:
        raise InputErrors(validation_errors(exc, doc.data, doc.positions, ComparisonSpec)
                          ) from None
    folder = path.resolve().parent
    update: dict[str, Any] = {"scenarios": [_abs(folder, p) for p in spec.scenarios],
                              "base": _abs(folder, spec.base)}
    variants = {}
    problems: list[InputError] = []
    for name, variant in spec.variants.items():
        fields: dict[str, Any] = {k: _abs(folder, getattr(variant, k))
                                  for k in ("agent", "instructions_file")
                                  if k in variant.model_fields_set}
        if variant.local_profile is not None and is_profile_file(variant.local_profile):
            fields["local_profile"] = str(_abs(folder, Path(variant.local_profile)))
        try:
            _check_profile(fields.get("local_profile", variant.local_profile), name)
        except InputError as exc:
            mark = doc.positions.find(("variants", name, "local_profile"))
            problems.append(InputError(exc.message, location=str(mark) if mark else str(path),
                                       field=exc.field))
        try:
            check_caller(variant, name)
        except InputError as exc:
            mark = doc.positions.find(("variants", name, "caller", "voice"))
            problems.append(InputError(exc.message, location=str(mark) if mark else str(path),
                                       field=exc.field))
        variants[name] = variant.model_copy(update=fields)
    if problems:
        raise InputErrors(problems)
    return spec.model_copy(update={**update, "variants": variants})


def parse_variant_options(variants: list[str], overrides: list[str]
                          ) -> dict[str, VariantSpec]:
    """Variants from ``--variant NAME=FILE`` and ``--set NAME.KEY=VALUE`` (VALUE read as YAML).

    A name only in ``--set`` is the base config with those overrides; ``--variant NAME`` alone
    is the base config unchanged. Order of first mention decides the baseline.
    """
    from harness.scenario._yaml import parse_yaml  # noqa: PLC0415

    raw: dict[str, dict[str, Any]] = {}
    for option in variants:
        name, sep, file = option.partition("=")
        name = name.strip()
        entry = raw.setdefault(name, {})
        if sep:
            entry["agent"] = os.path.abspath(os.path.expanduser(file.strip()))
    for option in overrides:
        left, sep, value = option.partition("=")
        name, dot, key = left.strip().partition(".")
        if not sep or not dot or not name or not key:
            raise InputError(f"expected NAME.KEY=VALUE, got {option!r}", field="--set")
        if key not in OVERRIDE_KEYS:
            raise InputError(f"unknown override {key!r}; expected one of "
                             f"{', '.join(OVERRIDE_KEYS)}", field="--set")
        try:
            parsed = parse_yaml(value, "the value") if value.strip() else None
        except InputError as exc:
            raise InputError(f"{option!r}: the value is not valid YAML ({exc})", field="--set"
                             ) from None
        if key == "instructions":
            parsed = value  # instructions are text, whatever YAML would make of them
        if key == "instructions_file" and isinstance(parsed, str):
            parsed = os.path.abspath(os.path.expanduser(parsed))
        raw.setdefault(name, {})[key] = parsed
    out: dict[str, VariantSpec] = {}
    for name, fields in raw.items():
        if not re.match(VARIANT_NAME, name):
            raise InputError(f"variant name {name!r} must be letters, digits, '_', '.' or '-'",
                             field="--variant")
        try:
            out[name] = VariantSpec.model_validate(fields)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            where = ".".join(str(p) for p in first["loc"])
            raise InputError(f"variant {name!r}: {where}: {first['msg']}", field="--set"
                             ) from None
    return out
