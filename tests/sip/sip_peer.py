"""A SIP peer on loopback that refuses every call with one status (a busy line, an unknown
number): it answers INVITE with 100 Trying and then the status, as RFC 3261 says, built with
the harness's own message module but sent over a real UDP socket."""

from __future__ import annotations

import asyncio

from harness.sip import message


class RefusingPeer(asyncio.DatagramProtocol):
    """``async with RefusingPeer(486) as peer:`` then dial ``peer.uri``."""

    def __init__(self, status: int, host: str = "127.0.0.1") -> None:
        self.status = status
        self.host = host
        self.requests: list[str] = []
        self.invites: list[message.Request] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0

    @property
    def uri(self) -> str:
        return f"sip:agent@{self.host}:{self.port}"

    async def __aenter__(self) -> RefusingPeer:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: self,
                                                           local_addr=(self.host, 0))
        self.transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.transport is not None:
            self.transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        msg = message.parse(data)
        if not isinstance(msg, message.Request):
            return
        self.requests.append(msg.method)
        if msg.method == "INVITE":
            self.invites.append(msg)
        if msg.method == "INVITE" and self.transport is not None:
            for status in (100, self.status):
                response = message.response_to(msg, status, to_tag=None if status == 100
                                               else "refusing")
                self.transport.sendto(message.serialize(response), addr)

