"""Socket.IO test clients that record what the hub sends, so a test can await the next event."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import socketio

from tests.support.waiting import WAIT

SERVER_EVENTS = (
    "chat:message",
    "chat:typing",
    "chat:receipt",
    "conversation:assigned",
    "conversation:transferred",
    "conversation:resolved",
    "conversation:reopened",
    "support:queue",
    "support:queue_changed",
    "presence:changed",
    "presence:snapshot",
    "notification",
    "notifications:unread",
    "sync",
    "sync:required",
    "server:shutdown",
    "server:abuse",
    "auth:expired",
    "offer",
    "offer:taken",
    "offer:expired",
    "offer:withdrawn",
    "booking:updated",
    "booking:location",
    "order:alert",
    "dispatch:escalated",
)


class Peer:
    """One person's socket: ``call`` sends an event and returns its ack, ``next`` awaits a push."""

    def __init__(self, namespace: str, serializer: str = "default") -> None:
        self.namespace = namespace
        self.client = socketio.AsyncClient(reconnection=False, serializer=serializer)
        self.queues: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        for name in SERVER_EVENTS:
            self.client.on(name, self._recorder(name), namespace=namespace)

    def _recorder(self, name: str) -> Any:
        async def record(data: Any = None) -> None:
            await self.queues[name].put(data)

        return record

    async def connect(self, url: str, token: str, **auth: Any) -> Peer:
        await self.client.connect(
            url,
            namespaces=[self.namespace],
            auth={"token": token, **auth},
            transports=["websocket"],
            wait_timeout=WAIT,
        )
        return self

    async def call(self, event: str, data: Any = None) -> Any:
        return await self.client.call(event, data, namespace=self.namespace, timeout=WAIT)

    async def ok(self, event: str, data: Any = None) -> Any:
        """Call and insist on success; returns the ack's data."""
        ack = await self.call(event, data)
        assert ack["ok"] is True, ack
        return ack["data"]

    async def error(self, event: str, data: Any = None) -> str:
        """Call and insist on an error ack; returns its code."""
        ack = await self.call(event, data)
        assert ack["ok"] is False, ack
        return str(ack["error"]["code"])

    async def next(self, event: str, within: float = WAIT) -> Any:
        return await asyncio.wait_for(self.queues[event].get(), within)

    async def next_where(self, event: str, predicate: Any, within: float = WAIT) -> Any:
        """The next ``event`` whose data satisfies ``predicate``, skipping others."""

        async def find() -> Any:
            while True:
                data = await self.queues[event].get()
                if predicate(data):
                    return data

        return await asyncio.wait_for(find(), within)

    def pending(self, event: str) -> list[Any]:
        """What has arrived and not been consumed (for asserting that something did NOT arrive)."""
        queue = self.queues[event]
        items = []
        while not queue.empty():
            items.append(queue.get_nowait())
        return items

    async def close(self) -> None:
        await self.client.disconnect()
