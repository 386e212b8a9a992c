"""The ``harness`` command: thin typer commands over the package API."""

from __future__ import annotations

import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

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

    typer.echo(str(render_suite(paths, out_dir)))


@app.command()
def run(
    paths: Annotated[list[Path] | None, typer.Argument(
        help="Scenario files or folders (default: the example suite in scenarios/).")] = None,
    target: Annotated[str, typer.Option(
        help="local (the reference agent), openai, azure, or a ws:// / wss:// URL.")] = "local",
    agent: Annotated[Path | None, typer.Option(
        help="Agent config file used instead of each scenario's own.")] = None,
    trials: Annotated[int, typer.Option(help="Trials per scenario.")] = 1,
    concurrency: Annotated[int, typer.Option(help="Calls at the same time.")] = 4,
    fault: Annotated[list[str] | None, typer.Option(
        help="Fault of the local agent, e.g. no_preamble or added_latency_ms=400 (repeatable).")
    ] = None,
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where run folders go (each run gets its own).")] = Path("reports"),
) -> None:
    """Run scenarios against a target, score the calls and write the HTML/JUnit/JSON reports.

    Exit codes: 0 all passed, 1 some failed, 2 usage or invalid input, 3 some errored.
    """
    from harness import api
    from harness.report.console import RunProgress

    def run_with_progress() -> api.RunOutcome:
        with RunProgress() as progress:
            return api.run(paths or None, target=target, agent=agent, trials=trials,
                           concurrency=concurrency, faults=fault, out_dir=output,
                           on_progress=progress)

    _summarise(run_with_progress)


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (with run.json).")],
    rescore: Annotated[bool, typer.Option(help="Score every trial again first.")] = False,
) -> None:
    """Re-render a run folder's reports (unscored trials are scored first); exit code as run."""
    from harness import api

    _summarise(lambda: api.report(run_dir, rescore=rescore))


def _summarise(produce: Callable[[], Any]) -> None:
    """Print a run's summary table (or its one error) and exit with the run's exit code."""
    from harness import api
    from harness.report.console import print_error, print_summary

    try:
        outcome = produce()
    except HarnessError as exc:
        print_error(exc)
        raise typer.Exit(api.exit_code(exc)) from None
    print_summary(outcome)
    raise typer.Exit(api.exit_code(outcome))


@app.command()
def score(
    run_dir: Annotated[Path, typer.Argument(help="A run folder (with run.json).")],
) -> None:
    """Re-score every recording of a run folder and rewrite its verdicts.json files.

    Exit codes: 0 all passed, 1 some failed, 2 usage or invalid input, 3 a scorer broke.
    """
    from harness.scoring import score_run, score_run_summary

    try:
        results = score_run(run_dir)
    except HarnessError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    lines, code = score_run_summary(results)
    for line in lines:
        typer.echo(line)
    raise typer.Exit(code)


agent_app = typer.Typer(help="The local reference agent.", no_args_is_help=True)
app.add_typer(agent_app, name="agent")


@agent_app.command("serve")
def agent_serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 0,
    agent: Annotated[Path | None, typer.Option(
        help="Agent config (agents/*.yaml): serve its local_profile with its tool flags "
             "(write, escalation, wait).")] = None,
    profile: Annotated[str | None, typer.Option(
        help="Agent profile name or YAML file, without an agent config (no tool is then a "
             "write, escalation or wait tool).")] = None,
    fault: Annotated[list[str] | None, typer.Option(
        help="Fault(s) for every session, e.g. ignore_barge_in or added_latency_ms=400; "
             "sessions add their own with ?faults=... in the URL.")] = None,
) -> None:
    """Serve the local reference agent (Realtime GA protocol) until interrupted."""
    from harness.agent import agent_config_options, serve_forever
    from harness.scenario import load_agent_config

    if agent is not None and profile is not None:
        raise InputError("give --agent or --profile, not both", field="--profile")
    options = agent_config_options(load_agent_config(agent)) if agent is not None else {
        "profile": profile or "support_desk"}
    serve_forever(host, port, faults=fault,
                  announce=lambda url: typer.echo(f"local agent listening on {url}", err=True),
                  **options)


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
