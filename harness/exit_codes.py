"""The one exit-code contract of every command: 0 all passed, 1 some failed, 2 usage or invalid
input, 3 some errored (could not run: target, transport or the harness itself)."""

from __future__ import annotations

from collections.abc import Iterable

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_ERRORED = 3

_ERRORED = frozenset({"errored", "error", "incomplete"})
_FAILED = frozenset({"failed", "fail"})


def exit_code(statuses: Iterable[str] = (), *, error: BaseException | None = None) -> int:
    """The exit code of a command that graded things of these ``statuses`` (trial outcomes
    ``passed``/``failed``/``errored`` or verdict statuses ``pass``/``fail``/``error``), or that
    stopped on ``error``. Errored wins over failed: a run that could not grade everything is not
    a verdict on the agent. Bad input (``InputError``, a command-line usage error) is 2; any
    other harness error (a target that could not be used) is 3."""
    if error is not None:
        import click  # noqa: PLC0415 - the command line's own usage errors

        from harness.errors import InputError, InputErrors  # noqa: PLC0415

        if isinstance(error, InputError | InputErrors | click.UsageError):
            return EXIT_USAGE
        return EXIT_ERRORED
    seen = set(statuses)
    if seen & _ERRORED:
        return EXIT_ERRORED
    if seen & _FAILED:
        return EXIT_FAILED
    return EXIT_OK
