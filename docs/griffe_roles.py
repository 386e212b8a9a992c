"""Griffe extension for the Python API pages: Sphinx roles in docstrings become code spans.

The harness's docstrings name other objects the Sphinx way (``:func:`run```,
``:class:`~harness.errors.HarnessError```); Markdown would show the role as text. This turns
each into a code span of the name (the last part only after a ``~``), as Sphinx displays it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj|const):`(~?)([^`]+)`")


def _plain(match: re.Match[str]) -> str:
    name = match.group(2)
    return f"`{name.rsplit('.', 1)[-1] if match.group(1) else name}`"


class SphinxRoles(griffe.Extension):
    def on_object(self, *, obj: griffe.Object, loader: griffe.GriffeLoader,
                  **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(_plain, obj.docstring.value)
