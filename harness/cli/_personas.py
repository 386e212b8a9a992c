"""``harness personas``: a scripted caller model to run persona scenarios offline."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from harness.cli._help import PLAIN_HELP

personas_app = typer.Typer(help="Persona callers: scenarios whose caller a model plays.",
                           **PLAIN_HELP)


@personas_app.command("serve", short_help="Serve a scripted caller model (chat completions).")
def personas_serve(
    scripts: Annotated[list[Path], typer.Argument(
        help="Script files or folders of them (examples/personas/scripts).")],
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0: a free one).")] = 8765,
) -> None:
    """Serve a scripted caller model: a chat-completions endpoint that plays each persona's
    lines from its script, keyed on what the agent said. Point a run at it with
    `--caller-url http://HOST:PORT/v1 --caller-model scripted`. Stop it with Ctrl-C.

    Exit codes: 0 stopped, 2 a script that cannot be read.
    """
    from harness.persona.scripted import ScriptedCallerModel, load_scripts

    server = ScriptedCallerModel(load_scripts(scripts), host=host, port=port).start()
    typer.echo(f"scripted caller model for {', '.join(sorted(server.scripts))} at {server.url}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        typer.echo(f"answered {server.requests} request(s): {server.prompt_tokens} prompt and "
                   f"{server.completion_tokens} completion tokens (estimated)")
