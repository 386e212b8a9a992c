"""A real Ray cluster on loopback for the Ray executor's tests: a head (no CPUs: it only
coordinates) and a worker node with 2 CPUs, started with ``ray start``, and this process
connected to it.

The cluster authenticates with a token of its own (:func:`own_token_auth`), so the tests do not
depend on what the user's home holds: a ``~/.ray/auth_token`` left by an earlier Ray cluster
would otherwise switch the nodes to token authentication while this process sends no token.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from ports import free_tcp_port

from harness.runner.ray_executor import own_token_auth

REPO = Path(__file__).resolve().parents[2]
RAY = Path(sys.executable).with_name("ray")
HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
"""Loopback addresses that Ray keeps as given (it swaps 127.0.0.1 for the machine's address)."""


def _start(args: list[str], temp_dir: str, env: dict[str, str]) -> subprocess.Popen:
    # --block keeps the node's processes under this one: stopping it stops exactly them
    return subprocess.Popen([str(RAY), "start", "--block", "--disable-usage-stats",
                             f"--temp-dir={temp_dir}", *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _wait_for_nodes(address: str, n: int, env: dict[str, str], timeout_s: float = 60) -> None:
    probe = (f"import ray, time\nray.init(address={address!r}, _node_ip_address={HEAD_IP!r}, "
             f"logging_level='ERROR')\nt = time.time()\n"
             f"while sum(x['Alive'] for x in ray.nodes()) < {n}:\n"
             f"    assert time.time() - t < {timeout_s}, ray.nodes()\n    time.sleep(0.2)\n")
    subprocess.run([sys.executable, "-c", probe], env=env, check=True, timeout=timeout_s + 30)


@contextlib.contextmanager
def loopback_cluster() -> Iterator[str]:
    """Start the cluster, connect this process to it; yields its address."""
    import ray  # noqa: PLC0415 - the tests skip without it

    port = free_tcp_port(HEAD_IP)
    address = f"{HEAD_IP}:{port}"
    # short paths: Ray's unix sockets live under the temp dirs
    dirs = [tempfile.mkdtemp(prefix="rh", dir="/tmp"), tempfile.mkdtemp(prefix="rw", dir="/tmp")]
    nodes: list[subprocess.Popen] = []
    with own_token_auth(Path(dirs[0])):
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        try:
            nodes.append(_start(["--head", f"--node-ip-address={HEAD_IP}", f"--port={port}",
                                 "--num-cpus=0", "--include-dashboard=false"], dirs[0], env))
            _wait_for_nodes(address, 1, env)
            nodes.append(_start([f"--address={address}", f"--node-ip-address={WORKER_IP}",
                                 "--num-cpus=2"], dirs[1], env))
            _wait_for_nodes(address, 2, env)
            ray.init(address=address, _node_ip_address=HEAD_IP, logging_level="ERROR",
                     log_to_driver=False)
            yield address
        finally:
            if ray.is_initialized():
                ray.shutdown()
            for node in reversed(nodes):
                node.send_signal(signal.SIGTERM)
                try:
                    node.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(node.pid, signal.SIGKILL)
                    node.wait()
    for d in dirs:
        shutil.rmtree(d, ignore_errors=True)
