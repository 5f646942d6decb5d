"""The two rules of everything the hub writes, checked on what a real booking sends.

A booking is walked from quote to review and complaint over real HTTP and real sockets, and every
body, event and ack on the way is kept. Then each of them is walked: every string that reads as a
time must be ISO 8601 in UTC with ``Z`` (``hub.times``), and every object with ``items`` must be
a list response with ``next_cursor``. Cursors that hold a time (bookings, points, spending) must
lead to the next page exactly: each item once, none skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from hub.keys import CONTEXT
from tests.support.bookings import CENTRE, booking_request, open_peer, start
from tests.support.clients import Peer
from tests.support.hubs import RunningHub, StartHub

# A date followed by a time: what a client would parse as a timestamp (a bare date is a date).
TIMELIKE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
WRITTEN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")
# Not lists: recovery replays streams by seq (``more``), a snapshot is where the console stands.
NOT_LISTS = ("sync", "console:snapshot")


class Recorder:
    """Every HTTP body, socket event and ack the test receives, with where it came from."""

    def __init__(self, hub: RunningHub) -> None:
        self.hub = hub
        self.seen: list[tuple[str, Any]] = []

    async def http(self, method: str, path: str, who: tuple[str, str], **kwargs: Any) -> Any:
        status, body = await self.hub.http(method, path, self.hub.token(*who), **kwargs)
        assert status < 300, (method, path, status, body)
        self.seen.append((f"{method} {path}", body))
        return body

    async def refused(self, method: str, path: str, who: tuple[str, str], **kwargs: Any) -> Any:
        status, body = await self.hub.http(method, path, self.hub.token(*who), **kwargs)
        assert status >= 400, (method, path, status, body)
        self.seen.append((f"{method} {path} -> {status}", body))
        return body

    async def ok(self, peer: Peer, event: str, data: Any = None) -> Any:
        ack = await peer.call(event, data)
        assert ack["ok"] is True, (event, ack)
        self.seen.append((f"ack {peer.namespace} {event}", ack))
        return ack["data"]

    def events(self, peer: Peer) -> None:
        """Keep whatever the peer was sent (and not consumed)."""
        for name in list(peer.queues):
            for data in peer.pending(name):
                self.seen.append((f"event {peer.namespace} {name}", data))


def walk(value: Any, where: str) -> Iterator[tuple[str, Any]]:
    yield where, value
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from walk(inner, f"{where}.{key}")
    elif isinstance(value, list):
        for n, inner in enumerate(value):
            yield from walk(inner, f"{where}[{n}]")


def check_rules(seen: list[tuple[str, Any]]) -> tuple[int, int]:
    """(times, lists) checked; fails on the first of either that breaks its rule."""
    times = lists = 0
    for origin, body in seen:
        for where, value in walk(body, origin):
            if isinstance(value, str) and TIMELIKE.match(value):
                assert WRITTEN.match(value), f"{where}: {value!r} is not UTC with Z"
                assert datetime.fromisoformat(value).utcoffset() == UTC.utcoffset(None)
                times += 1
            a_list = not origin.endswith(NOT_LISTS)
            if a_list and isinstance(value, dict) and isinstance(value.get("items"), list):
                assert "next_cursor" in value, f"{where}: a list without next_cursor"
                assert value["next_cursor"] is None or isinstance(value["next_cursor"], str), where
                lists += 1
    return times, lists


async def every_page(rec: Recorder, path: str, who: tuple[str, str]) -> list[Any]:
    """The items of every page of a paged list, one item a page, following its cursors."""
    found: list[Any] = []
    cursor = None
    while True:
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await rec.http("GET", path, who, params=params)
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


async def test_a_booking_writes_every_time_in_utc_and_every_list_alike(
    start_hub: StartHub, peers: list[Peer]
) -> None:
    hub = await start(start_hub, workers=1)
    rec = Recorder(hub)
    customer_id, worker_id = ("customer", "c-1"), ("worker", "w-1")
    admin, agent_id = ("admin", "admin-1"), ("support", "agent-1")
    worker = await open_peer(hub, peers, "/worker", *worker_id)
    customer = await open_peer(hub, peers, "/customer", *customer_id)
    agent = await open_peer(hub, peers, "/support", *agent_id)
    await rec.ok(worker, "presence:set", {"status": "online"})

    await rec.http("POST", "/api/v1/bookings/quote", customer_id, json=booking_request())
    booking = await rec.http("POST", "/api/v1/bookings", customer_id, json=booking_request())
    await rec.http(
        "POST", f"/api/v1/admin/bookings/{booking['id']}/mark-paid", admin, json={"payment_ref": "p-1"}
    )
    offer = await worker.next("offer")
    rec.seen.append(("event /worker offer", offer))
    await rec.ok(worker, "offer:list")
    await rec.ok(worker, "offer:seen", {"offer_id": offer["offer_id"]})
    accepted = await rec.ok(worker, "offer:accept", {"offer_id": offer["offer_id"]})
    here = {"booking_id": booking["id"], "lat": CENTRE[0], "lng": CENTRE[1]}
    await rec.ok(worker, "job:depart", {**here, "eta_minutes": 10})
    await rec.ok(worker, "job:location", here)
    await rec.ok(worker, "job:arrive", here)
    await rec.ok(worker, "job:start", {"booking_id": booking["id"]})
    await rec.ok(worker, "job:finish", {"booking_id": booking["id"]})
    await customer.next_where("booking:updated", lambda u: u["entry"]["kind"] == "finished")

    # Chat, the inbox and recovery.
    conversation = accepted["conversation_id"]
    await rec.ok(
        customer, "chat:send", {"conversation_id": conversation, "client_id": "m-1", "body": "thanks"}
    )
    await rec.ok(customer, "chat:history", {"conversation_id": conversation})
    await rec.ok(customer, "conversations:list")
    await rec.ok(customer, "notifications:list")
    await rec.ok(customer, "sync", {"notifications_since": 0, "conversations": {conversation: 0}})
    await rec.ok(customer, "ping")
    await rec.ok(customer, "support:open")
    await rec.ok(agent, "support:queue")
    await rec.ok(agent, "presence:snapshot")
    await rec.ok(agent, "console:snapshot")
    await rec.ok(agent, "items:list", {"state": "unresolved"})

    # Review, complaint, money.
    path = f"/api/v1/bookings/{booking['id']}"
    await rec.http("POST", f"{path}/review", customer_id, json={"quality": 5, "attitude": 5, "skill": 4})
    await rec.http("POST", f"{path}/complaints", customer_id, json={"category": "quality", "body": "Dusty."})
    for who, route in (
        (customer_id, path),
        (customer_id, "/api/v1/bookings"),
        (customer_id, "/api/v1/notifications"),
        (customer_id, "/api/v1/conversations"),
        (customer_id, "/api/v1/customers/me/points"),
        (customer_id, "/api/v1/customers/me/spending"),
        (customer_id, "/api/v1/customers/me/addresses"),
        (customer_id, "/api/v1/customers/me/coupons"),
        (customer_id, "/api/v1/complaints"),
        (customer_id, f"{path}/payments"),
        (customer_id, "/api/v1/devices"),
        (worker_id, "/api/v1/workers/me"),
        (worker_id, "/api/v1/workers/me/offers"),
        (worker_id, "/api/v1/workers/me/income"),
        (worker_id, "/api/v1/workers/me/statements"),
        (worker_id, "/api/v1/workers/me/schedule"),
        (agent_id, "/api/v1/complaints"),
        (admin, "/api/v1/admin/workers"),
        (admin, "/api/v1/admin/workers/w-1/reviews"),
        (admin, "/api/v1/admin/outbox"),
        (admin, "/api/v1/admin/payouts"),
        (admin, "/api/v1/admin/coupons"),
        (admin, "/api/v1/admin/search/synonyms"),
        (customer_id, "/api/v1/workers"),
        (customer_id, "/api/v1/workers/w-1"),
        (customer_id, "/api/v1/workers/w-1/reviews"),
        (customer_id, "/api/v1/catalog/categories"),
        (customer_id, "/api/v1/services"),
    ):
        await rec.http("GET", route, who)
    # Errors too: a second review is refused, and any time in its details follows the rule.
    await rec.refused("POST", f"{path}/review", customer_id, json={"quality": 5, "attitude": 5, "skill": 4})
    for peer in (worker, customer, agent):
        rec.events(peer)

    times, lists = check_rules(rec.seen)
    assert times > 50, times  # the walk found the times it is about
    assert lists > 20, lists


async def test_cursors_that_hold_a_time_lose_nothing(start_hub: StartHub, peers: list[Peer]) -> None:
    hub = await start(start_hub, workers=0)
    rec = Recorder(hub)
    customer_id = ("customer", "c-1")
    made = [await rec.http("POST", "/api/v1/bookings", customer_id, json=booking_request()) for _ in range(3)]
    # Two rows of one instant: a cursor of (time, id) must still tell them apart.
    pool = hub.app[CONTEXT].pool
    await pool.execute(
        "UPDATE bookings SET created_at = $2 WHERE id = ANY($1::uuid[])",
        [b["id"] for b in made[:2]],
        datetime.now(UTC).replace(microsecond=123456),
    )
    for n in range(3):
        await pool.execute(
            """INSERT INTO point_entries (customer_id, kind, points, reference, note, created_at)
               VALUES ('c-1', 'earned', $1, $2, '', $3)""",
            n + 1,
            f"test:{n}",
            datetime(2026, 12, 2, 10, 0, 0, 500, tzinfo=UTC),
        )
    listed = await every_page(rec, "/api/v1/bookings", customer_id)
    assert sorted(b["id"] for b in listed) == sorted(b["id"] for b in made)
    points = await every_page(rec, "/api/v1/customers/me/points", customer_id)
    assert sorted(e["points"] for e in points) == [1, 2, 3]
    assert {e["at"] for e in points} == {"2026-12-02T10:00:00.000500Z"}
    check_rules(rec.seen)
    for route in ("/api/v1/bookings", "/api/v1/customers/me/points", "/api/v1/customers/me/spending"):
        refused = await rec.refused("GET", route, customer_id, params={"cursor": "bm9wZQ"})
        assert refused["error"]["code"] == "invalid_cursor"
