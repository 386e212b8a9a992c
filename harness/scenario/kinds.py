"""The expectation kinds a scenario may use: each kind's parameter model, registered by its scorer.

Scorers live in the scoring layer, which depends on this one, so this module holds only what a
scenario file needs to know about a kind (its name, a one-line description, its parameter model)
and imports no scorer, by name or otherwise. The kinds are discovered once, on first use, by
loading every entry point of the ``harness.scorers`` group: the harness declares its own scorers
there (``harness.scoring.scorers``) exactly as a user's package declares its own, so the scoring
layer hands its scorers to this one and the built-in kinds are a plugin like any other. Importing
a scorer module is what registers its kind, through
``harness.scoring.scorer(kind, description, params=Model)``.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."harness.scorers"]
    polite = "my_package.polite_scorer"

and that module defines an :class:`ExpectationParams` subclass and a scorer function decorated
with ``harness.scoring.scorer``; the kind then validates in YAML, appears in the JSON Schema and
in the generated references, and is scored like a built-in one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from harness.errors import InputError

if TYPE_CHECKING:
    from harness.scenario.models import AgentConfig, Scenario, ToolSpec

ENTRY_POINT_GROUP = "harness.scorers"
"""Entry-point group through which other packages add expectation kinds."""

BUILTIN_ENTRY_POINT = "harness"
"""The entry point of the ``harness.scorers`` group through which the harness's own scorers
(``harness.scoring.scorers``) register their kinds."""


class ExpectationCheck(Protocol):
    """What a parameter model may check against the scenario that uses it, with located errors.

    Keys are relative to the expectation's parameters, e.g. ``("tool",)`` or ``("turns", 2)``.
    """

    scenario: Scenario
    agent: AgentConfig | None
    """The scenario's agent config; None when the scenario names none."""

    def error(self, message: str, *keys: str | int, key: bool = False) -> None:
        """Report a problem at ``keys`` (the expectation itself when none)."""

    def tool(self, name: str | None, *keys: str | int) -> ToolSpec | None:
        """The named tool of the agent config; reports an error at ``keys`` when it has none
        of that name. None without a name or an agent config."""

    def arguments(self, tool: ToolSpec | None, names: str | Sequence[str] | dict[str, Any] | None,
                  *keys: str | int) -> None:
        """Report argument names the tool does not take (a mapping's errors at its keys)."""

    def turns(self, turns: int | Sequence[int] | None, *keys: str | int,
              addressed: bool) -> None:
        """Report turn numbers that do not exist (or, when ``addressed``, are not say/audio
        turns)."""


class ExpectationParams(BaseModel):
    """Base of every expectation kind's parameter model: unknown keys are rejected.

    The class docstring is the kind's description in the schema and the references; field
    descriptions document the parameters.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    shorthand: ClassVar[str | None] = None
    """A field a scalar may fill directly, e.g. ``escalation: forbidden`` for ``mode``."""

    def check(self, checks: ExpectationCheck) -> None:
        """Check the parameters against the scenario and its agent config (none by default)."""


@dataclass(frozen=True)
class ExpectationKind:
    """A registered expectation kind: its name, one-line description and parameter model."""

    kind: str
    description: str
    params_model: type[ExpectationParams]
    origin: str
    """Module that registered it (a plugin's module for a plugin kind)."""

    def takes_no_params(self) -> bool:
        """Whether every parameter has a default, so the kind may be written bare."""
        try:
            self.params_model.model_validate({})
        except ValueError:
            return False
        return True


_KINDS: dict[str, ExpectationKind] = {}
_discovered = False
_lock = threading.RLock()


def register_kind(kind: str, description: str, params_model: type[ExpectationParams],
                  origin: str) -> ExpectationKind:
    """Register an expectation kind (called by ``harness.scoring.scorer``).

    Registering the same kind again from the same module replaces it (a reloaded module);
    from another module it is an error, so a plugin cannot silently shadow a built-in kind.
    """
    if not isinstance(params_model, type) or not issubclass(params_model, ExpectationParams):
        raise TypeError(f"expectation kind {kind!r}: parameters must be an ExpectationParams "
                        f"subclass, got {params_model!r}")
    with _lock:
        known = _KINDS.get(kind)
        if known is not None and known.origin != origin:
            raise InputError(f"expectation kind {kind!r} is registered twice: by {known.origin} "
                             f"and by {origin}")
        entry = ExpectationKind(kind, " ".join(description.split()), params_model, origin)
        _KINDS[kind] = entry
        return entry


def _discover() -> None:
    global _discovered
    with _lock:
        if _discovered:
            return
        _discovered = True
        found = sorted(entry_points(group=ENTRY_POINT_GROUP),
                       key=lambda ep: (ep.name != BUILTIN_ENTRY_POINT, ep.name))
        if not found or found[0].name != BUILTIN_ENTRY_POINT:
            _discovered = False
            raise InputError(
                f"the harness's own expectation kinds are not installed (no entry point "
                f"{BUILTIN_ENTRY_POINT!r} in the group {ENTRY_POINT_GROUP!r}): install the "
                "harness with pip (pip install -e . in a checkout) so its metadata is current")
        for ep in found:
            try:
                ep.load()
            except Exception as exc:  # noqa: BLE001 - any plugin failure is the user's to fix
                _discovered = False
                raise InputError(
                    f"expectation-kind plugin {ep.name!r} ({ep.value}, entry point group "
                    f"{ENTRY_POINT_GROUP!r}) failed to load: {type(exc).__name__}: {exc}"
                ) from None


def expectation_kinds() -> dict[str, ExpectationKind]:
    """Every registered expectation kind (built-in and plugin) by name, in name order."""
    _discover()
    return dict(sorted(_KINDS.items()))


def kind_of(name: str) -> ExpectationKind | None:
    """The registered kind of this name, or None."""
    _discover()
    return _KINDS.get(name)


def rediscover() -> None:
    """Forget which plugins were loaded, so the next lookup loads the entry points again (for a
    process that installs a plugin after the first lookup)."""
    global _discovered
    with _lock:
        _discovered = False

