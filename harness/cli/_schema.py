"""``harness schema``: the JSON Schema of each file format the harness reads."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class SchemaKind(StrEnum):
    scenario = "scenario"
    agent = "agent"
    comparison = "comparison"
    sidecar = "sidecar"
    calls = "calls"


def schema(
    kind: Annotated[SchemaKind, typer.Option(help="Which file format.")] = SchemaKind.scenario,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write here instead of stdout.")] = None,
) -> None:
    """Print (or write) the JSON Schema of scenario files, agent configs, comparison files,
    production-call sidecars or calls policies (calls.yaml)."""
    from harness.calls import calls_policy_schema_text, sidecar_schema_text
    from harness.compare import comparison_schema_text
    from harness.scenario.schema import schema_text, write_schema

    other = {SchemaKind.comparison: comparison_schema_text, SchemaKind.sidecar: sidecar_schema_text,
             SchemaKind.calls: calls_policy_schema_text}
    if kind in other:
        text = other[kind]()
        if output is not None:
            output.write_text(text, encoding="utf-8")
    elif output is not None:
        write_schema(kind.value, output)
    else:
        text = schema_text(kind.value)
    if output is None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"wrote {output}")
