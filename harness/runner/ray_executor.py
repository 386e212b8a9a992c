"""Suite runs on a Ray cluster: each trial shard a Ray actor with its own runner, merged here.

Every shard (see :mod:`harness.runner.workers`) runs in a Ray actor, one CPU each, with its own
event loop, runner and, for the local target, its own local agent. Recordings go to the run
folder, which every node must see (a shared file system); with ``ship_recordings`` each shard
writes to a folder of its own node instead and sends every finished trial folder back through
Ray's object store, to be unpacked into the run folder here. Progress and results stream back
through a small inbox actor; scoring and the reports stay with the caller. A shard whose actor
dies (its process killed, its node lost) leaves its unfinished trials *errored* with the reason.

Ray is an optional dependency (``pip install 'realtime-voice-harness[ray]'``); install the
harness on every node of the cluster.

A cluster the run starts itself (no address, none connected) uses token authentication with a
token of its own, kept in a temporary file for the run: Ray's default would write
``~/.ray/auth_token`` and switch this process to token mode for good, and any cluster started
later on the machine would then demand that token from clients that do not send it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import secrets
import shutil
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from harness.extras import require
from harness.runner.results import ProgressEvent, RunResult, TrialResult
from harness.runner.workers import (
    Message,
    ShardedRun,
    ShardSpec,
    run_shard_async,
    shard_specs,
)
from harness.scenario.models import Scenario

POLL_S = 0.2
"""How often the caller collects the shards' messages and looks for lost shards."""
LAST_MESSAGES_S = 10.0
"""How long messages of a shard whose call has returned may still be on their way."""


def _ray() -> Any:
    require("ray", "the ray executor", field="--executor")
    import ray  # noqa: PLC0415 - optional dependency

    return ray


AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")
"""Where Ray reads its authentication settings (over ``~/.ray/auth_token``)."""


def _reload_auth_settings() -> None:
    """Make Ray's cached configuration and token follow the environment again (Ray versions
    without token authentication have nothing to reload)."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # noqa: PLC0415
    except ImportError:
        return
    # The configuration first: a core-worker thread still shutting down reloads the token by it.
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


@contextlib.contextmanager
def own_token_auth(folder: Path | None = None) -> Iterator[dict[str, str]]:
    """Token authentication with a fresh token of its own for a Ray cluster started from this
    process (by ``ray.init()`` or by ``ray start`` with this process's environment): the token
    goes to a file in ``folder`` (a new temporary folder by default), the environment points
    Ray at it; on exit the environment and Ray's cached settings are as before and the token is
    gone. Nothing is read from or written to ``~/.ray``. Yields the variables set, for
    processes of the same cluster started with another environment."""
    own_folder = folder is None
    folder = Path(tempfile.mkdtemp(prefix="harness-ray-auth-")) if folder is None else folder
    token = folder / "auth_token"
    token.write_text(secrets.token_hex(32), encoding="ascii")
    token.chmod(0o600)
    saved = {name: os.environ.get(name) for name in AUTH_VARIABLES}
    variables = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}
    os.environ.pop("RAY_AUTH_TOKEN", None)
    os.environ.update(variables)
    _reload_auth_settings()
    try:
        yield variables
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reload_auth_settings()
        if own_folder:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            token.unlink(missing_ok=True)


def _pack(folder: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        tar.add(folder, arcname=".")
    return buf.getvalue()


def _unpack(data: bytes, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(folder, filter="data")  # no paths outside the trial folder


async def _run_shipping(spec: ShardSpec, send: Callable[[Message], None]) -> None:
    """Run the shard into a folder of this node; send each finished trial folder, packed, just
    before its result (packing runs off the event loop that paces the other streams)."""
    local = Path(tempfile.mkdtemp(prefix="harness-shard-"))
    packer = ThreadPoolExecutor(1, thread_name_prefix="harness-pack")
    pending: list[Future[None]] = []

    def ship(result: TrialResult) -> None:
        send(("files", (result.path, _pack(local / result.path))))
        send(("trial", result))

    def forward(message: Message) -> None:
        if message[0] == "trial":
            pending.append(packer.submit(ship, message[1]))
        elif message[0] != "done":
            send(message)

    try:
        await run_shard_async(replace(spec, out_dir=local), forward)
        for future in pending:
            await asyncio.wrap_future(future)
        send(("done", None))
    finally:
        packer.shutdown()
        shutil.rmtree(local, ignore_errors=True)


@functools.cache
def _actors() -> tuple[Any, Any]:
    """The inbox and shard actor classes (defined on first use: Ray is optional)."""
    ray = _ray()

    @ray.remote(num_cpus=0)
    class Inbox:
        def __init__(self) -> None:
            self.messages: list[tuple[int, Message]] = []

        def put(self, shard: int, message: Message) -> None:
            self.messages.append((shard, message))

        def drain(self) -> list[tuple[int, Message]]:
            messages, self.messages = self.messages, []
            return messages

    @ray.remote(num_cpus=1, max_restarts=0, max_task_retries=0)
    class Shard:
        def run(self, spec: ShardSpec, inbox: Any, ship: bool) -> None:
            def send(message: Message) -> None:
                inbox.put.remote(spec.index, message)  # ordered, and never waited on

            where = {"node": ray.util.get_node_ip_address(), "pid": os.getpid()}
            send(("worker", where))
            runner = _run_shipping(spec, send) if ship else run_shard_async(spec, send)
            asyncio.run(runner)

    return Inbox, Shard


def _lost_reason(index: int, where: dict[str, Any] | None, exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    at = f" (node {where['node']}, pid {where['pid']})" if where else ""
    return f"the Ray worker of shard {index}{at} was lost before this trial finished: {first}"


async def run_suite_on_ray(scenarios: list[Scenario], *, out_dir: Path, shards: int | None = None,
                           address: str | None = None, concurrency: int = 4,
                           ship_recordings: bool = False,
                           on_progress: Callable[[ProgressEvent], None] | None = None,
                           on_trial_done: Callable[[TrialResult], None] | None = None,
                           on_worker: Callable[[int, dict[str, Any]], None] | None = None,
                           **kwargs: Any) -> RunResult:
    """:func:`~harness.runner.suite.run_suite` with its trials sharded over Ray actors.

    ``address`` is the cluster's (``ray.init``'s); without it the run joins the cluster this
    process is connected to, or starts a local one. ``shards`` defaults to the cluster's CPUs;
    ``concurrency`` is split between the shards. ``on_worker(shard, {"node", "pid"})`` is told
    where each shard runs.
    """
    ray = _ray()
    started_here = not ray.is_initialized()
    with contextlib.ExitStack() as stack:
        if started_here:
            # A cluster of its own, unless the user chose how Ray authenticates.
            if address in (None, "local") and not os.environ.get("RAY_ADDRESS") \
                    and "RAY_AUTH_MODE" not in os.environ:
                stack.enter_context(own_token_auth())
            await asyncio.to_thread(functools.partial(
                ray.init, address=address, include_dashboard=False, log_to_driver=False,
                logging_level="WARNING", configure_logging=False))
            stack.callback(ray.shutdown)
        return await _run_on_ray(ray, scenarios, out_dir=out_dir, shards=shards,
                                 concurrency=concurrency, ship_recordings=ship_recordings,
                                 on_progress=on_progress, on_trial_done=on_trial_done,
                                 on_worker=on_worker, **kwargs)


async def _run_on_ray(ray: Any, scenarios: list[Scenario], *, out_dir: Path, shards: int | None,
                      concurrency: int, ship_recordings: bool,
                      on_progress: Callable[[ProgressEvent], None] | None,
                      on_trial_done: Callable[[TrialResult], None] | None,
                      on_worker: Callable[[int, dict[str, Any]], None] | None,
                      **kwargs: Any) -> RunResult:
    """The run itself, on the cluster ``ray`` is connected to."""
    if shards is None:
        shards = max(1, int(ray.cluster_resources().get("CPU", 1)))
    specs = shard_specs(scenarios, shards, out_dir=Path(out_dir).resolve(),
                        concurrency=concurrency, **kwargs)
    run = ShardedRun(specs, on_progress=on_progress, on_trial_done=on_trial_done)
    inbox_cls, shard_cls = _actors()
    inbox = inbox_cls.remote()
    workers = {s.index: shard_cls.remote() for s in specs}
    calls = {workers[s.index].run.remote(s, inbox, ship_recordings): s.index for s in specs}
    where: dict[int, dict[str, Any]] = {}
    running = {s.index for s in specs}

    def deliver(batch: list[tuple[int, Message]]) -> None:
        for shard, message in batch:
            kind, body = message
            if kind == "worker":
                where[shard] = body
                if on_worker is not None:
                    on_worker(shard, body)
            elif kind == "files":
                _unpack(body[1], run.run_dir / body[0])
            else:
                run.receive(shard, message)
                if kind == "done":
                    running.discard(shard)

    returned_at: float | None = None
    try:
        while running:
            deliver(await asyncio.to_thread(ray.get, inbox.drain.remote()))
            ready, _ = await asyncio.to_thread(
                ray.wait, list(calls), num_returns=len(calls), timeout=POLL_S)
            for ref in ready:
                index = calls.pop(ref)
                try:
                    await asyncio.to_thread(ray.get, ref)
                except Exception as exc:  # noqa: BLE001 - any failure loses the shard
                    # what the shard sent before it died is in the inbox: deliver it first
                    deliver(await asyncio.to_thread(ray.get, inbox.drain.remote()))
                    running.discard(index)
                    run.lose(index, _lost_reason(index, where.get(index), exc))
            if not calls and running:
                # every call returned: its last messages may still be on their way
                returned_at = returned_at or time.monotonic()
                if time.monotonic() - returned_at > LAST_MESSAGES_S:
                    for index in sorted(running):
                        run.lose(index, f"shard {index} ended without reporting its trials")
                    running.clear()
    except BaseException:
        run.stop()
        raise
    finally:
        for actor in [*workers.values(), inbox]:
            with contextlib.suppress(Exception):
                ray.kill(actor)
    return run.finish()
