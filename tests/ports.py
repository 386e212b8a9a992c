"""Ports named ahead, for a server a test starts later on a port it must know first."""

from __future__ import annotations

import random
import socket
from pathlib import Path

RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
FLOOR = 20000
"""The lowest port handed out: above the registered services a machine may be running and Ray's
worker ports (10002-19999 by default; a Ray head given a port among them never came up)."""


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(part) for part in RANGE_FILE.read_text().split())
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default
    return low, high


def free_tcp_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now, outside the kernel's ephemeral range.

    A port from ``bind(0)`` is ephemeral: until the server listens on it, any outgoing
    connection on the machine (another test's WebSocket, a worker's HTTP request) may be given
    it, and the server then fails with "address already in use". Ports outside that range are
    never handed out by the kernel, so only another test that names a port ahead could take
    one, and picking at random among thousands makes that unlikely.
    """
    low, high = _ephemeral_range()
    candidates = range(FLOOR, low) if low - FLOOR >= 1000 else range(high + 1, 65536)
    pick = random.SystemRandom()
    for _ in range(100):
        port = pick.choice(candidates) if len(candidates) else 0
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError(f"no free TCP port on {host} in {candidates}")
