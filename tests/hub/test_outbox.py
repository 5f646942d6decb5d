"""The transactional outbox and its relay, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import uuid
from typing import Any

import asyncpg
import pytest

from hub.bus import Bus
from hub.claimloop import backoff
from hub.events import Event, StoredEvent
from hub.keys import DATABASE
from hub.outbox import Relay
from hub.settings import Settings
from hub.storage.db import create_pool
from hub.storage.migrate import migrate
from hub.storage.outbox import publish
from tests.support.hubs import JWT_SECRET, StartHub
from tests.support.waiting import wait_until


def outbox_settings(**overrides: Any) -> Any:
    base = Settings.from_env(
        {
            "HUB_JWT_SECRET": JWT_SECRET,
            "HUB_OUTBOX_SWEEP_SECONDS": "0.5",
            "HUB_OUTBOX_BACKOFF_BASE": "0.05",
            "HUB_OUTBOX_BACKOFF_CAP": "0.2",
        }
    ).outbox
    return dataclasses.replace(base, **overrides)


class Recorder:
    """A subscriber that remembers what it saw; can be told to fail a number of times."""

    def __init__(self, fail_times: int = 0) -> None:
        self.seen: list[uuid.UUID] = []
        self.fail_times = fail_times
        self.calls = 0

    async def __call__(self, event: StoredEvent) -> None:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise RuntimeError(f"simulated failure {self.calls}")
        self.seen.append(event.id)


async def publish_committed(pool: asyncpg.Pool, *events: Event) -> None:
    async with pool.acquire() as conn, conn.transaction():
        for event in events:
            await publish(conn, event)


async def event_row(pool: asyncpg.Pool, event: Event) -> asyncpg.Record:
    row = await pool.fetchrow("SELECT * FROM events WHERE event_id = $1", event.id)
    assert row is not None
    return row


async def test_rolled_back_event_is_never_delivered(pool: asyncpg.Pool, database_url: str) -> None:
    recorder = Recorder()
    bus = Bus()
    bus.subscribe("recorder", recorder)
    relay = Relay(pool, database_url, bus, outbox_settings())
    relay.start()
    try:
        doomed = Event("booking.created", {"n": 1})
        async with pool.acquire() as conn:
            transaction = conn.transaction()
            await transaction.start()
            await publish(conn, doomed)
            await transaction.rollback()
        marker = Event("booking.created", {"n": 2})
        await publish_committed(pool, marker)
        await wait_until(lambda: marker.id in recorder.seen)
        # The relay has passed the point where the doomed event would have been.
        assert recorder.seen == [marker.id]
        assert await pool.fetchval("SELECT count(*) FROM events WHERE event_id = $1", doomed.id) == 0
    finally:
        await relay.stop()


async def test_notify_wakes_the_relay_before_the_sweep(pool: asyncpg.Pool, database_url: str) -> None:
    recorder = Recorder()
    bus = Bus()
    bus.subscribe("recorder", recorder)
    relay = Relay(pool, database_url, bus, outbox_settings(sweep_seconds=3600.0))
    relay.start()
    try:
        await wait_until(lambda: relay._listener is not None)
        event = Event("worker.status_changed", {"status": "online"})
        await publish_committed(pool, event)
        # With an hour-long sweep, only LISTEN/NOTIFY can deliver within the wait.
        await wait_until(lambda: recorder.seen == [event.id])
    finally:
        await relay.stop()


async def test_exactly_once_with_two_relays(pool: asyncpg.Pool, database_url: str) -> None:
    counts: collections.Counter[uuid.UUID] = collections.Counter()
    handled_by: collections.Counter[str] = collections.Counter()

    def subscriber(node: str) -> Any:
        async def handle(event: StoredEvent) -> None:
            counts[event.id] += 1
            handled_by[node] += 1
            await asyncio.sleep(0)  # let the other relay run in between

        return handle

    other_pool = await create_pool(database_url, 1, 5)
    relays = []
    for node, node_pool in (("a", pool), ("b", other_pool)):
        bus = Bus()
        bus.subscribe("dispatch", subscriber(node))  # same name on both nodes, as in production
        relays.append(Relay(node_pool, database_url, bus, outbox_settings(batch_size=7)))
    for relay in relays:
        relay.start()
    try:
        events = [Event("booking.paid", {"i": i}) for i in range(300)]
        await asyncio.gather(*(publish_committed(pool, *events[i : i + 10]) for i in range(0, 300, 10)))
        await wait_until(lambda: len(counts) == 300, within=30)
        await wait_until(
            lambda: pool.fetchval("SELECT count(*) = 300 FROM events WHERE delivered_at IS NOT NULL")
        )
        assert set(counts) == {e.id for e in events}
        assert set(counts.values()) == {1}
        assert sum(handled_by.values()) == 300
    finally:
        for relay in relays:
            await relay.stop()
        await other_pool.close()


async def test_failing_subscriber_is_retried_and_others_are_not_repeated(
    pool: asyncpg.Pool, database_url: str
) -> None:
    flaky, steady = Recorder(fail_times=2), Recorder()
    bus = Bus()
    bus.subscribe("flaky", flaky)
    bus.subscribe("steady", steady)
    relay = Relay(pool, database_url, bus, outbox_settings())
    relay.start()
    try:
        event = Event("notification.created", {"user": "c-1"})
        await publish_committed(pool, event)
        await wait_until(lambda: flaky.seen == [event.id])
        await wait_until(lambda: pool.fetchval("SELECT delivered_at IS NOT NULL FROM events"))
        row = await event_row(pool, event)
        assert row["attempts"] == 3
        assert row["last_error"] is None
        assert steady.seen == [event.id]  # delivered once, not on each retry
    finally:
        await relay.stop()


async def test_gives_up_after_max_attempts(pool: asyncpg.Pool, database_url: str) -> None:
    broken = Recorder(fail_times=10**6)
    bus = Bus()
    bus.subscribe("broken", broken)
    relay = Relay(pool, database_url, bus, outbox_settings(max_attempts=3))
    relay.start()
    try:
        event = Event("payment.failed", {})
        await publish_committed(pool, event)
        await wait_until(lambda: pool.fetchval("SELECT dead_at IS NOT NULL FROM events"))
        row = await event_row(pool, event)
        assert row["attempts"] == 3
        assert "simulated failure 3" in row["last_error"]
        assert broken.calls == 3
    finally:
        await relay.stop()


async def test_events_survive_a_hub_restart(start_hub: StartHub) -> None:
    down = Recorder(fail_times=10**6)
    first_bus = Bus()
    first_bus.subscribe("notifier", down)
    first = await start_hub(bus=first_bus)
    pool = first.app[DATABASE].pool
    event = Event("booking.accepted", {"booking_id": "b-1"})
    await publish_committed(pool, event)
    await wait_until(lambda: down.calls >= 1)
    await first.server.close()  # the hub stops before the event could be delivered

    up = Recorder()
    second_bus = Bus()
    second_bus.subscribe("notifier", up)
    second = await start_hub(bus=second_bus)
    pool = second.app[DATABASE].pool
    await wait_until(lambda: up.seen == [event.id])
    # The subscriber runs before the relay records the delivery; wait for the record too.
    await wait_until(lambda: pool.fetchval("SELECT delivered_at IS NOT NULL FROM events"))
    row = await event_row(pool, event)
    assert row["attempts"] == down.calls + 1


async def test_event_published_while_no_hub_runs_is_delivered_on_start(
    start_hub: StartHub, database_url: str
) -> None:
    pool = await create_pool(database_url, 1, 2)
    try:
        async with pool.acquire() as conn:
            await migrate(conn)
        event = Event("review.created", {"rating": 5})
        await publish_committed(pool, event)
    finally:
        await pool.close()
    recorder = Recorder()
    bus = Bus()
    bus.subscribe("reviews", recorder, topics=["review.created"])
    await start_hub(bus=bus)
    await wait_until(lambda: recorder.seen == [event.id])


async def test_topic_filter(pool: asyncpg.Pool, database_url: str) -> None:
    bookings, everything = Recorder(), Recorder()
    bus = Bus()
    bus.subscribe("bookings", bookings, topics=["booking.created"])
    bus.subscribe("audit", everything)
    with pytest.raises(ValueError, match="already registered"):
        bus.subscribe("audit", everything)
    relay = Relay(pool, database_url, bus, outbox_settings())
    relay.start()
    try:
        created, paid = Event("booking.created", {}), Event("booking.paid", {})
        await publish_committed(pool, created, paid)
        await wait_until(lambda: len(everything.seen) == 2)
        assert everything.seen == [created.id, paid.id]  # in commit order
        assert bookings.seen == [created.id]
    finally:
        await relay.stop()


def test_backoff_is_capped_and_grows() -> None:
    assert 0.8 <= backoff(1, 1.0, 60.0) <= 1.2
    assert 6.4 <= backoff(4, 1.0, 60.0) <= 9.6
    assert backoff(40, 1.0, 60.0) <= 72.0
    await_free = [backoff(3, 0.5, 300.0) for _ in range(50)]
    assert len(set(await_free)) > 1  # jittered


async def test_lanes_run_side_by_side_and_keep_their_own_order(pool: asyncpg.Pool, database_url: str) -> None:
    """Events of one key are delivered in order; another key's events do not wait for them."""
    log: list[tuple[str, str]] = []  # ("start" | "end", event name), in the order they happened
    other_key_started = asyncio.Event()

    async def handler(event: StoredEvent) -> None:
        name = str(event.payload["name"])
        log.append(("start", name))
        if event.payload["key"] == "b":
            other_key_started.set()
        if name == "a1":
            # Serial delivery would never get to b1 while a1 waits here (and would time out).
            await asyncio.wait_for(other_key_started.wait(), 5)
        log.append(("end", name))

    bus = Bus()
    bus.subscribe("lanes", handler, topics=["lane.test"])
    bus.order_by("lane.test", lambda payload: str(payload["key"]))
    events = [Event("lane.test", {"key": k, "name": n}) for k, n in (("a", "a1"), ("a", "a2"), ("b", "b1"))]
    await publish_committed(pool, *events)
    relay = Relay(pool, database_url, bus, outbox_settings())
    relay.start()
    try:
        await wait_until(lambda: len(log) == 6)
    finally:
        await relay.stop()
    assert log.index(("start", "b1")) < log.index(("end", "a1"))  # b1 ran while a1 was waiting
    assert log.index(("end", "a1")) < log.index(("start", "a2"))  # a2 only after a1 was done
    assert await pool.fetchval("SELECT count(*) FROM events WHERE delivered_at IS NULL") == 0
