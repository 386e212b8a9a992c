"""The ports tests name ahead are ones the kernel never hands to an outgoing connection."""

from __future__ import annotations

import socket

from ports import _ephemeral_range, free_tcp_port


def test_a_port_named_ahead_is_free_and_outside_the_ephemeral_range() -> None:
    low, high = _ephemeral_range()
    ports = {free_tcp_port() for _ in range(20)}
    assert all(not low <= port <= high for port in ports), (sorted(ports), low, high)
    assert len(ports) > 1  # picked at random, so two workers rarely name the same one
    port = ports.pop()
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))
        server.listen()
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            assert client.getpeername()[1] == port
