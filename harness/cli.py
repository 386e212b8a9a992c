"""The ``harness`` command: thin typer commands over the package API."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from harness.errors import HarnessError, InputError, InputErrors

EXIT_INVALID = 1
"""Bad input (YAML, audio files, options): one clear message per problem."""

app = typer.Typer(
    name="harness",
    help="Evaluation and regression harness for realtime voice agents.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

Paths = Annotated[list[Path], typer.Argument(
    help="Scenario files or folders (folders are scanned for scenario YAML files).")]


@app.command()
def validate(paths: Paths) -> None:
    """Check scenario files (and agent configs named directly); every problem, one per line."""
    from harness.scenario.loader import validate_paths

    done = validate_paths(paths)
    typer.echo(f"{len(done)} file(s) valid:")
    for line in done:
        typer.echo(f"  {line}")


class SchemaKind(StrEnum):
    scenario = "scenario"
    agent = "agent"


@app.command()
def schema(
    kind: Annotated[SchemaKind, typer.Option(help="Which file format.")] = SchemaKind.scenario,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write here instead of stdout.")] = None,
) -> None:
    """Print (or write) the JSON Schema of scenario files or agent configs, for editors."""
    from harness.scenario.schema import schema_text, write_schema

    if output is None:
        typer.echo(schema_text(kind.value), nl=False)
    else:
        write_schema(kind.value, output)
        typer.echo(f"wrote {output}")


@app.command()
def render(
    paths: Paths,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")],
) -> None:
    """Render each scenario's caller audio: clips, a preview of the caller stream, a manifest."""
    from harness.audio import render_suite

    result = render_suite(paths, out_dir)
    typer.echo(f"wrote {out_dir}" if result is None else str(result))


def main(argv: list[str] | None = None) -> None:
    """Console entry point: runs a command; a HarnessError becomes its message and exit code."""
    try:
        app(args=argv, prog_name="harness")
    except InputErrors as exc:
        for error in exc.errors:
            typer.echo(error.format(), err=True)
        typer.echo(f"{len(exc.errors)} problem(s) found", err=True)
        sys.exit(EXIT_INVALID)
    except InputError as exc:
        typer.echo(exc.format(), err=True)
        sys.exit(EXIT_INVALID)
    except HarnessError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
