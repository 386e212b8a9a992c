"""``harness calls``: grade production calls (recordings, with or without a sidecar)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._help import PLAIN_HELP

calls_app = typer.Typer(help="Grade finished production calls like scripted ones.",
                        **PLAIN_HELP)


@calls_app.command("score", short_help="Grade finished calls into a run folder.")
def calls_score(
    paths: Annotated[list[str], typer.Argument(
        help="Calls: a stereo WAV (caller left, agent right), CALLER.wav,AGENT.wav, or a folder "
             "with call.wav (or caller.wav and agent.wav) and perhaps a sidecar.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where run folders go (each run gets its own).")] = Path("reports"),
    policy: Annotated[Path | None, typer.Option(
        help="calls.yaml: the checks, the agent config, labels (default: latency, dead air and "
             "turn answered).")] = None,
    sidecar_dir: Annotated[Path | None, typer.Option(
        help="Folder of sidecars named after the calls (NAME.json or NAME.events.jsonl).")
    ] = None,
    store: Annotated[str | None, typer.Option(
        help="Record the graded calls in this history store: a SQLite file or a SQLAlchemy "
             "URL.")] = None,
    label: Annotated[str, typer.Option(
        help="Label of the stored run; trends and gates follow it.")] = "production",
) -> None:
    """Grade finished calls: each becomes a trial of a normal run folder (what the call lacks
    is reconstructed and marked so), scored with the policy's checks, with the usual reports.

    Exit codes: 0 all passed, 1 some failed, 2 a call or the policy could not be read (the
    other calls are still graded), 3 some errored or the store could not be used.
    """
    from harness.calls import default_policy, exit_code_of, load_policy, score_calls
    from harness.errors import HarnessError, error_lines
    from harness.exit_codes import EXIT_ERRORED, exit_code
    from harness.report.console import print_summary

    try:
        rules, agent = load_policy(policy) if policy is not None else (default_policy(), None)
        outcome = score_calls(paths, output, policy=rules, agent=agent, sidecar_dir=sidecar_dir)
    except HarnessError as exc:
        for line in error_lines(exc):
            typer.secho(line, fg="red", err=True)
        raise typer.Exit(exit_code(error=exc)) from None
    for given, lines in outcome.refused.items():
        typer.secho(f"{given}: not graded (exit 2):", fg="red", err=True)
        for line in lines:
            typer.secho(f"  {line}", fg="red", err=True)
    for given in outcome.skipped:
        typer.echo(f"{given}: not in the policy's sample")
    code = exit_code_of(outcome)
    if outcome.report is not None:
        print_summary(outcome.report)
        if store is not None:
            from harness.nightly import store_outcome
            from harness.store.console import print_stored

            stored = store_outcome(outcome.report, store, label)
            print_stored(stored.info, stored.error)
            if stored.error is not None:
                code = max(code, EXIT_ERRORED)
    raise typer.Exit(code)


@calls_app.command("to-scenario", short_help="Write a scenario from a graded production call.")
def calls_to_scenario(
    call: Annotated[Path, typer.Argument(
        help="A graded call: its trial folder in a run folder of harness calls score.")],
    output: Annotated[Path, typer.Option(
        "--output", "-o", help="Where the scenario and its clips go.")] = Path("scenarios"),
    agent: Annotated[Path | None, typer.Option(
        help="Agent config the scenario names (default: the one the call was graded with).")
    ] = None,
) -> None:
    """Write a scenario from a graded production call: the caller's turns as recorded clips
    (with their transcripts), the tool calls as mocks, the failing expectations as expect
    (every graded one when none failed). The scenario is validated before it is kept.

    Exit codes: 0 written, 2 the call cannot be read or the scenario would not validate.
    """
    from harness.calls import call_to_scenario

    typer.echo(f"wrote {call_to_scenario(call, output, agent=agent)}")
