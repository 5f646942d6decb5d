"""The bookings HTTP API: validation, idempotent creates, payment, cancellation, lateness,
geofence flags, the worker's schedule and dispatch rules."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from bookings.keys import BOOKINGS
from hub.keys import CONTEXT
from tests.support.bookings import (
    CENTRE,
    add_service,
    add_worker,
    booking_request,
    paid_and_accepted,
    tomorrow_at,
)
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub
from tests.support.waiting import wait_until

FAST = {"HUB_BOOKING_MIN_LEAD_MINUTES": "0", "HUB_TIMER_SWEEP_SECONDS": "0.3"}


async def start(start_hub: StartHub, workers: int = 1, **env: str) -> RunningHub:
    hub: RunningHub = await start_hub(**{**FAST, **env})
    pool = hub.app[CONTEXT].pool
    await add_service(pool)
    await add_service(
        pool, "test-appliance", pricing="fixed", unit_price_cents=12000, min_minutes=90, default_minutes=90
    )
    for n in range(1, workers + 1):
        await add_worker(pool, f"w-{n}", km_east=float(n))
    return hub


async def create(hub: RunningHub, customer: str = "c-1", **overrides: Any) -> tuple[int, Any]:
    return await hub.http(
        "POST", "/api/v1/bookings", hub.token("customer", customer), json=booking_request(**overrides)
    )


async def test_quote_refuses_bad_slots_with_field_details(start_hub: StartHub) -> None:
    hub = await start(start_hub)
    token = hub.token("customer", "c-1")
    _day, _ = tomorrow_at()
    cases = {
        "unknown_service": {"service_id": "nope"},
        "outside_service_hours": {"start_time": "21:00"},
        "slot_too_soon": {"date": "2020-01-01"},
        "invalid_duration": {"duration_minutes": 100},
    }
    for code, change in cases.items():
        status, body = await hub.http("POST", "/api/v1/bookings/quote", token, json=booking_request(**change))
        assert status == 422, (change, body)
        assert body["error"]["code"] == code, (change, body)
        assert body["error"]["details"][0]["loc"]
    status, body = await hub.http(
        "POST", "/api/v1/bookings/quote", token, json=booking_request(start_time="9am", address=None)
    )
    assert status == 422
    assert body["error"]["code"] == "invalid_payload"
    assert {tuple(d["loc"])[:1] for d in body["error"]["details"]} >= {("start_time",)}
    # A job must also end within service hours: 18:30 + 3 h runs past 20:00.
    status, body = await hub.http(
        "POST", "/api/v1/bookings/quote", token, json=booking_request(start_time="18:30")
    )
    assert status == 422
    assert body["error"]["code"] == "outside_service_hours"
    status, body = await hub.http(
        "POST",
        "/api/v1/bookings/quote",
        token,
        json=booking_request(service_id="test-appliance", duration_minutes=None),
    )
    assert status == 200
    assert body["total_cents"] > 0
    assert body["pricing"] == "fixed"
    assert body["duration_minutes"] == 90
    # Durations follow the catalog's rule: a fixed job may run longer at the same price, and an
    # hourly one no shorter than its minimum.
    status, longer = await hub.http(
        "POST",
        "/api/v1/bookings/quote",
        token,
        json=booking_request(service_id="test-appliance", duration_minutes=120),
    )
    assert status == 200, longer
    assert longer["base_cents"] == body["base_cents"] == 12000
    status, body = await hub.http(
        "POST", "/api/v1/bookings/quote", token, json=booking_request(duration_minutes=60)
    )
    assert status == 422
    assert body["error"]["code"] == "invalid_duration"
    status, listed = await hub.http("GET", "/api/v1/services?duration_minutes=60")
    assert status == 200
    assert "test-cleaning" not in [s["id"] for s in listed["items"]]
    status, body = await hub.http(
        "POST", "/api/v1/bookings/quote", hub.token("worker", "w-1"), json=booking_request()
    )
    assert status == 403
    status, body = await hub.http("POST", "/api/v1/bookings/quote", None, json=booking_request())
    assert status == 401
    assert body["error"]["code"] == "token_missing"


async def test_idempotency_key_replays_the_first_response(start_hub: StartHub) -> None:
    hub = await start(start_hub)
    token = hub.token("customer", "c-1")
    headers = {"Idempotency-Key": "k-1"}
    answers = await asyncio.gather(
        *(
            hub.http("POST", "/api/v1/bookings", token, json=booking_request(), headers=dict(headers))
            for _ in range(5)
        )
    )
    assert {status for status, _ in answers} == {201}
    assert len({body["id"] for _, body in answers}) == 1
    pool = hub.app[CONTEXT].pool
    assert await pool.fetchval("SELECT count(*) FROM bookings") == 1
    status, body = await hub.http(
        "POST",
        "/api/v1/bookings",
        token,
        json=booking_request(special_requests="other"),
        headers=dict(headers),
    )
    assert status == 422
    assert body["error"]["code"] == "idempotency_key_reused"
    # Keys are per person: another customer's identical key is theirs alone.
    status, other = await hub.http(
        "POST",
        "/api/v1/bookings",
        hub.token("customer", "c-2"),
        json=booking_request(),
        headers=dict(headers),
    )
    assert status == 201
    assert other["id"] != answers[0][1]["id"]
    # A request that failed does not burn its key.
    status, _ = await hub.http(
        "POST",
        "/api/v1/bookings",
        token,
        json=booking_request(service_id="nope"),
        headers={"Idempotency-Key": "k-2"},
    )
    assert status == 422
    status, _ = await hub.http(
        "POST", "/api/v1/bookings", token, json=booking_request(), headers={"Idempotency-Key": "k-2"}
    )
    assert status == 201


async def test_unpaid_booking_expires_and_cannot_be_paid_late(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, HUB_BOOKING_PAYMENT_MINUTES="0.01")
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    peers.append(customer)
    status, booking = await create(hub)
    assert status == 201
    update = await customer.next_where("booking:updated", lambda u: u["entry"]["kind"] == "expired")
    assert update["booking"]["status"] == "expired"
    await customer.next_where("notification", lambda n: n["title"] == "Booking expired")
    status, body = await hub.http(
        "POST",
        f"/api/v1/admin/bookings/{booking['id']}/mark-paid",
        hub.token("admin", "admin-1"),
        json={"payment_ref": "late"},
    )
    assert status == 409
    assert body["error"]["code"] == "illegal_transition"


async def test_mark_paid_is_idempotent_per_payment_reference(start_hub: StartHub) -> None:
    hub = await start(start_hub, workers=0)
    status, booking = await create(hub)
    admin = hub.token("admin", "admin-1")
    path = f"/api/v1/admin/bookings/{booking['id']}/mark-paid"
    first = await hub.http("POST", path, admin, json={"payment_ref": "p-1"})
    again = await hub.http("POST", path, admin, json={"payment_ref": "p-1"})
    assert first[0] == again[0] == 200
    assert first[1]["paid_at"] == again[1]["paid_at"]
    status, body = await hub.http("POST", path, admin, json={"payment_ref": "p-2"})
    assert status == 409
    assert body["error"]["code"] == "already_paid"
    status, body = await hub.http("POST", path, hub.token("customer", "c-1"), json={"payment_ref": "p-1"})
    assert status == 403
    status, body = await hub.http(
        "POST", "/api/v1/admin/bookings/not-a-uuid/mark-paid", admin, json={"payment_ref": "x"}
    )
    assert status == 404
    kinds = [e["kind"] for e in again[1]["timeline"]]
    assert kinds.count("paid") == 1
    # A provider's callback racing its own retry: both are told the booking is paid.
    status, second = await create(hub)
    path = f"/api/v1/admin/bookings/{second['id']}/mark-paid"
    answers = await asyncio.gather(
        *(hub.http("POST", path, admin, json={"payment_ref": "p-9"}) for _ in range(4))
    )
    assert [status for status, _ in answers] == [200] * 4
    # One payment cannot pay two bookings.
    status, third = await create(hub)
    status, body = await hub.http(
        "POST", f"/api/v1/admin/bookings/{third['id']}/mark-paid", admin, json={"payment_ref": "p-9"}
    )
    assert status == 409
    assert body["error"]["code"] == "payment_ref_used"


async def test_cancellation_rules_and_fees(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub)
    token = hub.token("customer", "c-1")
    status, unpaid = await create(hub)
    status, cancelled = await hub.http(
        "POST", f"/api/v1/bookings/{unpaid['id']}/cancel", token, json={"reason": "plans"}
    )
    assert status == 200
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancellation_fee_cents"] == 0
    status, body = await hub.http("POST", f"/api/v1/bookings/{unpaid['id']}/cancel", token, json={})
    assert status == 409
    assert body["error"]["code"] == "illegal_transition"

    booking, worker = await paid_and_accepted(hub, peers)
    status, body = await hub.http(
        "POST", f"/api/v1/bookings/{booking['id']}/cancel", hub.token("customer", "c-2"), json={}
    )
    assert status == 404  # not theirs
    pool = hub.app[CONTEXT].pool
    # The slot is tomorrow: at least 2 h ahead, less than 24 h for an early morning run → 10 %; or free.
    status, cancelled = await hub.http("POST", f"/api/v1/bookings/{booking['id']}/cancel", token, json={})
    assert status == 200, cancelled
    hours = await pool.fetchval(
        "SELECT extract(epoch FROM slot_start - now()) / 3600 FROM bookings WHERE id = $1",
        uuid.UUID(booking["id"]),
    )
    expected = 0 if hours >= 24 else booking["total_cents"] * 10 // 100
    assert cancelled["cancellation_fee_cents"] == expected
    await worker.next_where("notification", lambda n: n["title"] == "Booking cancelled")
    update = await worker.next_where("booking:updated", lambda u: u["entry"]["kind"] == "cancelled")
    assert update["booking"]["status"] == "cancelled"


async def test_late_worker_alerts_support_and_can_be_redispatched(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=2, HUB_DISPATCH_WAVE_SIZE="1")
    agent = await Peer("/support").connect(hub.url, hub.token("support", "agent-1"))
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    peers.extend([agent, customer])
    booking, worker = await paid_and_accepted(hub, peers)
    pool = hub.app[CONTEXT].pool
    depart_by = await pool.fetchval("SELECT depart_by FROM bookings WHERE id = $1", uuid.UUID(booking["id"]))
    assert depart_by is not None
    # Time passes: the moment to leave is long gone and the worker has not departed.
    await pool.execute(
        "UPDATE bookings SET depart_by = now() - interval '1 hour' WHERE id = $1", uuid.UUID(booking["id"])
    )
    alert = await agent.next("order:alert")
    assert alert["kind"] == "late"
    assert alert["booking_id"] == booking["id"]
    assert alert["entry"]["data"]["reason"] == "not_departed"
    assert alert["entry"]["data"]["can_redispatch"] is True
    await customer.next_where("notification", lambda n: n["title"] == "Your worker may be late")
    runtime = hub.app[BOOKINGS]
    await runtime.sweep()  # the sweeps that come after (on any node) announce nothing more
    await runtime.sweep()
    kinds = await pool.fetch(
        "SELECT kind FROM booking_timeline WHERE booking_id = $1", uuid.UUID(booking["id"])
    )
    assert [r["kind"] for r in kinds].count("late") == 1

    second = await Peer("/worker").connect(hub.url, hub.token("worker", "w-2"))
    peers.append(second)
    status, body = await hub.http(
        "POST",
        f"/api/v1/admin/bookings/{booking['id']}/redispatch",
        hub.token("support", "agent-1"),
        json={"reason": "worker unreachable"},
    )
    assert status == 200
    assert body["status"] == "dispatching"
    assert body["worker_id"] is None
    offer = await second.next("offer")
    assert offer["booking_id"] == booking["id"]
    await worker.next_where("notification", lambda n: n["title"] == "Job reassigned")
    assert await worker.error(
        "job:depart", {"booking_id": booking["id"], "lat": 31.2, "lng": 121.4, "eta_minutes": 5}
    ) == ("booking_not_found")
    status, listed = await hub.http("GET", "/api/v1/bookings?late=true", hub.token("support", "agent-1"))
    assert status == 200
    assert listed["items"] == []


async def test_late_eta_and_arrival_outside_geofence_are_flagged(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub)
    agent = await Peer("/support").connect(hub.url, hub.token("support", "agent-1"))
    peers.append(agent)
    booking, worker = await paid_and_accepted(hub, peers)
    lat, lng = CENTRE
    # The slot is near now, and an ETA of an hour puts arrival well after its start.
    await hub.app[CONTEXT].pool.execute(
        "UPDATE bookings SET slot_start = now() + interval '10 minutes' WHERE id = $1",
        uuid.UUID(booking["id"]),
    )
    await worker.ok("job:depart", {"booking_id": booking["id"], "lat": lat, "lng": lng, "eta_minutes": 60})
    late = await agent.next("order:alert")
    assert late["kind"] == "late"
    assert late["entry"]["data"]["reason"] == "eta_after_start"
    arrived = await worker.ok("job:arrive", {"booking_id": booking["id"], "lat": lat + 0.01, "lng": lng})
    assert arrived["outside_geofence"] is True
    flagged = await agent.next("order:alert")
    assert flagged["kind"] == "arrival_flagged"
    assert 1000 < flagged["entry"]["data"]["distance_m"] < 1200
    assert arrived["booking"]["status"] == "arrived"  # accepted all the same


async def test_worker_schedule_with_navigation_links(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub)
    booking, _ = await paid_and_accepted(hub, peers)
    day, _ = tomorrow_at()
    token = hub.token("worker", "w-1")
    status, body = await hub.http("GET", f"/api/v1/workers/me/schedule?from={day}", token)
    assert status == 200, body
    assert body["from"] == body["to"] == day
    assert len(body["days"]) == 1
    [job] = body["days"][0]["jobs"]
    assert job["booking_id"] == booking["id"]
    assert job["local_start"] == "10:00"
    nav = job["navigation"]
    assert nav["amap"].startswith("amapuri://route/plan/?dlat=31.230400&dlon=121.473700")
    assert nav["baidu"].startswith("baidumap://map/direction?destination=latlng:31.230400,121.473700")
    status, week = await hub.http("GET", f"/api/v1/workers/me/schedule?from={day}&view=week", token)
    assert status == 200
    assert len(week["days"]) == 7
    assert sum(len(d["jobs"]) for d in week["days"]) == 1
    status, body = await hub.http("GET", "/api/v1/workers/me/schedule?from=2026-13-01", token)
    assert status == 422
    status, body = await hub.http(
        "GET", f"/api/v1/workers/me/schedule?from={day}", hub.token("worker", "w-9")
    )
    assert status == 200
    assert all(d["jobs"] == [] for d in body["days"])


async def test_dispatch_rules_are_admin_settings(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=3)
    admin = hub.token("admin", "admin-1")
    status, rules = await hub.http("GET", "/api/v1/admin/settings/dispatch", admin)
    assert status == 200
    assert rules["wave_size"] == 3
    assert rules["offer_seconds"] == 30
    status, rules = await hub.http(
        "PUT", "/api/v1/admin/settings/dispatch", admin, json={"wave_size": 1, "weights": {"distance": 1.0}}
    )
    assert status == 200
    assert rules["wave_size"] == 1
    assert rules["weights"]["distance"] == 1.0
    status, _ = await hub.http("PUT", "/api/v1/admin/settings/dispatch", admin, json={"wave_size": 0})
    assert status == 422
    status, _body = await hub.http(
        "PUT", "/api/v1/admin/settings/dispatch", hub.token("support", "a"), json={}
    )
    assert status == 403
    workers = []
    for n in (1, 2, 3):
        peer = await Peer("/worker").connect(hub.url, hub.token("worker", f"w-{n}"))
        peers.append(peer)
        workers.append(peer)
    status, booking = await create(hub)
    await hub.http(
        "POST", f"/api/v1/admin/bookings/{booking['id']}/mark-paid", admin, json={"payment_ref": "r"}
    )
    await workers[0].next("offer")  # one at a time now, the nearest first
    pool = hub.app[CONTEXT].pool
    await wait_until(lambda: pool.fetchval("SELECT count(*) FROM offers"), within=5)
    assert await pool.fetchval("SELECT count(*) FROM offers") == 1
