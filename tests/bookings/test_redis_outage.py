"""Redis down under bookings: dispatch still makes its waves (ranked without presence), a job step
is recorded and acknowledged, and once Redis is back, empty, the worker on the job shows busy."""

from __future__ import annotations

import uuid

from hub.keys import CONTEXT
from tests.support.bookings import CENTRE, book_and_pay, open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import StartHub
from tests.support.redis_server import RedisServer
from tests.support.waiting import wait_until


async def test_dispatch_and_job_steps_ride_out_a_redis_outage(
    start_hub: StartHub, own_redis: RedisServer, peers: list[Peer]
) -> None:
    hub = await start(
        start_hub, workers=1, HUB_REDIS_URL=own_redis.url, HUB_REDIS_CHANNEL=f"hub-test-{uuid.uuid4().hex}"
    )
    pool, presence = hub.app[CONTEXT].pool, hub.app[CONTEXT].presence
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")

    await own_redis.kill()
    booking = await book_and_pay(hub)  # the wave reads presence to rank the candidates

    async def offered() -> bool:
        count = await pool.fetchval(
            "SELECT count(*) FROM offers WHERE booking_id = $1", uuid.UUID(booking["id"])
        )
        return bool(count)

    await wait_until(offered)
    (offer,) = (await worker.ok("offer:list"))["items"]
    await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})
    lat, lng = CENTRE
    departed = await worker.ok(
        "job:depart", {"booking_id": booking["id"], "lat": lat, "lng": lng, "eta_minutes": 10}
    )  # recorded: presence catches up later, the worker is not told to send it again
    assert departed["booking"]["status"] == "on_the_way"

    await own_redis.start()  # empty: the job in progress is put back from the bookings

    async def busy() -> bool:
        state = await presence.get("w-1", "worker")
        return state is not None and state.status == "busy" and state.booking_id == booking["id"]

    await wait_until(busy)
