"""The shutdown benchmark's socket holder (``drain.py`` starts it as a separate process): raw
Engine.IO websockets on one namespace, each recording when the hub said ``server:shutdown`` and
when its websocket closed.

Raw websockets (aiohttp, packet by packet) instead of python-socketio's client: thousands of them
in one process cost little, and nothing in between hides when the close frame came. Protocol: one
JSON line on stdin (``url``, ``namespace``, ``tokens``, ``concurrency``, ``wait``); ``ready`` on
stdout once every socket is connected; then, once every socket has closed or ``wait`` seconds have
passed, one JSON line: per socket ``[told, closed]`` as ``time.time()`` or null.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import aiohttp
from clientside import bounded

SHUTDOWN_EVENT = "server:shutdown"


class Held:
    """One socket: open, connected to the namespace, then read until it closes."""

    def __init__(self, session: aiohttp.ClientSession, url: str, namespace: str, token: str) -> None:
        self.session, self.url, self.namespace, self.token = session, url, namespace, token
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.told: float | None = None
        self.closed: float | None = None

    async def open(self, within: float) -> None:
        async with asyncio.timeout(within):
            self.ws = await self.session.ws_connect(f"{self.url}/socket.io/?EIO=4&transport=websocket")
            opening = await self.ws.receive()
            if not str(opening.data).startswith("0{"):
                raise RuntimeError(f"no Engine.IO OPEN packet: {opening.data!r}")
            await self.ws.send_str(f"40{self.namespace},{json.dumps({'token': self.token})}")
            answer = await self.ws.receive()
            if not str(answer.data).startswith(f"40{self.namespace},"):
                raise RuntimeError(f"not connected to {self.namespace}: {answer.data!r}")

    async def read(self) -> None:
        """Answer pings; note the shutdown notice and the close. Returns once the websocket is
        closed (the close frame, or the connection dropped)."""
        assert self.ws is not None
        async for message in self.ws:  # ends at the close frame or the connection's end
            data = message.data
            if data == "2":
                await self.ws.send_str("3")
            elif isinstance(data, str) and data.startswith(f"42{self.namespace},") and SHUTDOWN_EVENT in data:
                self.told = time.time()
        self.closed = time.time()


async def main() -> None:
    config: dict[str, Any] = json.loads(sys.stdin.readline())
    timeout = aiohttp.ClientTimeout(total=None, connect=config["wait"])
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        held = [Held(session, config["url"], config["namespace"], t) for t in config["tokens"]]
        await bounded((h.open(config["wait"]) for h in held), config["concurrency"])
        readers = [asyncio.create_task(h.read()) for h in held]
        print("ready", flush=True)
        await asyncio.wait(readers, timeout=config["wait"])
        for task in readers:
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*readers, return_exceptions=True)
        print(json.dumps([[h.told, h.closed] for h in held]), flush=True)
        for h in held:
            if h.ws is not None and not h.ws.closed:
                await h.ws.close()


if __name__ == "__main__":
    asyncio.run(main())
