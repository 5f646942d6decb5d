"""A TCP relay in front of a hub node: the clients' network, which the soak cuts.

Clients connect to the relay, the relay to the node. ``cut()`` aborts every relayed connection on
both sides at once, as a phone that loses its network does: packets in flight are gone, the client
sees a reset, the node a dead socket. New connections are relayed again at once, to whatever
process listens on the node's port then (a node restarted after ``kill -9`` keeps its port).
"""

from __future__ import annotations

import asyncio
import contextlib

CONNECT_TIMEOUT = 5.0
CHUNK = 64 * 1024


class Relay:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._links: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()

    async def start(self) -> Relay:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cut(self) -> int:
        """Abort every connection through the relay; returns how many there were."""
        links, self._links = self._links, set()
        for client, upstream in links:
            client.transport.abort()
            upstream.transport.abort()
        return len(links)

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", self.upstream_port), CONNECT_TIMEOUT
            )
        except (OSError, TimeoutError):
            writer.transport.abort()  # the node is down: the client sees a refused connection
            return
        link = (writer, up_writer)
        self._links.add(link)
        pipes = [
            asyncio.ensure_future(_pipe(reader, up_writer)),
            asyncio.ensure_future(_pipe(up_reader, writer)),
        ]
        try:
            # Either side ending ends the connection: half-closed relays would hide a dead node.
            await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pipe in pipes:
                pipe.cancel()
            self._links.discard(link)
            writer.transport.abort()
            up_writer.transport.abort()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError):
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
