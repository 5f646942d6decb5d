"""The console's work items and stream: stored before announced, one open item per kind and
subject, every change with a gap-free seq, and a console that was away replays what it missed."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from hub.auth import Principal, Role
from hub.console import items
from hub.console.models import NewItem, Priority
from hub.keys import CONTEXT
from hub.storage import console as store
from tests.support.clients import Peer
from tests.support.hubs import RunningHub
from tests.support.waiting import wait_until


async def open_item(hub: RunningHub, kind: str, subject: str, cause: str = "c", **kw: Any) -> Any:
    """What an extension does: open an item inside its own transaction."""
    pool = hub.app[CONTEXT].pool
    async with pool.acquire() as conn, conn.transaction():
        return await items.open_item(
            conn, NewItem(kind=kind, subject=subject, cause=cause, title=f"{kind} {subject}", **kw)
        )


async def agent(hub: RunningHub, agent_id: str = "a-1", **auth: Any) -> Peer:
    return await Peer("/support").connect(hub.url, hub.token("support", agent_id), **auth)


async def test_snapshot_then_items_with_seq_once_per_kind_and_subject(hub: RunningHub) -> None:
    console = await agent(hub)
    try:
        snapshot = await console.next("console:snapshot")
        assert (snapshot["seq"], snapshot["items"], snapshot["items_more"]) == (0, [], False)
        assert snapshot["items_by_priority"] == {"urgent": 0, "high": 0, "normal": 0, "low": 0}
        assert snapshot["presence"]["agents"]["online"] == 1

        booking = str(uuid.uuid4())
        opened = await open_item(
            hub,
            "job_stalled",
            booking,
            "on_the_way",
            priority=Priority.HIGH,
            booking_id=uuid.UUID(booking),
            person=("worker", "w-1"),
            data={"eta": "x"},
        )
        assert opened is not None
        live = await console.next("item:updated")
        assert (live["seq"], live["action"], live["item"]["id"]) == (1, "opened", str(opened.id))
        assert live["item"]["person"] == {"role": "worker", "id": "w-1"}
        assert (live["item"]["priority"], live["item"]["state"]) == ("high", "open")

        # A retry, a second node, another cause while one is open: nothing new.
        assert await open_item(hub, "job_stalled", booking, "on_the_way") is None
        assert await open_item(hub, "job_stalled", booking, "in_service") is None
        # Another kind for the same booking is its own item.
        other = await open_item(hub, "worker_late", booking, "accepted-1", priority=Priority.URGENT)
        assert (await console.next("item:updated"))["seq"] == 2

        ack = await console.ok("item:acknowledge", {"item_id": str(opened.id)})
        assert (ack["state"], ack["owner"]) == ("acknowledged", {"role": "support", "id": "a-1"})
        assert (await console.next("item:updated"))["seq"] == 3
        assert (await console.ok("item:acknowledge", {"item_id": str(opened.id)}))["version"] == ack[
            "version"
        ]

        moved = await console.ok(
            "item:assign", {"item_id": str(opened.id), "agent_id": "a-2", "note": "yours"}
        )
        assert moved["owner"] == {"role": "support", "id": "a-2"}
        await console.ok(
            "item:note", {"item_id": str(opened.id), "note": "called the worker: stuck in traffic"}
        )
        done = await console.ok("item:resolve", {"item_id": str(opened.id), "note": "arrived 10 min late"})
        assert (done["state"], done["resolution"]) == ("resolved", "arrived 10 min late")
        updates = [await console.next("item:updated") for _ in range(3)]
        assert [(u["seq"], u["action"]) for u in updates] == [(4, "assigned"), (5, "noted"), (6, "resolved")]

        detail = await console.ok("item:get", {"item_id": str(opened.id)})
        assert [h["action"] for h in detail["history"]] == [
            "opened",
            "acknowledged",
            "assigned",
            "noted",
            "resolved",
        ]
        assert detail["history"][1]["actor"] == {"role": "support", "id": "a-1"}

        # Resolved: the same cause never opens it again, a new cause does.
        assert await open_item(hub, "job_stalled", booking, "on_the_way") is None
        again = await open_item(hub, "job_stalled", booking, "in_service")
        assert again is not None
        assert (await console.next("item:updated"))["seq"] == 7

        listed = await console.ok("items:list", {})
        assert [i["id"] for i in listed["items"]] == [str(other.id), str(again.id)]  # urgent first
        assert (await console.ok("items:list", {"state": "resolved"}))["items"][0]["id"] == str(opened.id)

        assert (
            await console.error("item:resolve", {"item_id": str(opened.id), "note": "x"}) == "item_resolved"
        )
        assert await console.error("item:acknowledge", {"item_id": str(opened.id)}) == "item_resolved"
        assert await console.error("item:get", {"item_id": str(uuid.uuid4())}) == "item_not_found"
        assert await console.error("item:note", {"item_id": "nope", "note": "x"}) == "invalid_payload"
        assert (
            await console.error("item:resolve", {"item_id": str(again.id), "note": ""}) == "invalid_payload"
        )
        assert await console.error("items:list", {"limit": 10_000}) == "invalid_payload"
        assert console.pending("item:updated") == []  # refusals changed nothing

        snapshot = await console.ok("console:snapshot")
        assert snapshot["seq"] == 7
        assert snapshot["items_by_priority"] == {"urgent": 1, "high": 0, "normal": 1, "low": 0}
    finally:
        await console.close()


async def test_a_console_away_replays_what_it_missed_in_order_once(hub: RunningHub) -> None:
    console = await agent(hub)
    first = await open_item(hub, "dispatch_escalated", "b-0")
    seen = (await console.next("item:updated"))["seq"]
    await console.close()

    opened = [await open_item(hub, "dispatch_escalated", f"b-{n}") for n in range(1, 6)]
    await items.resolve(hub.app[CONTEXT].pool, _staff(), first.id, "assigned by hand")
    await wait_until(lambda: _stream_at(hub, seen + 6))  # the relay has passed them all on

    back = await Peer("/support").connect(hub.url, hub.token("support", "a-1"), sync={"console_since": seen})
    try:
        answer = await back.next("sync")
        replay = answer["data"]["console"]
        assert (replay["reset"], replay["more"], replay["last_seq"]) == (False, False, seen + 6)
        assert [e["seq"] for e in replay["events"]] == list(range(seen + 1, seen + 7))
        # Different items are relayed side by side: the stream's order is its own, each once.
        opened_ids = [e["data"]["item"]["id"] for e in replay["events"] if e["data"]["action"] == "opened"]
        assert sorted(opened_ids) == sorted(str(i.id) for i in opened)
        resolved = [e["data"]["item"]["id"] for e in replay["events"] if e["data"]["action"] == "resolved"]
        assert resolved == [str(first.id)]
        assert {e["event"] for e in replay["events"]} == {"item:updated"}
        assert replay["events"][0]["data"]["seq"] == seen + 1  # as it was sent live

        again = await back.ok("sync", {"console_since": replay["last_seq"]})
        assert again["console"]["events"] == []
        assert (await back.ok("sync", {"console_since": 10_000}))["console"]["reset"] is True
    finally:
        await back.close()


async def test_pruned_stream_asks_for_a_snapshot_and_customers_cannot_read_it(hub: RunningHub) -> None:
    for n in range(3):
        await open_item(hub, "low_review", f"b-{n}")
    console = await agent(hub)
    customer = await Peer("/customer").connect(hub.url, hub.token("customer", "c-1"))
    try:
        await console.next("console:snapshot")
        pool = hub.app[CONTEXT].pool
        await wait_until(lambda: _stream_at(hub, 3))
        await pool.execute("UPDATE console_feed SET at = now() - interval '100 hours'")
        assert await store.prune(pool, 72) == 2  # the latest stays, so the stream's end is known
        replay = await console.ok("sync", {"console_since": 0})
        assert (replay["console"]["reset"], replay["console"]["last_seq"]) == (True, 3)
        assert (await console.ok("sync", {"console_since": 2}))["console"]["events"][0]["seq"] == 3

        assert await customer.error("sync", {"console_since": 0}) == "console_staff_only"
        assert (await customer.call("item:acknowledge", {"item_id": str(uuid.uuid4())}))["ok"] is False
    finally:
        await console.close()
        await customer.close()


async def _stream_at(hub: RunningHub, seq: int) -> bool:
    last = await hub.app[CONTEXT].pool.fetchval("SELECT last_seq FROM console_stream")
    return bool(last >= seq)


def _staff() -> Principal:
    return Principal(user_id="a-9", role=Role.SUPPORT, expires_at=0)


async def test_one_source_appended_from_many_connections_at_once_takes_one_seq(hub: RunningHub) -> None:
    pool = hub.app[CONTEXT].pool

    async def append(source: str) -> tuple[int, bool]:
        async with pool.acquire() as conn:
            return await store.append(conn, "item:updated", {"n": source}, source)

    for n in range(20):  # the same outbox event delivered by several nodes at the same moment
        answers = await asyncio.gather(*(append(f"event-{n}") for _ in range(6)))
        assert [new for _, new in answers].count(True) == 1
        assert len({seq for seq, _ in answers}) == 1
    _, last = await store.bounds(pool)
    seqs = [r["seq"] for r in await store.after(pool, 0, 100)]
    assert seqs == list(range(1, last + 1)) == list(range(1, 21))  # no gap, none twice
