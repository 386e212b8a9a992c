"""Where a suite's trials run: this process, worker processes, or a Ray cluster."""

from __future__ import annotations

from typing import Any

from harness.errors import InputError
from harness.runner.results import RunResult
from harness.runner.suite import run_suite
from harness.runner.workers import run_suite_in_processes
from harness.scenario.models import Scenario

EXECUTORS = ("local", "ray")


async def run_suite_with(scenarios: list[Scenario], *, executor: str = "local",
                         workers: int | None = None, address: str | None = None,
                         ship_recordings: bool = False, **kwargs: Any) -> RunResult:
    """Run a suite in this process, in ``workers`` local processes, or on a Ray cluster.

    Takes :func:`~harness.runner.suite.run_suite`'s keyword arguments. ``executor="ray"`` shards
    the trials over ``workers`` Ray actors (default: one per CPU of the cluster at ``address``);
    ``ship_recordings`` has each actor write to its own node's disk and send every finished
    trial folder back through Ray's object store, for clusters without a shared file system.
    """
    if executor not in EXECUTORS:
        raise InputError(f"unknown executor {executor!r}; expected one of "
                         f"{', '.join(EXECUTORS)}", field="--executor")
    if workers is not None and workers < 1:
        raise InputError(f"workers must be at least 1, got {workers}", field="--workers")
    if address is not None and executor != "ray":
        raise InputError("--address names a Ray cluster: use it with --executor ray",
                         field="--address")
    if ship_recordings and executor != "ray":
        raise InputError("--ship-recordings sends recordings back from Ray workers: use it with "
                         "--executor ray", field="--ship-recordings")
    if executor == "ray":
        from harness.runner.ray_executor import run_suite_on_ray  # noqa: PLC0415 - Ray is optional

        return await run_suite_on_ray(scenarios, shards=workers, address=address,
                                      ship_recordings=ship_recordings, **kwargs)
    if workers is None or workers == 1:
        return await run_suite(scenarios, **kwargs)
    return await run_suite_in_processes(scenarios, workers=workers, **kwargs)
