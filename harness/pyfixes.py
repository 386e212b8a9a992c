"""Workarounds for bugs of the Python versions the harness supports.

Python 3.11 before 3.11.8, and 3.12 before 3.12.2, keep the depth of the AST constructor
(``ast.parse``) in one interpreter-wide counter (CPython issue gh-106905). A garbage collection
inside one thread's parse can hand the interpreter to a second thread whose parse resets that
counter, and the first then fails with ``SystemError: AST constructor recursion depth mismatch``.
The harness parses from several threads at once without asking: every ``numpy.load`` parses
its header (the render cache, on the caller renderer's and the local agent's threads), and
pytest parses every module of a plugin's package it imports. On those versions
:func:`serialize_ast_parse` makes ``ast.parse`` take one lock, so parses run one at a time.
"""

from __future__ import annotations

import ast
import functools
import sys
import threading

AST_PARSE_RACES = (3, 11) <= sys.version_info[:3] < (3, 11, 8) or (
    (3, 12) <= sys.version_info[:3] < (3, 12, 2))
"""Whether this interpreter's ``ast.parse`` fails when two threads parse at once."""


def serialize_ast_parse() -> None:
    """Wrap ``ast.parse`` (and with it ``ast.literal_eval``) in a process-wide re-entrant lock,
    once, on the versions where parallel parses race (:data:`AST_PARSE_RACES`)."""
    if not AST_PARSE_RACES or getattr(ast.parse, "serialized", False):
        return
    lock = threading.RLock()
    unlocked = ast.parse

    @functools.wraps(unlocked)
    def parse(*args, **kwargs):  # type: ignore[no-untyped-def]  # ast.parse's own overloads
        with lock:
            return unlocked(*args, **kwargs)

    parse.serialized = True  # type: ignore[attr-defined]
    ast.parse = parse  # type: ignore[assignment]
