"""Dispatch across two hub nodes sharing PostgreSQL and Redis: the offer reaches a worker held
by the other node, the race is decided in the database, and the customer on the first node
follows the job live."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hub.keys import CONTEXT, SIO
from hub.realtime import user_room
from tests.support.bookings import CENTRE, add_service, add_worker, booking_request
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.waiting import WAIT

ENV = {"HUB_BOOKING_MIN_LEAD_MINUTES": "0", "HUB_TIMER_SWEEP_SECONDS": "0.3"}


async def listening(sender: RunningHub, peer: Peer, namespace: str, room: str) -> None:
    """Wait until the node holding ``peer`` hears emits from ``sender`` (its Redis subscription
    starts with its first socket)."""
    heard: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    peer.client.on("probe", lambda data: heard.done() or heard.set_result(data), namespace=namespace)

    async def probe() -> None:
        while not heard.done():
            await sender.app[SIO].emit("probe", {}, room=room, namespace=namespace)
            await asyncio.wait([heard], timeout=0.2)

    await asyncio.wait_for(probe(), WAIT)


async def test_offer_accept_and_tracking_across_nodes(start_hub: StartHub, redis_url: str) -> None:
    channel = f"hub-test-{uuid.uuid4().hex}"
    env = {**ENV, "HUB_REDIS_URL": redis_url, "HUB_REDIS_CHANNEL": channel}
    node_a = await start_hub(**env)
    node_b = await start_hub(**env)
    pool = node_a.app[CONTEXT].pool
    await add_service(pool)
    for n in (1, 2):
        await add_worker(pool, f"w-{n}", km_east=float(n))
    peers = []
    try:
        customer = await Peer("/customer").connect(node_a.url, node_a.token("customer", "c-1"))
        near = await Peer("/worker").connect(node_b.url, node_b.token("worker", "w-1"))
        far = await Peer("/worker").connect(node_a.url, node_a.token("worker", "w-2"))
        peers = [customer, near, far]
        await listening(node_a, near, "/worker", user_room("w-1", "worker"))
        await listening(node_b, customer, "/customer", user_room("c-1", "customer"))
        await listening(node_b, far, "/worker", user_room("w-2", "worker"))

        status, booking = await node_a.http(
            "POST", "/api/v1/bookings", node_a.token("customer", "c-1"), json=booking_request()
        )
        assert status == 201
        status, _ = await node_a.http(
            "POST",
            f"/api/v1/admin/bookings/{booking['id']}/mark-paid",
            node_a.token("admin", "admin-1"),
            json={"payment_ref": "p-1"},
        )
        assert status == 200
        offers = [await near.next("offer"), await far.next("offer")]
        acks = await asyncio.gather(
            near.call("offer:accept", {"offer_id": offers[0]["offer_id"]}),
            far.call("offer:accept", {"offer_id": offers[1]["offer_id"]}),
        )
        assert sorted(ack["ok"] for ack in acks) == [False, True], acks
        winner = near if acks[0]["ok"] else far
        loser_ack = acks[1] if acks[0]["ok"] else acks[0]
        assert loser_ack["error"]["code"] == "offer_taken"
        lat, lng = CENTRE
        await winner.ok("job:depart", {"booking_id": booking["id"], "lat": lat, "lng": lng, "eta_minutes": 9})
        await winner.ok("job:arrive", {"booking_id": booking["id"], "lat": lat, "lng": lng})
        # Every change reached the customer once, whichever node relayed it; two relays may
        # deliver out of order, so clients order by the timeline entry id.
        expected = ["created", "paid", "offered", "accepted", "departed", "arrived"]
        updates = []
        while len(updates) < len(expected):
            updates.append(await customer.next("booking:updated"))
        updates.sort(key=lambda u: u["entry"]["id"])
        assert [u["entry"]["kind"] for u in updates] == expected
        assert updates[4]["booking"]["status"] == "on_the_way"
    finally:
        for peer in peers:
            await peer.close()
