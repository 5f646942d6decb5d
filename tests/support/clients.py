"""Socket.IO test clients that record what the hub sends, so a test can await the next event."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from typing import Any

import aiohttp
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
    "item:updated",
    "console:snapshot",
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


class RawSocket:
    """A Socket.IO connection spoken packet by packet over a websocket, to send what no client
    library would: ``send("2/customer,5[...]")`` sends one Socket.IO packet as written."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.session = session
        self.ws = ws

    @classmethod
    async def open(cls, url: str) -> RawSocket:
        session = aiohttp.ClientSession()
        try:
            ws = await session.ws_connect(
                f"{url}/socket.io/?EIO=4&transport=websocket", timeout=aiohttp.ClientWSTimeout(ws_close=WAIT)
            )
            opening = await ws.receive(timeout=WAIT)
            assert isinstance(opening.data, str), opening
            assert opening.data.startswith("0{"), opening
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def send(self, packet: str) -> None:
        await self.ws.send_str("4" + packet)  # an Engine.IO message carrying the Socket.IO packet

    async def receive(self, within: float = WAIT) -> str | None:
        """The next Socket.IO packet the hub sends (answering pings meanwhile); None once closed."""
        async with asyncio.timeout(within):
            while True:
                message = await self.ws.receive()
                if message.type != aiohttp.WSMsgType.TEXT or message.data == "1":
                    return None  # the websocket closed, or Engine.IO said close
                if message.data == "2":
                    await self.ws.send_str("3")
                elif message.data.startswith("4"):
                    return str(message.data[1:])

    async def connect(self, namespace: str, auth: Any) -> Any:
        """Connect to ``namespace``; the CONNECT or CONNECT_ERROR packet's data."""
        await self.send(f"0{namespace},{json.dumps(auth)}")
        answer = await self.receive()
        assert answer is not None
        assert answer.startswith(("0", "4")), answer
        return json.loads(answer.partition(",")[2])

    async def ack(self, namespace: str, ack_id: int) -> Any:
        """The data of the next packet, which must be the ack ``ack_id`` on ``namespace``."""
        answer = await self.receive()
        prefix = f"3{namespace},{ack_id}"
        assert answer is not None
        assert answer.startswith(prefix + "["), answer
        return json.loads(answer.removeprefix(prefix))[0]

    async def close(self) -> None:
        await self.ws.close()
        await self.session.close()
