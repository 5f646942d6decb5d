"""Booking to completion over real sockets: offers with the alert hint, first accept wins,
re-offers on timeout, escalation, deadlines that survive a restart, and live tracking."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

from bookings.keys import BOOKINGS
from hub.keys import CONTEXT
from tests.support.bookings import (
    CENTRE,
    FAST,
    add_worker,
    book_and_pay,
    booking_request,
    open_peer,
    start,
)
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.waiting import wait_until

ALERT = {"sound": "new_offer", "vibrate": [400, 200, 400], "repeat_until_seen": True, "urgent": True}
Connect = Callable[..., Awaitable[Peer]]


async def test_full_story(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=3)
    workers = [await open_peer(hub, peers, "/worker", "worker", f"w-{n}") for n in (1, 2, 3)]
    for worker in workers:
        await worker.ok("presence:set", {"status": "online"})
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    agent = await open_peer(hub, peers, "/support", "support", "agent-1")

    status, quoted = await hub.http(
        "POST", "/api/v1/bookings/quote", hub.token("customer", "c-1"), json=booking_request()
    )
    assert status == 200, quoted
    assert quoted["base_cents"] == 15000  # 3 h x 50.00
    assert (
        quoted["total_cents"] == quoted["base_cents"] + quoted["surcharges_cents"] - quoted["discounts_cents"]
    )
    assert {line["code"] for line in quoted["discounts"]} == {"first_booking"}

    booking = await book_and_pay(hub)
    assert booking["total_cents"] == quoted["total_cents"]
    offers = [await worker.next("offer") for worker in workers]
    assert {o["booking_id"] for o in offers} == {booking["id"]}
    for offer in offers:
        assert offer["alert"] == ALERT
        assert offer["order"]["address"]["line"] == "88 Nanjing Rd"
        assert offer["order"]["special_requests"] == "Please bring slippers"
        assert offer["order"]["pay_cents"] > 0
        assert offer["order"]["distance_km"] > 0
        assert offer["deadline"].endswith("Z")
    assert (await workers[0].ok("offer:seen", {"offer_id": offers[0]["offer_id"]}))["seen_at"]

    # Two accept at the same moment: exactly one wins, the other is told offer_taken.
    acks = await asyncio.gather(
        workers[0].call("offer:accept", {"offer_id": offers[0]["offer_id"]}),
        workers[1].call("offer:accept", {"offer_id": offers[1]["offer_id"]}),
    )
    winners = [i for i, ack in enumerate(acks) if ack["ok"]]
    assert len(winners) == 1, acks
    loser = 1 - winners[0]
    assert acks[loser]["error"]["code"] == "offer_taken"
    winner = workers[winners[0]]
    winner_id = f"w-{winners[0] + 1}"
    assert acks[winners[0]]["data"]["booking"]["worker_id"] == winner_id
    taken = await workers[2].next("offer:taken")
    assert taken == {"offer_id": offers[2]["offer_id"], "booking_id": booking["id"]}
    late = await workers[2].call("offer:accept", {"offer_id": offers[2]["offer_id"]})
    assert late["error"]["code"] == "offer_taken"

    # The winner's phone lost the ack and sends the accept again: same answer, nothing changes.
    again = await winner.ok("offer:accept", {"offer_id": offers[winners[0]]["offer_id"]})
    assert again["booking"]["worker_id"] == winner_id
    assert again["conversation_id"] == acks[winners[0]]["data"]["conversation_id"]
    accepted = await customer.next_where("booking:updated", lambda u: u["entry"]["kind"] == "accepted")
    assert accepted["booking"]["worker_id"] == winner_id

    # The job, step by step: live to the customer (booking:updated and a notification).
    lat, lng = CENTRE
    await winner.ok(
        "job:depart", {"booking_id": booking["id"], "lat": lat, "lng": lng + 0.01, "eta_minutes": 12}
    )
    state = await hub.app[CONTEXT].presence.get(winner_id, "worker")
    assert state is not None
    assert state.status == "busy"
    assert state.booking_id == booking["id"]
    note = await customer.next_where("notification", lambda n: n["title"] == "Your worker is on the way")
    assert "ETA 12 min" in note["body"]
    forwarded = await winner.ok("job:location", {"booking_id": booking["id"], "lat": lat, "lng": lng + 0.005})
    assert forwarded == {"forwarded": True}
    location = await customer.next("booking:location")
    assert location["booking_id"] == booking["id"]
    assert 400 < location["distance_m"] < 600
    arrived = await winner.ok("job:arrive", {"booking_id": booking["id"], "lat": lat, "lng": lng + 0.0005})
    assert arrived["outside_geofence"] is False
    await winner.ok("job:start", {"booking_id": booking["id"]})
    resent = await winner.ok("job:start", {"booking_id": booking["id"]})  # its ack was lost
    assert resent["booking"]["status"] == "in_service"
    await winner.ok("job:finish", {"booking_id": booking["id"]})
    kinds = []
    while "finished" not in kinds:
        update = await customer.next("booking:updated")
        kinds.append(update["entry"]["kind"])
    assert kinds == ["departed", "arrived", "started", "finished"]
    assert update["booking"]["status"] == "completed"
    for title in ("Your worker has arrived", "Service started", "Service finished"):
        await customer.next_where("notification", lambda n, t=title: n["title"] == t)
    monitor = await agent.next_where("booking:updated", lambda u: u["entry"]["kind"] == "finished")
    assert monitor["booking"]["id"] == booking["id"]
    state = await hub.app[CONTEXT].presence.get(winner_id, "worker")
    assert state is not None
    assert state.status == "online"

    status, shown = await hub.http("GET", f"/api/v1/bookings/{booking['id']}", hub.token("customer", "c-1"))
    assert status == 200
    assert [e["kind"] for e in shown["timeline"]] == [
        "created", "paid", "offered", "accepted", "departed", "arrived", "started", "finished",
    ]  # fmt: skip
    assert "offers" not in shown["timeline"][2]["data"]  # who else was asked is not the customer's business


async def test_timeout_reoffers_to_the_next_wave(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=2, HUB_DISPATCH_WAVE_SIZE="1", HUB_DISPATCH_OFFER_SECONDS="0.6")
    first, second = [await open_peer(hub, peers, "/worker", "worker", f"w-{n}") for n in (1, 2)]
    booking = await book_and_pay(hub)
    offer = await first.next("offer")  # nearest first
    assert offer["wave"] == 1
    expired = await first.next("offer:expired")
    assert expired["offer_id"] == offer["offer_id"]
    again = await second.next("offer")
    assert again["wave"] == 2
    assert again["booking_id"] == booking["id"]
    assert await first.error("offer:accept", {"offer_id": offer["offer_id"]}) == "offer_expired"
    await second.ok("offer:accept", {"offer_id": again["offer_id"]})
    assert first.pending("offer") == []


async def test_decline_moves_on_at_once_and_is_not_asked_again(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=2, HUB_DISPATCH_WAVE_SIZE="1", HUB_DISPATCH_OFFER_SECONDS="30")
    first, second = [await open_peer(hub, peers, "/worker", "worker", f"w-{n}") for n in (1, 2)]
    await book_and_pay(hub)
    offer = await first.next("offer")
    await first.ok("offer:decline", {"offer_id": offer["offer_id"], "reason": "too far"})
    await second.next("offer", within=3)  # no 30 s wait for the deadline
    # A decline resent after a lost ack is answered the same; accepting it now is refused.
    assert (await first.ok("offer:decline", {"offer_id": offer["offer_id"]}))["status"] == "declined"
    assert await first.error("offer:accept", {"offer_id": offer["offer_id"]}) == "offer_declined"
    assert first.pending("offer") == []


async def test_all_waves_unanswered_escalate_to_support_who_assigns(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(
        start_hub,
        workers=2,
        HUB_DISPATCH_WAVE_SIZE="1",
        HUB_DISPATCH_MAX_WAVES="2",
        HUB_DISPATCH_OFFER_SECONDS="0.4",
    )
    agent = await open_peer(hub, peers, "/support", "support", "agent-1")
    worker = await open_peer(hub, peers, "/worker", "worker", "w-2")
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    booking = await book_and_pay(hub)
    escalated = await agent.next("dispatch:escalated")
    assert escalated["booking"]["id"] == booking["id"]
    assert escalated["reason"] == "all_waves_unanswered"
    assert escalated["waves"] == 2
    await customer.next_where("notification", lambda n: n["title"] == "Finding your worker")
    status, listed = await hub.http("GET", "/api/v1/bookings?escalated=true", hub.token("support", "agent-1"))
    assert status == 200
    assert [b["id"] for b in listed["items"]] == [booking["id"]]

    status, assigned = await hub.http(
        "POST",
        f"/api/v1/admin/bookings/{booking['id']}/assign",
        hub.token("support", "agent-1"),
        json={"worker_id": "w-2"},
    )
    assert status == 200, assigned
    assert assigned["status"] == "accepted"
    assert assigned["worker_id"] == "w-2"
    assert assigned["escalated_at"] is None
    await worker.next_where("notification", lambda n: n["title"] == "New job assigned")
    status, again = await hub.http(
        "POST",
        f"/api/v1/admin/bookings/{booking['id']}/assign",
        hub.token("support", "agent-1"),
        json={"worker_id": "w-1"},
    )
    assert status == 409
    assert again["error"]["code"] == "illegal_transition"


async def test_no_candidates_escalates_at_once(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=0)
    pool = hub.app[CONTEXT].pool
    await add_worker(pool, "w-unvetted", vetted=False)
    await add_worker(pool, "w-far", km_east=40)
    await add_worker(pool, "w-wrong-skill", skills=("nanny",))
    await add_worker(pool, "w-leave")
    on_leave = await open_peer(hub, peers, "/worker", "worker", "w-leave")
    await on_leave.ok("presence:set", {"status": "on_leave"})
    await on_leave.close()  # leave holds with the app closed
    agent = await open_peer(hub, peers, "/support", "support", "agent-1")
    booking = await book_and_pay(hub)
    escalated = await agent.next("dispatch:escalated")
    assert escalated["booking"]["id"] == booking["id"]
    assert escalated["reason"] == "no_candidates"
    assert await pool.fetchval("SELECT count(*) FROM offers") == 0


async def test_expired_certificates_are_never_offered(start_hub: StartHub, peers: list[Peer]) -> None:
    from datetime import date, timedelta

    hub = await start(start_hub, workers=0)
    pool = hub.app[CONTEXT].pool
    await add_worker(pool, "w-expired", cert_expires=date.today() - timedelta(days=1))
    await add_worker(pool, "w-ok", km_east=5)
    ok = await open_peer(hub, peers, "/worker", "worker", "w-ok")
    await book_and_pay(hub)
    await ok.next("offer")
    assert await pool.fetchval("SELECT array_agg(worker_id) FROM offers") == ["w-ok"]


async def test_offer_deadline_fires_after_a_restart(start_hub: StartHub, peers: list[Peer]) -> None:
    env = {"HUB_DISPATCH_WAVE_SIZE": "1", "HUB_DISPATCH_OFFER_SECONDS": "2", "HUB_TIMER_SWEEP_SECONDS": "30"}
    hub = await start(start_hub, workers=2, **env)
    first = await open_peer(hub, peers, "/worker", "worker", "w-1")
    booking = await book_and_pay(hub)
    offer = await first.next("offer")
    await first.close()
    peers.remove(first)
    from tests.support.hubs import stop_hub

    await stop_hub(hub)  # the node dies with the deadline pending
    again = await start_hub(**{**FAST, **env})
    second = await open_peer(again, peers, "/worker", "worker", "w-2")
    # The new node scheduled the deadline from PostgreSQL (the 30 s sweep is not what fires it).
    reoffer = await second.next("offer", within=8)
    assert reoffer["booking_id"] == booking["id"]
    assert reoffer["wave"] == 2
    pool = again.app[CONTEXT].pool
    status = await pool.fetchval("SELECT status FROM offers WHERE id = $1", uuid.UUID(offer["offer_id"]))
    assert status == "expired"


async def test_deadline_firing_twice_has_one_effect(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=3, HUB_DISPATCH_WAVE_SIZE="1", HUB_DISPATCH_OFFER_SECONDS="0.5")
    booking = await book_and_pay(hub)
    pool = hub.app[CONTEXT].pool
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM offers"), within=5)
    dispatcher = hub.app[BOOKINGS].dispatcher
    # Once the deadline has passed, four firings at once (two nodes, twice each) make one wave.
    await wait_until(
        lambda: pool.fetchval("SELECT deadline <= now() FROM offers WHERE wave = 1"), within=5, interval=0.02
    )
    await asyncio.gather(*(dispatcher.wave_deadline(uuid.UUID(booking["id"]), 1) for _ in range(4)))
    waves = await pool.fetch("SELECT wave, count(*) AS n FROM offers GROUP BY wave ORDER BY wave")
    assert [(r["wave"], r["n"]) for r in waves][:2] == [(1, 1), (2, 1)]


async def test_worker_cannot_act_on_anothers_booking(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=2, HUB_DISPATCH_WAVE_SIZE="1")
    first = await open_peer(hub, peers, "/worker", "worker", "w-1")
    other = await open_peer(hub, peers, "/worker", "worker", "w-2")
    booking = await book_and_pay(hub)
    offer = await first.next("offer")
    assert await other.error("offer:accept", {"offer_id": offer["offer_id"]}) == "offer_not_found"
    await first.ok("offer:accept", {"offer_id": offer["offer_id"]})
    lat, lng = CENTRE
    depart = {"booking_id": booking["id"], "lat": lat, "lng": lng, "eta_minutes": 5}
    assert await other.error("job:depart", depart) == "booking_not_found"
    assert await first.error("job:start", {"booking_id": booking["id"]}) == "illegal_transition"
    assert await first.error("job:depart", {**depart, "lat": 200}) == "invalid_payload"
    status, _ = await hub.http("GET", f"/api/v1/bookings/{booking['id']}", hub.token("customer", "c-2"))
    assert status == 404
    status, _ = await hub.http("GET", f"/api/v1/bookings/{booking['id']}", hub.token("worker", "w-2"))
    assert status == 404
    status, mine = await hub.http("GET", "/api/v1/bookings", hub.token("customer", "c-2"))
    assert status == 200
    assert mine["items"] == []
    status, theirs = await hub.http("GET", "/api/v1/bookings", hub.token("worker", "w-1"))
    assert [b["id"] for b in theirs["items"]] == [booking["id"]]


async def test_another_workers_positions_never_starve_the_assigned_worker(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    # A real interval, so the per-booking throttle holds for the whole test.
    hub = await start(start_hub, workers=2, HUB_DISPATCH_WAVE_SIZE="1", HUB_TRACKING_LOCATION_SECONDS="60")
    assigned = await open_peer(hub, peers, "/worker", "worker", "w-1")
    intruder = await open_peer(hub, peers, "/worker", "worker", "w-2")
    customer = await open_peer(hub, peers, "/customer", "customer", "c-1")
    booking = await book_and_pay(hub)
    offer = await assigned.next("offer")
    await assigned.ok("offer:accept", {"offer_id": offer["offer_id"]})
    lat, lng = CENTRE
    await assigned.ok("job:depart", {"booking_id": booking["id"], "lat": lat, "lng": lng, "eta_minutes": 9})
    # The departure's own position is an interval old: the next one is due.
    await hub.app[CONTEXT].pool.execute(
        "UPDATE bookings SET last_located_at = now() - interval '1 hour' WHERE id = $1",
        uuid.UUID(booking["id"]),
    )
    position = {"booking_id": booking["id"], "lat": lat, "lng": lng + 0.001}
    for _ in range(5):
        assert await intruder.error("job:location", position) == "booking_not_found"
    assert await assigned.ok("job:location", position) == {"forwarded": True}
    location = await customer.next("booking:location")
    assert location["booking_id"] == booking["id"]


async def test_reconnecting_worker_gets_open_offers_again(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=1)
    booking = await book_and_pay(hub)
    pool = hub.app[CONTEXT].pool
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM offers"), within=5)
    worker = await open_peer(hub, peers, "/worker", "worker", "w-1")
    offer = await worker.next("offer")
    assert offer["booking_id"] == booking["id"]
    assert offer["alert"] == ALERT
    listed = await worker.ok("offer:list")
    assert [o["offer_id"] for o in listed["items"]] == [offer["offer_id"]]
    status, body = await hub.http("GET", "/api/v1/workers/me/offers", hub.token("worker", "w-1"))
    assert status == 200
    assert [o["offer_id"] for o in body["items"]] == [offer["offer_id"]]
    # and the offline worker was also notified through the inbox (push when no socket)
    kinds = await pool.fetch("SELECT kind, urgent FROM notifications WHERE user_id = 'w-1'")
    assert [(r["kind"], r["urgent"]) for r in kinds] == [("offer", True)]


async def test_demo_data_books_and_dispatches(start_hub: StartHub, peers: list[Peer]) -> None:
    """The demo set is dispatchable as it stands: a seeded customer books at a saved address and
    the nearest seeded workers get the offer."""
    from bookings import seed as demo
    from tests.support.bookings import tomorrow_at

    hub: RunningHub = await start_hub(**FAST)
    async with hub.app[CONTEXT].pool.acquire() as conn:
        await demo.seed(conn)
    token = hub.token("customer", "customer-01")
    status, addresses = await hub.http("GET", "/api/v1/customers/me/addresses", token)
    assert status == 200, addresses
    address = next(a for a in addresses["items"] if a["is_default"])
    day, start = tomorrow_at()
    wanted = {"service_id": "daily-cleaning", "date": day, "start_time": start, "address_id": address["id"]}
    status, quoted = await hub.http("POST", "/api/v1/bookings/quote", token, json=wanted)
    assert status == 200, quoted
    status, booking = await hub.http("POST", "/api/v1/bookings", token, json=wanted)
    assert status == 201, booking
    assert booking["address"]["line"] == address["line"]
    status, _ = await hub.http(
        "POST",
        f"/api/v1/admin/bookings/{booking['id']}/mark-paid",
        hub.token("admin", "admin-01"),
        json={"payment_ref": "demo-1"},
    )
    assert status == 200
    pool = hub.app[CONTEXT].pool
    offered = await wait_until(
        lambda: pool.fetch("SELECT worker_id FROM offers WHERE booking_id = $1", uuid.UUID(booking["id"])),
        within=5,
    )
    assert len(offered) == 3
    skills = await pool.fetch(
        "SELECT skills, vetting_status FROM workers WHERE id = ANY($1)", [r["worker_id"] for r in offered]
    )
    assert all("daily_cleaning" in r["skills"] and r["vetting_status"] == "vetted" for r in skills)


async def test_chosen_worker_is_asked_first_and_alone(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=3, HUB_DISPATCH_CHOSEN_OFFER_SECONDS="90")
    workers = [await open_peer(hub, peers, "/worker", "worker", f"w-{n}") for n in (1, 2, 3)]
    booking = await book_and_pay(hub, worker_id="w-3")  # the farthest of the three
    assert booking["chosen_worker_id"] == "w-3"
    assert "chosen_worker" in {line["code"] for line in booking["price"]["surcharges"]}
    offer = await workers[2].next("offer")
    assert offer["chosen"] is True
    assert 80 < offer["seconds_left"] <= 90
    pool = hub.app[CONTEXT].pool
    assert await pool.fetchval("SELECT count(*) FROM offers") == 1
    await workers[2].ok("offer:decline", {"offer_id": offer["offer_id"], "reason": "busy that day"})
    others = [await workers[0].next("offer"), await workers[1].next("offer")]
    assert {o["wave"] for o in others} == {2}
    assert not any(o["chosen"] for o in others)


async def test_chosen_worker_on_leave_falls_back_to_a_normal_wave(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=3, HUB_DISPATCH_CHOSEN_OFFER_SECONDS="90")
    away = await open_peer(hub, peers, "/worker", "worker", "w-3")
    await away.ok("presence:set", {"status": "on_leave"})
    near = await open_peer(hub, peers, "/worker", "worker", "w-1")
    await book_and_pay(hub, worker_id="w-3")
    offer = await near.next("offer")
    assert offer["wave"] == 1
    assert offer["chosen"] is False
    assert offer["seconds_left"] <= 30  # the usual deadline, not the chosen worker's 90 s
