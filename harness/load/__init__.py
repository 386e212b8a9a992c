"""Load tests: the suite's scenarios as N concurrent callers on a ramp, latency per level.

:func:`run_load` drives the ramp (:mod:`harness.load.driver`), then reads the recordings and
writes ``load.json`` and ``load.html`` (:mod:`harness.load.report`) in a new folder
``out_dir/load-YYYYmmdd-HHMMSS``.
"""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import harness
from harness.folders import new_stamped_folder
from harness.load.driver import LoadProgress, describe, drive
from harness.load.ramp import Level, parse_ramp
from harness.load.report import (
    DEFAULT_JITTER_LIMIT_MS,
    LOAD_SCHEMA_VERSION,
    build_report,
    render_page,
)
from harness.runner.capture import write_text_atomic
from harness.runner.results import machine_info, target_label
from harness.scenario.models import Scenario

__all__ = ["DEFAULT_JITTER_LIMIT_MS", "Level", "LoadOutcome", "LoadProgress", "parse_ramp",
           "run_load", "run_load_async"]

LOAD_FILE = "load.json"
PAGE_FILE = "load.html"


@dataclass
class LoadOutcome:
    """A finished load test: its folder and ``load.json``'s content."""

    folder: Path
    data: dict[str, Any]

    @property
    def levels(self) -> list[dict[str, Any]]:
        return self.data["levels"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


async def run_load_async(items: Iterable[str | Path | Scenario] | None, *, ramp: str | list[Level],
                         target: str = "local", out_dir: Path = Path("reports"),
                         jitter_limit_ms: float = DEFAULT_JITTER_LIMIT_MS,
                         session_timeout_s: float | None = None,
                         on_progress: Callable[[LoadProgress], None] | None = None
                         ) -> LoadOutcome:
    """Drive the ramp against ``target`` with the scenarios (round robin) and report per level."""
    from harness.api import (  # noqa: PLC0415 - api imports the whole package
        check_target,
        load_scenarios,
        start_local_agent_for,
    )

    levels = parse_ramp(ramp) if isinstance(ramp, str) else list(ramp)
    check_target(target)
    scenarios = load_scenarios(items)
    folder = new_stamped_folder(Path(out_dir), "load")
    started = _now()
    try:
        calls = await drive(scenarios, levels, out_dir=folder, target=target,
                            session_timeout_s=session_timeout_s,
                            local_agent=start_local_agent_for, on_progress=on_progress)
    finally:
        gc.unfreeze()  # sessions froze the heap while they streamed
    # reading every recording takes a while: off the event loop
    figures = await asyncio.to_thread(build_report, levels, calls, folder,
                                      jitter_limit_ms=jitter_limit_ms)
    data = {"schema_version": LOAD_SCHEMA_VERSION, "target": target_label(target),
            "started_at": started, "finished_at": _now(),
            "harness_version": harness.__version__, "machine": machine_info(),
            "jitter_limit_ms": jitter_limit_ms, "scenarios": [s.name for s in scenarios],
            "levels": figures, "calls": describe(calls)}
    write_text_atomic(folder / LOAD_FILE, json.dumps(data, indent=2) + "\n")
    write_text_atomic(folder / PAGE_FILE, render_page(data))
    return LoadOutcome(folder, data)


def run_load(items: Iterable[str | Path | Scenario] | None, **kwargs: Any) -> LoadOutcome:
    """:func:`run_load_async` for callers without an event loop (the CLI)."""
    return asyncio.run(run_load_async(items, **kwargs))
