"""The one exception tree of the harness: user mistakes print a clear message, never a traceback."""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose."""


class InputError(HarnessError):
    """Bad user input (YAML, audio files, options). The message is the whole story.

    ``location`` is ``file:line:col`` when known, ``field`` a dotted path such as
    ``turns[2].cut_off.after_text``.
    """

    def __init__(self, message: str, *, location: str | None = None, field: str | None = None):
        self.message = message
        self.location = location
        self.field = field
        super().__init__(self.format())

    def format(self) -> str:
        parts = [p for p in (self.location, self.field) if p]
        prefix = ": ".join(parts)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputErrors(HarnessError):
    """Several input errors found at once (a whole file validated before giving up)."""

    def __init__(self, errors: list[InputError]):
        self.errors = errors
        super().__init__("\n".join(e.format() for e in errors))


def error_lines(exc: HarnessError) -> list[str]:
    """A harness error as the user reads it: each input problem on its own line, then a count."""
    if isinstance(exc, InputErrors):
        return [e.format() for e in exc.errors] + [f"{len(exc.errors)} problem(s) found"]
    if isinstance(exc, InputError):
        return [exc.format()]
    return [f"error: {exc}"]


class TargetError(HarnessError):
    """A realtime target could not be reached or broke the session (the trial is *errored*)."""
