"""Presence: the same contract against the in-process and the Redis tracker, then multi-node Redis.

Timings are shrunk (grace 0.3 s, TTL 1 s, sweep 0.1 s). A change that must *not* happen is
checked after a later change that must, so no test sleeps hoping for the best.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from hub.env import ConfigError
from hub.presence import (
    InvalidStatus,
    PresenceChange,
    PresenceConfig,
    PresenceState,
    PresenceTracker,
    Status,
    create_tracker,
)
from hub.presence.memory import MemoryPresenceTracker
from hub.presence.redis import RedisPresenceTracker
from tests.conftest import REDIS_URL, require_service, wait_until

GRACE = 0.3
TTL = 1.0
SWEEP = 0.1
CLOCK_SLACK = timedelta(milliseconds=20)  # Redis keeps milliseconds; two clocks on one host

ONLINE, BUSY, ON_LEAVE, AWAY, OFFLINE = Status  # in declaration order


class Recorder:
    """An ``on_change`` callback remembering every change; one may listen on several nodes."""

    def __init__(self) -> None:
        self.changes: list[PresenceChange] = []

    async def __call__(self, change: PresenceChange) -> None:
        self.changes.append(change)

    def of(self, user_id: str) -> list[tuple[Status, Status]]:
        return [(c.previous, c.state.status) for c in self.changes if c.state.user_id == user_id]

    async def until(self, user_id: str, count: int) -> list[tuple[Status, Status]]:
        """Wait for ``count`` changes of ``user_id``; return all of them, (previous, new) each."""
        await wait_until(lambda: len(self.of(user_id)) >= count)
        return self.of(user_id)

    async def wait_for(self, user_id: str, status: Status) -> PresenceChange:
        """Wait for a change of ``user_id`` to ``status``; return the latest such change."""

        def found() -> PresenceChange | None:
            hits = [c for c in self.changes if c.state.user_id == user_id and c.state.status is status]
            return hits[-1] if hits else None

        change: PresenceChange = await wait_until(found)
        return change


@dataclass
class Backend:
    """Trackers of one kind sharing one store (for Redis: one random key prefix)."""

    kind: str
    redis_url: str | None
    prefix: str
    trackers: list[PresenceTracker] = field(default_factory=list)

    async def node(self, recorder: Recorder | None = None, **config: Any) -> Any:
        base = PresenceConfig(
            grace_seconds=GRACE, ttl_seconds=TTL, sweep_seconds=SWEEP, key_prefix=self.prefix
        )
        tracker = create_tracker(dataclasses.replace(base, **config), self.redis_url)
        self.trackers.append(tracker)
        if recorder is not None:
            tracker.on_change(recorder)
        await tracker.start()
        return tracker

    async def crash(self, tracker: RedisPresenceTracker) -> None:
        """Kill a node as SIGKILL would: no more heartbeats or sweeps, its sockets left in Redis."""
        self.trackers.remove(tracker)
        tracker._stopping = True  # ends its loops even if a cancellation got lost
        for task in tracker._tasks:
            task.cancel()
        await asyncio.gather(*tracker._tasks, return_exceptions=True)
        await tracker._redis.aclose()  # only so that the test leaves no connection open

    async def forget_everything(self) -> None:
        """Delete this test's keys, as a Redis restarting without persistence would."""
        assert self.redis_url is not None
        client = Redis.from_url(self.redis_url, decode_responses=True)
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@contextlib.asynccontextmanager
async def open_backend(kind: str) -> AsyncIterator[Backend]:
    redis_url = None
    if kind == "redis":
        require_service("Redis", REDIS_URL, 6379)
        redis_url = REDIS_URL
    backend = Backend(kind, redis_url, f"test:presence:{uuid.uuid4().hex}:")
    try:
        yield backend
    finally:
        for tracker in reversed(backend.trackers):
            await tracker.stop()
        if redis_url is not None:
            await backend.forget_everything()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    async with open_backend(request.param) as opened:
        yield opened


@pytest.fixture
async def redis_backend() -> AsyncIterator[Backend]:
    async with open_backend("redis") as opened:
        yield opened


@pytest.fixture
def changes() -> Recorder:
    return Recorder()


@pytest.fixture
async def tracker(backend: Backend, changes: Recorder) -> PresenceTracker:
    node: PresenceTracker = await backend.node(changes)
    return node


async def state_of(tracker: PresenceTracker, user_id: str) -> PresenceState:
    state = await tracker.get(user_id)
    assert state is not None
    return state


# --- the contract, for both backends -------------------------------------------------------------


async def test_connect_reports_online(tracker: PresenceTracker, changes: Recorder) -> None:
    before = datetime.now(UTC) - CLOCK_SLACK
    assert await tracker.get("w-1") is None
    await tracker.connect("w-1", "worker", "s1")
    change = await changes.wait_for("w-1", ONLINE)
    assert change.previous is OFFLINE
    state = change.state
    assert (state.user_id, state.role, state.status) == ("w-1", "worker", ONLINE)
    assert (state.last_seen, state.booking_id) == (None, None)
    assert before <= state.since <= datetime.now(UTC) + CLOCK_SLACK
    assert await tracker.get("w-1") == state


async def test_more_devices_change_nothing(tracker: PresenceTracker, changes: Recorder) -> None:
    await tracker.connect("c-1", "customer", "phone")
    await tracker.connect("c-1", "customer", "laptop")
    await tracker.connect("c-1", "customer", "laptop")  # the same socket twice is harmless
    await tracker.disconnect("c-1", "phone")
    await tracker.disconnect("c-1", "phone")  # and so is forgetting it twice
    await tracker.disconnect("c-1", "unknown")
    assert (await state_of(tracker, "c-1")).status is ONLINE
    # The last device going is a change; any spurious one before it would show in the list.
    await tracker.disconnect("c-1", "laptop")
    await changes.wait_for("c-1", OFFLINE)
    assert changes.of("c-1") == [(OFFLINE, ONLINE), (ONLINE, OFFLINE)]


async def test_offline_only_after_the_grace_period(tracker: PresenceTracker, changes: Recorder) -> None:
    await tracker.connect("w-1", "worker", "s1")
    await changes.wait_for("w-1", ONLINE)
    started = time.monotonic()
    await tracker.disconnect("w-1", "s1")
    during = await state_of(tracker, "w-1")
    assert during.status is ONLINE  # still, for the grace period
    assert during.last_seen is not None
    assert not await tracker.reachable("w-1")  # but a message now needs a push

    change = await changes.wait_for("w-1", OFFLINE)
    assert time.monotonic() - started >= GRACE - CLOCK_SLACK.total_seconds()
    assert change.previous is ONLINE
    assert change.state.last_seen == during.last_seen
    assert change.state.since - during.last_seen >= timedelta(seconds=GRACE) - CLOCK_SLACK
    assert await tracker.get("w-1") == change.state  # last_seen readable while offline
    assert changes.of("w-1") == [(OFFLINE, ONLINE), (ONLINE, OFFLINE)]


async def test_reconnect_within_the_grace_period_changes_nothing(
    tracker: PresenceTracker, changes: Recorder
) -> None:
    for user in ("w-1", "w-2"):
        await tracker.connect(user, "worker", "s1")
    await tracker.disconnect("w-1", "s1")
    # w-2 is the clock: its grace period ends no earlier than w-1's would have.
    await tracker.disconnect("w-2", "s1")
    await tracker.connect("w-1", "worker", "s2")
    await changes.wait_for("w-2", OFFLINE)
    assert changes.of("w-1") == [(OFFLINE, ONLINE)]
    assert (await state_of(tracker, "w-1")).status is ONLINE


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("worker", {ONLINE, ON_LEAVE}),
        ("support", {ONLINE, AWAY}),
        ("admin", {ONLINE, AWAY}),
        ("customer", set()),
    ],
)
async def test_who_may_choose_what(tracker: PresenceTracker, role: str, allowed: set[Status]) -> None:
    for status in Status:
        if status in allowed:
            state = await tracker.set_status("u-1", role, status)
            assert (state.role, state.status) == (role, OFFLINE)  # chosen, shown once connected
        else:
            with pytest.raises(InvalidStatus):
                await tracker.set_status("u-1", role, status)
    with pytest.raises(InvalidStatus):
        await tracker.set_status("u-1", role, "sleeping")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown role") as refused:
        await tracker.set_status("u-1", "plumber", ONLINE)
    assert not isinstance(refused.value, InvalidStatus)


async def test_chosen_status_shows_while_connected(tracker: PresenceTracker, changes: Recorder) -> None:
    await tracker.connect("a-1", "support", "s1")
    away = await tracker.set_status("a-1", "support", AWAY)
    assert away.status is AWAY
    assert await tracker.set_status("a-1", "support", AWAY) == away  # no change, same since
    back = await tracker.set_status("a-1", "support", ONLINE)
    assert back.status is ONLINE
    assert back.since >= away.since
    assert await changes.until("a-1", 3) == [(OFFLINE, ONLINE), (ONLINE, AWAY), (AWAY, ONLINE)]


@pytest.mark.parametrize(("user", "role", "chosen"), [("w-1", "worker", ON_LEAVE), ("a-1", "support", AWAY)])
async def test_chosen_status_persists_over_reconnect(
    tracker: PresenceTracker, changes: Recorder, user: str, role: str, chosen: Status
) -> None:
    await tracker.connect(user, role, "s1")
    await tracker.set_status(user, role, chosen)
    await tracker.disconnect(user, "s1")
    await changes.wait_for(user, OFFLINE)
    await tracker.connect(user, role, "s2")
    expected = [(OFFLINE, ONLINE), (ONLINE, chosen), (chosen, OFFLINE), (OFFLINE, chosen)]
    assert await changes.until(user, 4) == expected


async def test_busy_overrides_and_clear_busy_restores(tracker: PresenceTracker, changes: Recorder) -> None:
    await tracker.connect("w-1", "worker", "s1")
    await tracker.set_busy("w-1", "b-42")
    busy = await state_of(tracker, "w-1")
    assert (busy.status, busy.booking_id) == (BUSY, "b-42")
    # Chosen meanwhile, shown once the job is over.
    assert (await tracker.set_status("w-1", "worker", ON_LEAVE)).status is BUSY
    await tracker.clear_busy("w-1")
    after = await state_of(tracker, "w-1")
    assert (after.status, after.booking_id) == (ON_LEAVE, None)
    await tracker.clear_busy("w-1")  # harmless twice
    await tracker.clear_busy("never-seen")
    assert await tracker.get("never-seen") is None
    assert await changes.until("w-1", 3) == [(OFFLINE, ONLINE), (ONLINE, BUSY), (BUSY, ON_LEAVE)]


async def test_busy_lasts_across_disconnects(tracker: PresenceTracker, changes: Recorder) -> None:
    await tracker.set_busy("w-1", "b-1")  # the job may start before the app reconnects
    offline = await state_of(tracker, "w-1")
    assert (offline.role, offline.status, offline.booking_id) == ("worker", OFFLINE, None)
    await tracker.connect("w-1", "worker", "s1")
    assert (await changes.wait_for("w-1", BUSY)).state.booking_id == "b-1"
    await tracker.disconnect("w-1", "s1")
    assert (await changes.wait_for("w-1", OFFLINE)).state.booking_id is None
    await tracker.connect("w-1", "worker", "s2")
    assert await changes.until("w-1", 3) == [(OFFLINE, BUSY), (BUSY, OFFLINE), (OFFLINE, BUSY)]


async def test_only_workers_can_be_busy(tracker: PresenceTracker) -> None:
    await tracker.connect("a-1", "support", "s1")
    with pytest.raises(InvalidStatus):
        await tracker.set_busy("a-1", "b-1")
    with pytest.raises(ValueError, match="booking_id"):
        await tracker.set_busy("w-1", "")
    assert (await state_of(tracker, "a-1")).status is ONLINE


async def test_snapshot_and_count(tracker: PresenceTracker, changes: Recorder) -> None:
    people = {
        "c-1": "customer",
        "w-1": "worker",
        "w-2": "worker",
        "s-1": "support",
        "s-2": "support",
        "s-3": "support",
        "ad-1": "admin",
    }
    for user, role in people.items():
        await tracker.connect(user, role, "s")
    await tracker.set_busy("w-1", "b-1")
    await tracker.set_status("w-2", "worker", ON_LEAVE)
    await tracker.set_status("s-2", "support", AWAY)
    await tracker.disconnect("s-3", "s")
    await changes.wait_for("s-3", OFFLINE)

    counts = {
        ("support", ONLINE): 2,  # s-1 and the admin: admins are agents too
        ("support", AWAY): 1,
        ("support", OFFLINE): 1,
        ("admin", ONLINE): 1,
        ("worker", BUSY): 1,
        ("worker", ON_LEAVE): 1,
        ("worker", ONLINE): 0,
        ("customer", ONLINE): 1,
        ("customer", OFFLINE): 0,
    }
    for (role, status), expected in counts.items():
        assert await tracker.count(role, status) == expected, (role, status)

    def summary(states: list[PresenceState]) -> list[tuple[str, str, Status, str | None]]:
        return [(s.user_id, s.role, s.status, s.booking_id) for s in states]

    support = await tracker.snapshot("support")
    assert summary(support) == [
        ("ad-1", "admin", ONLINE, None),
        ("s-1", "support", ONLINE, None),
        ("s-2", "support", AWAY, None),
        ("s-3", "support", OFFLINE, None),
    ]
    assert support[3].last_seen is not None
    assert summary(await tracker.snapshot("worker")) == [
        ("w-1", "worker", BUSY, "b-1"),
        ("w-2", "worker", ON_LEAVE, None),
    ]
    assert [s.user_id for s in await tracker.snapshot("admin")] == ["ad-1"]
    assert [s.user_id for s in await tracker.snapshot("customer")] == ["c-1"]
    with pytest.raises(ValueError, match="unknown role"):
        await tracker.snapshot("plumber")
    with pytest.raises(ValueError, match="unknown role"):
        await tracker.count("plumber", ONLINE)


async def test_reachable_needs_a_socket_in_the_foreground(tracker: PresenceTracker) -> None:
    assert not await tracker.reachable("c-1")
    await tracker.connect("c-1", "customer", "phone")
    assert await tracker.reachable("c-1")
    await tracker.set_background("c-1", "phone", True)
    assert not await tracker.reachable("c-1")
    await tracker.connect("c-1", "customer", "laptop")  # new sockets start in the foreground
    assert await tracker.reachable("c-1")
    await tracker.set_background("c-1", "laptop", True)
    assert not await tracker.reachable("c-1")
    await tracker.set_background("c-1", "phone", False)
    assert await tracker.reachable("c-1")
    await tracker.disconnect("c-1", "phone")
    assert not await tracker.reachable("c-1")  # only the laptop is left, in the background
    await tracker.set_background("c-1", "gone", False)  # unknown sockets are ignored
    await tracker.set_background("nobody", "s1", False)
    assert not await tracker.reachable("c-1")
    assert (await state_of(tracker, "c-1")).status is ONLINE  # background is not a status


async def test_callback_errors_do_not_break_the_tracker(
    backend: Backend, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(change: PresenceChange) -> None:
        raise RuntimeError("subscriber bug")

    changes = Recorder()
    tracker = await backend.node()
    tracker.on_change(broken)
    tracker.on_change(changes)
    with caplog.at_level(logging.ERROR, logger="hub.presence"):
        await tracker.connect("w-1", "worker", "s1")  # does not raise
        await tracker.disconnect("w-1", "s1")
        await changes.wait_for("w-1", OFFLINE)  # the grace expiry survived the error too
        await tracker.connect("w-1", "worker", "s2")
        assert await changes.until("w-1", 3) == [(OFFLINE, ONLINE), (ONLINE, OFFLINE), (OFFLINE, ONLINE)]
    assert "subscriber bug" in caplog.text


async def test_stop_right_after_start_does_not_hang(backend: Backend) -> None:
    # On Python 3.11 a cancellation can get lost in asyncio.wait_for (CPython gh-86296), which
    # redis-py uses around socket writes when it has a socket timeout; the sweeper then outlived
    # stop(). Stopping at once, while the first sweep is in flight, is when it happened.
    for i in range(30):
        tracker = await backend.node()
        await tracker.connect(f"w-{i}", "worker", "s1")
        await asyncio.wait_for(tracker.stop(), 5)


def test_state_to_dict() -> None:
    state = PresenceState("w-1", "worker", BUSY, datetime(2025, 1, 2, 3, 4, 5, 678_000, UTC), None, "b-1")
    assert state.to_dict() == {
        "user_id": "w-1",
        "role": "worker",
        "status": "busy",
        "since": "2025-01-02T03:04:05.678+00:00",
        "last_seen": None,
        "booking_id": "b-1",
    }
    json.dumps(state.to_dict())


# --- configuration -------------------------------------------------------------------------------


def test_config_defaults_and_overrides() -> None:
    assert PresenceConfig.from_env({}) == PresenceConfig()
    assert PresenceConfig.from_env(
        {
            "HUB_PRESENCE_GRACE_SECONDS": "0",
            "HUB_PRESENCE_TTL_SECONDS": "30",
            "HUB_PRESENCE_SWEEP_SECONDS": "0.5",
            "HUB_PRESENCE_KEY_PREFIX": "prod:presence:",
        }
    ) == PresenceConfig(grace_seconds=0.0, ttl_seconds=30.0, sweep_seconds=0.5, key_prefix="prod:presence:")


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"HUB_PRESENCE_GRACE_SECONDS": "soon"}, "HUB_PRESENCE_GRACE_SECONDS"),
        ({"HUB_PRESENCE_GRACE_SECONDS": "-1"}, "HUB_PRESENCE_GRACE_SECONDS"),
        ({"HUB_PRESENCE_GRACE_SECONDS": "nan"}, "HUB_PRESENCE_GRACE_SECONDS"),
        ({"HUB_PRESENCE_SWEEP_SECONDS": "0.001"}, "HUB_PRESENCE_SWEEP_SECONDS"),
        ({"HUB_PRESENCE_TTL_SECONDS": "0.5"}, "HUB_PRESENCE_TTL_SECONDS"),
        ({"HUB_PRESENCE_TTL_SECONDS": "inf"}, "HUB_PRESENCE_TTL_SECONDS"),
        ({"HUB_PRESENCE_TTL_SECONDS": "2", "HUB_PRESENCE_SWEEP_SECONDS": "1"}, "HUB_PRESENCE_TTL_SECONDS"),
    ],
)
def test_config_errors_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        PresenceConfig.from_env(env)
    assert error.value.variable == variable


async def test_create_tracker_picks_the_backend() -> None:
    memory = create_tracker(PresenceConfig(), None)
    assert isinstance(memory, MemoryPresenceTracker)
    # Building the Redis tracker connects to nothing yet, so no Redis is needed here.
    shared = create_tracker(PresenceConfig(), "redis://127.0.0.1:1/0")
    assert isinstance(shared, RedisPresenceTracker)
    await shared.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        await shared.start()


# --- several nodes on one Redis ------------------------------------------------------------------


async def test_nodes_see_each_others_sockets(redis_backend: Backend) -> None:
    on_a, on_b, everywhere = Recorder(), Recorder(), Recorder()
    a = await redis_backend.node(on_a)
    b = await redis_backend.node(on_b)
    a.on_change(everywhere)
    b.on_change(everywhere)

    await a.connect("w-1", "worker", "s1")
    assert on_a.of("w-1") == [(OFFLINE, ONLINE)]  # reported by the node that caused it, only
    assert on_b.of("w-1") == []
    assert (await state_of(b, "w-1")).status is ONLINE
    assert await b.reachable("w-1")
    assert await b.count("worker", ONLINE) == 1

    await b.connect("w-1", "worker", "s1")  # the same socket id on another node is another socket
    await a.disconnect("w-1", "s1")  # the socket on b keeps them online
    await b.set_background("w-1", "s1", True)
    assert not await a.reachable("w-1")
    assert (await a.set_status("w-1", "worker", ON_LEAVE)).status is ON_LEAVE
    await b.disconnect("w-1", "s1")
    await everywhere.wait_for("w-1", OFFLINE)
    assert everywhere.of("w-1") == [(OFFLINE, ONLINE), (ONLINE, ON_LEAVE), (ON_LEAVE, OFFLINE)]


async def test_killed_node_people_go_offline_elsewhere_once(redis_backend: Backend) -> None:
    changes = Recorder()
    doomed = await redis_backend.node()
    survivors = [await redis_backend.node(changes) for _ in range(2)]
    workers = [f"w-{i}" for i in range(20)]
    for worker in workers:
        await doomed.connect(worker, "worker", "s1")
    await survivors[0].connect("c-1", "customer", "s1")

    await redis_backend.crash(doomed)
    killed = time.monotonic()

    async def all_offline() -> bool:
        states = [await state_of(survivors[0], w) for w in workers]
        return all(s.status is OFFLINE for s in states)

    # Worst case: the last heartbeat just before the kill, so the sockets expire a TTL later; the
    # grace period runs from there, and the sweep that notices comes at most a sweep interval on.
    bound = GRACE + TTL + SWEEP
    await wait_until(all_offline, within=bound + 0.5)
    assert time.monotonic() - killed <= bound + 0.5

    # Both survivors keep sweeping: let each do a few rounds (a grace period's worth), then check
    # that every worker was reported offline exactly once between them.
    await survivors[1].connect("m-1", "customer", "s1")
    await survivors[1].disconnect("m-1", "s1")
    await changes.wait_for("m-1", OFFLINE)
    for worker in workers:
        assert changes.of(worker) == [(ONLINE, OFFLINE)], worker
        assert (await state_of(survivors[1], worker)).last_seen is not None
    assert (await state_of(survivors[1], "c-1")).status is ONLINE


async def test_clean_stop_keeps_the_grace_period(redis_backend: Backend) -> None:
    changes = Recorder()
    leaving = await redis_backend.node(changes)
    staying = await redis_backend.node(changes)
    await leaving.connect("w-1", "worker", "s1")
    await staying.connect("w-2", "worker", "s1")
    stopped = time.monotonic()
    await leaving.stop()
    assert (await state_of(staying, "w-1")).status is ONLINE  # still, for the grace period
    await changes.wait_for("w-1", OFFLINE)  # reported by the node still running
    assert time.monotonic() - stopped >= GRACE - CLOCK_SLACK.total_seconds()
    assert changes.of("w-1") == [(OFFLINE, ONLINE), (ONLINE, OFFLINE)]
    assert (await state_of(staying, "w-2")).status is ONLINE


async def test_stop_closes_the_redis_connection(redis_backend: Backend) -> None:
    tracker = await redis_backend.node()
    await tracker.connect("w-1", "worker", "s1")
    name = f"hub-presence-{tracker.node_id}"
    admin = Redis.from_url(REDIS_URL, decode_responses=True)

    async def named_connections() -> int:
        return sum(1 for client in await admin.client_list() if client.get("name") == name)

    async def all_closed() -> bool:
        return await named_connections() == 0

    try:
        assert await named_connections() >= 1
        await tracker.stop()
        await wait_until(all_closed)
    finally:
        await admin.aclose()
    with pytest.raises(RuntimeError, match="stopped"):
        await tracker.get("w-1")
    await tracker.disconnect("w-1", "s1")  # a late disconnect handler is harmless
    await tracker.stop()  # and so is stopping twice


async def test_chosen_status_survives_a_restart(redis_backend: Backend) -> None:
    changes = Recorder()
    before = await redis_backend.node()
    await before.connect("w-1", "worker", "s1")
    await before.set_status("w-1", "worker", ON_LEAVE)
    await before.stop()
    after = await redis_backend.node(changes)  # the same node, restarted
    await changes.wait_for("w-1", OFFLINE)
    await after.connect("w-1", "worker", "s2")
    assert (await changes.wait_for("w-1", ON_LEAVE)).previous is OFFLINE


async def test_heartbeat_restores_sockets_redis_lost(redis_backend: Backend) -> None:
    changes = Recorder()
    tracker = await redis_backend.node(changes)
    await tracker.connect("w-1", "worker", "s1")
    await tracker.set_background("w-1", "s1", True)
    await redis_backend.forget_everything()
    assert await tracker.get("w-1") is None

    async def back_online() -> bool:
        state = await tracker.get("w-1")
        return state is not None and state.status is ONLINE

    await wait_until(back_online, within=TTL)  # the next heartbeat, due within TTL/3
    assert not await tracker.reachable("w-1")  # with the socket's background flag
