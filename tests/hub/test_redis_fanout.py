"""With HUB_REDIS_URL, an emit on one node reaches a socket held by another."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hub.keys import SIO
from hub.realtime import user_room
from tests.support.hubs import StartHub
from tests.support.waiting import WAIT


async def test_emit_crosses_nodes(start_hub: StartHub, redis_url: str) -> None:
    # A channel of our own keeps concurrent runs on one Redis from seeing each other.
    channel = f"hub-test-{uuid.uuid4().hex}"
    node_a = await start_hub(HUB_REDIS_URL=redis_url, HUB_REDIS_CHANNEL=channel)
    node_b = await start_hub(HUB_REDIS_URL=redis_url, HUB_REDIS_CHANNEL=channel)
    client = await node_b.connect("/customer", node_b.token("customer", "c-1"))
    received: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    client.on("notice", lambda data: received.done() or received.set_result(data), namespace="/customer")

    room = user_room("c-1", "customer")

    async def emit_until_received() -> None:
        # The Redis subscription of node B starts with its first socket; emit until it listens.
        while not received.done():
            await node_a.app[SIO].emit("notice", {"from": "a"}, room=room, namespace="/customer")
            await asyncio.wait([received], timeout=0.2)

    await asyncio.wait_for(emit_until_received(), WAIT)
    assert received.result() == {"from": "a"}
