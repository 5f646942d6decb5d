"""Booking facts become console work items (stored before announced, one per cause, resolved by
what answers them); booking changes and alerts reach /support on the console stream; the console
re-dispatches over the socket; a stalled job opens one item across nodes and restarts; a console
that was away replays every item and booking change it missed, in order, once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from bookings.keys import BOOKINGS
from hub.keys import CONTEXT
from tests.support.bookings import CENTRE, FAST, book_and_pay, paid_and_accepted, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub, stop_hub
from tests.support.waiting import wait_until


async def items_of(hub: RunningHub, booking_id: str, kind: str | None = None) -> list[Any]:
    return list(
        await hub.app[CONTEXT].pool.fetch(
            """SELECT * FROM work_items WHERE booking_id = $1 AND ($2::text IS NULL OR kind = $2)
                ORDER BY opened_at""",
            uuid.UUID(booking_id),
            kind,
        )
    )


async def test_late_worker_opens_one_item_and_the_console_redispatches_it(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=2, HUB_DISPATCH_WAVE_SIZE="1")
    agent = await Peer("/support").connect(hub.url, hub.token("support", "agent-1"))
    peers.append(agent)
    snapshot = await agent.next("console:snapshot")
    assert snapshot["bookings"]["active"] == []
    booking, worker = await paid_and_accepted(hub, peers)
    monitor = await agent.next_where("booking:updated", lambda u: u["entry"]["kind"] == "accepted")
    assert monitor["seq"] > snapshot["seq"]  # booking changes are on the console stream

    pool = hub.app[CONTEXT].pool
    booking_id = uuid.UUID(booking["id"])
    await pool.execute("UPDATE bookings SET depart_by = now() - interval '1 hour' WHERE id = $1", booking_id)
    opened = await agent.next_where("item:updated", lambda u: u["item"]["kind"] == "worker_late")
    item = opened["item"]
    assert (opened["action"], item["booking_id"], item["priority"]) == ("opened", booking["id"], "high")
    assert item["person"] == {"role": "worker", "id": "w-1"}
    alert = await agent.next("order:alert")
    assert alert["kind"] == "late"
    assert isinstance(alert["seq"], int)
    runtime = hub.app[BOOKINGS]
    await asyncio.gather(runtime.sweep(), runtime.sweep())  # another node's sweep, at once
    assert len(await items_of(hub, booking["id"], "worker_late")) == 1

    snapshot = await agent.ok("console:snapshot")
    assert [i["id"] for i in snapshot["items"]] == [item["id"]]
    assert snapshot["bookings"]["active"][0]["id"] == booking["id"]
    assert snapshot["bookings"]["today"]["by_status"]["accepted"] == 0  # the booking is tomorrow's
    await pool.execute(
        "UPDATE bookings SET slot_start = now() + interval '1 minute' WHERE id = $1", booking_id
    )
    today = (await agent.ok("console:snapshot"))["bookings"]["today"]["by_status"]
    assert (today["accepted"], sum(today.values())) == (1, 1)

    # The console's actions are checked like HTTP's: refusals change nothing.
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    peers.append(customer)
    assert (await customer.call("booking:redispatch", {"booking_id": booking["id"]}))["ok"] is False
    missing = {"booking_id": str(uuid.uuid4()), "reason": "x"}
    assert await agent.error("booking:redispatch", missing) == "booking_not_found"
    assert await agent.error("booking:redispatch", {"booking_id": "nope"}) == "invalid_payload"
    unknown_item = {"booking_id": booking["id"], "item_id": str(uuid.uuid4())}
    assert await agent.error("booking:redispatch", unknown_item) == "item_not_found"
    assert (await agent.ok("booking:get", {"booking_id": booking["id"]}))["status"] == "accepted"

    second = await Peer("/worker").connect(hub.url, hub.token("worker", "w-2"))
    peers.append(second)
    moved = await agent.ok(
        "booking:redispatch",
        {"booking_id": booking["id"], "reason": "worker unreachable", "item_id": item["id"]},
    )
    assert (moved["status"], moved["worker_id"]) == ("dispatching", None)
    assert (await second.next("offer"))["booking_id"] == booking["id"]
    await worker.next_where("notification", lambda n: n["title"] == "Job reassigned")
    resolved = await agent.next_where(
        "item:updated", lambda u: u["item"]["id"] == item["id"] and u["action"] == "resolved"
    )
    assert resolved["item"]["resolution"].startswith("redispatched")
    await wait_until(lambda: _has_action(agent, item["id"]))
    detail = await agent.ok("item:get", {"item_id": item["id"]})
    acted = [h for h in detail["history"] if h["action"] == "acted"]
    assert acted[0]["note"] == "redispatched"
    assert acted[0]["actor"] == {"role": "support", "id": "agent-1"}
    assert await agent.error("booking:redispatch", unknown_item | {"item_id": item["id"]}) == "item_resolved"


async def _has_action(agent: Peer, item_id: str) -> bool:
    detail = await agent.ok("item:get", {"item_id": item_id})
    return any(h["action"] == "acted" for h in detail["history"])


async def test_escalation_opens_an_urgent_item_and_assigning_resolves_it(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1, HUB_DISPATCH_OFFER_SECONDS="0.3", HUB_DISPATCH_MAX_WAVES="1")
    agent = await Peer("/support").connect(hub.url, hub.token("support", "agent-1"))
    peers.append(agent)
    booking = await book_and_pay(hub)
    escalated = await agent.next("dispatch:escalated", within=20)
    assert isinstance(escalated["seq"], int)
    opened = await agent.next_where("item:updated", lambda u: u["item"]["kind"] == "dispatch_escalated")
    assert opened["item"]["priority"] == "urgent"
    await agent.ok("item:acknowledge", {"item_id": opened["item"]["id"]})
    done = await agent.ok(
        "booking:assign", {"booking_id": booking["id"], "worker_id": "w-1", "item_id": opened["item"]["id"]}
    )
    assert (done["status"], done["worker_id"]) == ("accepted", "w-1")
    resolved = await agent.next_where(
        "item:updated", lambda u: u["item"]["id"] == opened["item"]["id"] and u["action"] == "resolved"
    )
    assert resolved["item"]["state"] == "resolved"
    assert await agent.error("booking:assign", {"booking_id": booking["id"], "worker_id": "w-1"}) == (
        "illegal_transition"
    )


async def test_a_stalled_job_opens_one_item_with_two_nodes_and_a_restart(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    node_a = await start(start_hub, workers=2)
    node_b: RunningHub = await start_hub(**FAST)
    booking, worker = await paid_and_accepted(node_a, peers)
    lat, lng = CENTRE
    await worker.ok("job:depart", {"booking_id": booking["id"], "lat": lat, "lng": lng, "eta_minutes": 5})
    pool = node_a.app[CONTEXT].pool
    booking_id = uuid.UUID(booking["id"])
    await pool.execute("UPDATE bookings SET eta_at = now() - interval '1 hour' WHERE id = $1", booking_id)
    await wait_until(lambda: items_of(node_a, booking["id"], "job_stalled"))
    for _ in range(3):  # both nodes' sweeps, at once, again and again
        await asyncio.gather(node_a.app[BOOKINGS].sweep(), node_b.app[BOOKINGS].sweep())
    await stop_hub(node_b)
    node_c: RunningHub = await start_hub(**FAST)  # a restarted node sweeps from scratch
    await node_c.app[BOOKINGS].sweep()
    stalled = await items_of(node_a, booking["id"], "job_stalled")
    assert len(stalled) == 1
    assert stalled[0]["data"]["phase"] == "on_the_way"

    # An agent resolves it while the worker is still not there: the same stall opens nothing more.
    agent = await Peer("/support").connect(node_a.url, node_a.token("support", "agent-1"))
    peers.append(agent)
    await agent.ok("item:resolve", {"item_id": str(stalled[0]["id"]), "note": "called: 5 more minutes"})
    await node_c.app[BOOKINGS].sweep()
    assert len(await items_of(node_a, booking["id"], "job_stalled")) == 1

    # In service well past the booked length: a new stall, one new item.
    await worker.ok("job:arrive", {"booking_id": booking["id"], "lat": lat, "lng": lng})
    await worker.ok("job:start", {"booking_id": booking["id"]})
    await pool.execute(
        "UPDATE bookings SET started_at = now() - interval '10 hours' WHERE id = $1", booking_id
    )
    await asyncio.gather(node_a.app[BOOKINGS].sweep(), node_c.app[BOOKINGS].sweep())
    stalled = await items_of(node_a, booking["id"], "job_stalled")
    assert [(r["data"]["phase"], r["state"]) for r in stalled] == [
        ("on_the_way", "resolved"),
        ("in_service", "open"),
    ]
    await worker.ok("job:finish", {"booking_id": booking["id"]})
    stalled = await items_of(node_a, booking["id"], "job_stalled")
    assert stalled[1]["state"] == "resolved"  # finishing answers it


async def test_a_console_away_gets_every_item_and_booking_change_in_order_once(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=2)
    agent = await Peer("/support").connect(hub.url, hub.token("support", "agent-1"))
    snapshot = await agent.next("console:snapshot")
    last = snapshot["seq"]
    await agent.close()

    # While the console is away: a booking is paid, offered, taken, runs late, sets off, arrives
    # outside the geofence.
    booking, worker = await paid_and_accepted(hub, peers)
    pool = hub.app[CONTEXT].pool
    booking_id = uuid.UUID(booking["id"])
    await pool.execute("UPDATE bookings SET depart_by = now() - interval '1 hour' WHERE id = $1", booking_id)
    await wait_until(lambda: items_of(hub, booking["id"], "worker_late"))
    lat, lng = CENTRE
    await worker.ok("job:depart", {"booking_id": booking["id"], "lat": lat, "lng": lng, "eta_minutes": 5})
    await worker.ok("job:arrive", {"booking_id": booking["id"], "lat": lat + 0.01, "lng": lng})
    entries = [
        r["id"]
        for r in await pool.fetch(
            "SELECT id FROM booking_timeline WHERE booking_id = $1 ORDER BY id", booking_id
        )
    ]
    changes = await pool.fetchval("SELECT count(*) FROM work_item_history")
    await wait_until(lambda: _relayed(hub))

    back = await Peer("/support").connect(
        hub.url, hub.token("support", "agent-1"), sync={"console_since": last}
    )
    peers.append(back)
    replay: list[dict[str, Any]] = []
    answer = (await back.next("sync"))["data"]["console"]
    replay += answer["events"]
    while answer["more"]:
        answer = await back.ok("sync", {"console_since": replay[-1]["seq"]})
        answer = answer["console"]
        replay += answer["events"]
    seqs = [e["seq"] for e in replay]
    assert seqs == list(range(last + 1, last + 1 + len(replay)))  # in order, no gap, none twice
    updates = [e["data"]["entry"]["id"] for e in replay if e["event"] == "booking:updated"]
    assert updates == entries  # every booking change, once, in order
    item_changes = [e for e in replay if e["event"] == "item:updated"]
    assert len(item_changes) == changes  # every item change (opened, resolved...), once
    assert [e["data"]["item"]["kind"] for e in item_changes if e["data"]["action"] == "opened"] == [
        "worker_late",
        "arrival_flagged",
    ]
    assert [e["data"]["kind"] for e in replay if e["event"] == "order:alert"] == ["late", "arrival_flagged"]

    # And live again from where the replay ended.
    await worker.ok("job:start", {"booking_id": booking["id"]})
    live = await back.next_where("booking:updated", lambda u: u["entry"]["kind"] == "started")
    assert live["seq"] > seqs[-1]


async def _relayed(hub: RunningHub) -> bool:
    """Every outbox event is delivered (the console stream has all it will get)."""
    pending = await hub.app[CONTEXT].pool.fetchval("SELECT count(*) FROM events WHERE delivered_at IS NULL")
    return bool(pending == 0)
