"""How every ``harness`` command prints its help."""

from typing import Any

PLAIN_HELP: dict[str, Any] = {"rich_markup_mode": None, "no_args_is_help": True}
"""Help as plain click text: it reflows each docstring paragraph to the terminal's width, where
rich markup keeps the docstrings' line breaks and turns words between colons into emoji
("START:END:DURATION" showed a picture)."""
