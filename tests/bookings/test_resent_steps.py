"""A job step resent because its ack was lost (a flaky phone network) is answered as the first
one was, and records and announces nothing twice: no second timeline entry, alert, notification
or side record, for every step."""

from __future__ import annotations

import uuid

from hub.keys import CONTEXT
from tests.support.bookings import CENTRE, book_and_pay, open_peer, soonest_slot, start
from tests.support.clients import Peer
from tests.support.hubs import StartHub

RESENDS = 3


async def test_every_resent_step_has_one_effect(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=1, HUB_TRACKING_GEOFENCE_METERS="10")
    pool = hub.app[CONTEXT].pool
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    agent = await open_peer(hub, peers, "/support", "support", "a-1")
    # A slot less than a day ahead, so that an ETA of a day (the most a worker may give) is late.
    day, start_time = soonest_slot()
    booking = await book_and_pay(hub, date=day, start_time=start_time)
    offer = await worker.next("offer")
    await worker.ok("offer:accept", {"offer_id": offer["offer_id"]})
    booking_id = uuid.UUID(booking["id"])
    lat, lng = CENTRE
    # An ETA long after the slot starts (an alert), an arrival far from the address (flagged).
    steps = [
        ("job:depart", {"booking_id": booking["id"], "lat": lat, "lng": lng + 0.02, "eta_minutes": 24 * 60}),
        ("job:arrive", {"booking_id": booking["id"], "lat": lat, "lng": lng + 0.01}),
        ("job:start", {"booking_id": booking["id"]}),
        ("job:finish", {"booking_id": booking["id"]}),
    ]
    for event, payload in steps:
        first = await worker.ok(event, payload)
        entries = await pool.fetchval(
            "SELECT count(*) FROM booking_timeline WHERE booking_id = $1", booking_id
        )
        told = await pool.fetchval("SELECT count(*) FROM notifications WHERE user_id = 'c-1'")
        closes = await pool.fetchval(
            "SELECT read_only_after FROM conversations WHERE booking_id = $1", str(booking_id)
        )
        for _ in range(RESENDS):
            again = await worker.ok(event, payload)
            assert again["booking"]["status"] == first["booking"]["status"], event
            assert again.get("outside_geofence") == first.get("outside_geofence"), event
        assert (
            await pool.fetchval("SELECT count(*) FROM booking_timeline WHERE booking_id = $1", booking_id)
            == entries
        ), event
        assert await pool.fetchval("SELECT count(*) FROM notifications WHERE user_id = 'c-1'") == told, event
        assert (
            await pool.fetchval(
                "SELECT read_only_after FROM conversations WHERE booking_id = $1", str(booking_id)
            )
            == closes
        ), event
    kinds = [
        r["kind"]
        for r in await pool.fetch(
            "SELECT kind FROM booking_timeline WHERE booking_id = $1 ORDER BY at, id", booking_id
        )
    ]
    assert kinds.count("late") == 1
    assert kinds.count("arrival_flagged") == 1
    for kind in ("departed", "arrived", "started", "finished"):
        assert kinds.count(kind) == 1, kinds
    alerts = {(await agent.next("order:alert"))["kind"] for _ in range(2)}
    assert alerts == {"late", "arrival_flagged"}
    assert agent.pending("order:alert") == []
