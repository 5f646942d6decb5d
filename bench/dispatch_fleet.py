"""The dispatch benchmark's workers: one Socket.IO client each on ``/worker``, all in this process,
recording every offer event with the time it arrived."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import socketio
from clientside import bounded
from runner import say

WORKER_NS = "/worker"
EVENTS = ("offer", "offer:taken", "offer:expired", "offer:withdrawn")


@dataclass
class Worker:
    """One worker's socket and what it received."""

    sub: str
    client: socketio.AsyncClient
    events: dict[str, list[tuple[float, Any]]] = field(default_factory=lambda: collections.defaultdict(list))
    disconnects: int = 0
    on_offer: Callable[[Worker, float, Any], None] | None = None

    async def call(self, event: str, data: Any, within: float) -> Any:
        return await self.client.call(event, data, namespace=WORKER_NS, timeout=within)


@dataclass
class Fleet:
    timeout: float  # each handshake, each ack
    concurrency: int  # handshakes in flight at once
    workers: list[Worker] = field(default_factory=list)
    closing: bool = False
    news: asyncio.Event = field(default_factory=asyncio.Event)  # set on every event received

    async def connect(self, url: str, http: aiohttp.ClientSession, tokens: dict[str, str]) -> None:
        """A socket for each worker (id -> token), then ``presence:set online`` for each."""
        started = time.perf_counter()
        self.workers = await bounded(
            (self._connect(url, http, sub, token) for sub, token in tokens.items()), self.concurrency
        )
        acks = await bounded(
            (w.call("presence:set", {"status": "online"}, self.timeout) for w in self.workers),
            self.concurrency,
        )
        refused = [a for a in acks if not (isinstance(a, dict) and a.get("ok"))]
        if refused:
            raise RuntimeError(f"presence:set refused: {refused[:3]}")
        say(f"{len(tokens)} workers connected and online in {time.perf_counter() - started:.1f} s")

    async def _connect(self, url: str, http: aiohttp.ClientSession, sub: str, token: str) -> Worker:
        client = socketio.AsyncClient(
            reconnection=False,
            handle_sigint=False,
            http_session=http,
            request_timeout=self.timeout,
        )
        worker = Worker(sub, client)

        def recorder(event: str) -> Callable[..., None]:
            def on_event(data: Any = None) -> None:
                now = time.perf_counter()
                worker.events[event].append((now, data))
                self.news.set()
                if event == "offer" and worker.on_offer is not None:
                    worker.on_offer(worker, now, data)

            return on_event

        for event in EVENTS:
            client.on(event, recorder(event), namespace=WORKER_NS)

        def on_disconnect(reason: Any = None) -> None:
            if not self.closing:
                worker.disconnects += 1

        client.on("disconnect", on_disconnect, namespace=WORKER_NS)
        await client.connect(
            url,
            namespaces=[WORKER_NS],
            auth={"token": token},
            transports=["websocket"],
            wait_timeout=self.timeout,
        )
        return worker

    async def until(self, condition: Callable[[], bool], within: float) -> bool:
        """Wait (at most ``within`` seconds) until ``condition()`` holds, re-checking it on each
        event any worker receives."""
        deadline = time.perf_counter() + within
        while not condition():
            self.news.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.news.wait(), remaining)
        return True

    async def disconnect(self) -> None:
        """Every socket, within 20 s; from now on a disconnect is ours, not counted."""
        self.closing = True
        with contextlib.suppress(Exception):
            async with asyncio.timeout(20):
                await bounded((w.client.disconnect() for w in self.workers), 50)
