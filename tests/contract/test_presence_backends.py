"""The contract every presence backend keeps: the in-process tracker and the Redis tracker alike.

Each test runs once per backend, Redis twice (one server, and a three-shard Redis Cluster). A new
backend joins by an entry in ``BACKENDS``; the first test fails while a ``PresenceTracker`` in
``hub.presence`` has none. Timings come from
``tests.support.presence`` (grace 0.3 s, TTL 1 s, sweep 0.1 s); a change that must *not* happen is
checked after a later change that must, so no test sleeps hoping for the best.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

import hub.presence
from hub.presence import InvalidStatus, PresenceChange, PresenceState, PresenceTracker, Status
from hub.presence.memory import MemoryPresenceTracker
from hub.presence.redis import RedisPresenceTracker
from tests.support.presence import (
    AWAY,
    BUSY,
    CLOCK_SLACK,
    GRACE,
    OFFLINE,
    ON_LEAVE,
    ONLINE,
    Backend,
    Recorder,
    open_backend,
    state_of,
)

# Backend name -> its tracker class. Redis needs a server: under CI=true a missing one fails.
BACKENDS: dict[str, type[PresenceTracker]] = {
    "memory": MemoryPresenceTracker,
    "redis": RedisPresenceTracker,
    "redis-cluster": RedisPresenceTracker,  # its keys hash-tagged by group, on three shards
}


@pytest.fixture(params=sorted(BACKENDS))
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    # Asked for only by the Redis run, so the in-process run needs no server.
    redis_url = None
    if request.param == "redis":
        redis_url = request.getfixturevalue("redis_url")
    elif request.param == "redis-cluster":
        redis_url = request.getfixturevalue("redis_cluster").url
    async with open_backend(redis_url, cluster=request.param == "redis-cluster") as opened:
        yield opened


@pytest.fixture
def changes() -> Recorder:
    return Recorder()


@pytest.fixture
async def tracker(backend: Backend, changes: Recorder) -> PresenceTracker:
    node: PresenceTracker = await backend.node(changes)
    assert type(node) is BACKENDS[backend.kind]
    return node


def test_every_backend_is_in_the_contract() -> None:
    modules = pkgutil.iter_modules(hub.presence.__path__, f"{hub.presence.__name__}.")
    for module in modules:
        importlib.import_module(module.name)

    def concrete(cls: type[PresenceTracker]) -> set[type[PresenceTracker]]:
        # Only the hub's own: a test's stand-in subclass is no backend.
        shipped = cls.__module__.startswith(f"{hub.presence.__name__}.")
        found = {cls} if shipped and not cls.__abstractmethods__ else set()
        for sub in cls.__subclasses__():
            found |= concrete(sub)
        return found

    assert concrete(PresenceTracker) == set(BACKENDS.values())


async def test_connect_reports_online(tracker: PresenceTracker, changes: Recorder) -> None:
    before = datetime.now(UTC) - CLOCK_SLACK
    assert await tracker.get("w-1", "worker") is None
    await tracker.connect("w-1", "worker", "s1")
    change = await changes.wait_for("w-1", ONLINE)
    assert change.previous is OFFLINE
    state = change.state
    assert (state.user_id, state.role, state.status) == ("w-1", "worker", ONLINE)
    assert (state.last_seen, state.booking_id) == (None, None)
    assert before <= state.since <= datetime.now(UTC) + CLOCK_SLACK
    assert await tracker.get("w-1", "worker") == state


async def test_more_devices_change_nothing(tracker: PresenceTracker, changes: Recorder) -> None:
    await tracker.connect("c-1", "customer", "phone")
    await tracker.connect("c-1", "customer", "laptop")
    await tracker.connect("c-1", "customer", "laptop")  # the same socket twice is harmless
    await tracker.disconnect("c-1", "customer", "phone")
    await tracker.disconnect("c-1", "customer", "phone")  # and so is forgetting it twice
    await tracker.disconnect("c-1", "customer", "unknown")
    assert (await state_of(tracker, "c-1", "customer")).status is ONLINE
    # The last device going is a change; any spurious one before it would show in the list.
    await tracker.disconnect("c-1", "customer", "laptop")
    await changes.wait_for("c-1", OFFLINE)
    assert changes.of("c-1") == [(OFFLINE, ONLINE), (ONLINE, OFFLINE)]


async def test_offline_only_after_the_grace_period(tracker: PresenceTracker, changes: Recorder) -> None:
    await tracker.connect("w-1", "worker", "s1")
    await changes.wait_for("w-1", ONLINE)
    started = time.monotonic()
    await tracker.disconnect("w-1", "worker", "s1")
    during = await state_of(tracker, "w-1", "worker")
    assert during.status is ONLINE  # still, for the grace period
    assert during.last_seen is not None
    assert not await tracker.reachable("w-1", "worker")  # but a message now needs a push

    change = await changes.wait_for("w-1", OFFLINE)
    assert time.monotonic() - started >= GRACE - CLOCK_SLACK.total_seconds()
    assert change.previous is ONLINE
    assert change.state.last_seen == during.last_seen
    assert change.state.since - during.last_seen >= timedelta(seconds=GRACE) - CLOCK_SLACK
    assert await tracker.get("w-1", "worker") == change.state  # last_seen readable while offline
    assert changes.of("w-1") == [(OFFLINE, ONLINE), (ONLINE, OFFLINE)]


async def test_reconnect_within_the_grace_period_changes_nothing(
    tracker: PresenceTracker, changes: Recorder
) -> None:
    for user in ("w-1", "w-2"):
        await tracker.connect(user, "worker", "s1")
    await tracker.disconnect("w-1", "worker", "s1")
    # w-2 is the clock: its grace period ends no earlier than w-1's would have.
    await tracker.disconnect("w-2", "worker", "s1")
    await tracker.connect("w-1", "worker", "s2")
    await changes.wait_for("w-2", OFFLINE)
    assert changes.of("w-1") == [(OFFLINE, ONLINE)]
    assert (await state_of(tracker, "w-1", "worker")).status is ONLINE


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
    await tracker.disconnect(user, role, "s1")
    await changes.wait_for(user, OFFLINE)
    await tracker.connect(user, role, "s2")
    expected = [(OFFLINE, ONLINE), (ONLINE, chosen), (chosen, OFFLINE), (OFFLINE, chosen)]
    assert await changes.until(user, 4) == expected


async def test_busy_overrides_and_clear_busy_restores(tracker: PresenceTracker, changes: Recorder) -> None:
    await tracker.connect("w-1", "worker", "s1")
    await tracker.set_busy("w-1", "b-42")
    busy = await state_of(tracker, "w-1", "worker")
    assert (busy.status, busy.booking_id) == (BUSY, "b-42")
    # Chosen meanwhile, shown once the job is over.
    assert (await tracker.set_status("w-1", "worker", ON_LEAVE)).status is BUSY
    await tracker.clear_busy("w-1")
    after = await state_of(tracker, "w-1", "worker")
    assert (after.status, after.booking_id) == (ON_LEAVE, None)
    await tracker.clear_busy("w-1")  # harmless twice
    await tracker.clear_busy("never-seen")
    assert await tracker.get("never-seen", "worker") is None
    assert await changes.until("w-1", 3) == [(OFFLINE, ONLINE), (ONLINE, BUSY), (BUSY, ON_LEAVE)]


async def test_busy_lasts_across_disconnects(tracker: PresenceTracker, changes: Recorder) -> None:
    await tracker.set_busy("w-1", "b-1")  # the job may start before the app reconnects
    offline = await state_of(tracker, "w-1", "worker")
    assert (offline.role, offline.status, offline.booking_id) == ("worker", OFFLINE, None)
    await tracker.connect("w-1", "worker", "s1")
    assert (await changes.wait_for("w-1", BUSY)).state.booking_id == "b-1"
    await tracker.disconnect("w-1", "worker", "s1")
    assert (await changes.wait_for("w-1", OFFLINE)).state.booking_id is None
    await tracker.connect("w-1", "worker", "s2")
    assert await changes.until("w-1", 3) == [(OFFLINE, BUSY), (BUSY, OFFLINE), (OFFLINE, BUSY)]


async def test_one_id_in_two_roles_is_two_people(tracker: PresenceTracker, changes: Recorder) -> None:
    # Ids are unique within a role only: the worker x-1 and the customer x-1 are strangers.
    await tracker.connect("x-1", "worker", "s1")
    await tracker.set_status("x-1", "worker", ON_LEAVE)
    await tracker.connect("x-1", "customer", "s1")  # the same socket id, on another namespace
    await tracker.set_background("x-1", "customer", "s1", True)
    assert await tracker.reachable("x-1", "worker")
    assert not await tracker.reachable("x-1", "customer")
    await tracker.set_busy("x-1", "b-1")  # only workers have jobs
    assert (await state_of(tracker, "x-1", "worker")).status is BUSY
    assert (await state_of(tracker, "x-1", "customer")).status is ONLINE
    await tracker.disconnect("x-1", "customer", "s1")
    await changes.wait_for("x-1", OFFLINE, role="customer")
    worker = await state_of(tracker, "x-1", "worker")
    assert (worker.role, worker.status, worker.booking_id) == ("worker", BUSY, "b-1")
    assert await tracker.reachable("x-1", "worker")
    assert [(s.user_id, s.status) for s in await tracker.snapshot("worker")] == [("x-1", BUSY)]
    assert [(s.user_id, s.status) for s in await tracker.snapshot("customer")] == [("x-1", OFFLINE)]
    assert changes.of("x-1", role="worker") == [(OFFLINE, ONLINE), (ONLINE, ON_LEAVE), (ON_LEAVE, BUSY)]
    # A support agent and an admin sharing an id are two agents, both on the console.
    await tracker.connect("a-1", "support", "s1")
    await tracker.connect("a-1", "admin", "s2")
    await tracker.set_status("a-1", "admin", AWAY)
    assert [(s.role, s.status) for s in await tracker.snapshot("support")] == [
        ("admin", AWAY),
        ("support", ONLINE),
    ]
    assert await tracker.count("support", ONLINE) == 1
    with pytest.raises(ValueError, match="booking_id"):
        await tracker.set_busy("x-1", "")


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
    await tracker.disconnect("s-3", "support", "s")
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
    assert not await tracker.reachable("c-1", "customer")
    await tracker.connect("c-1", "customer", "phone")
    assert await tracker.reachable("c-1", "customer")
    await tracker.set_background("c-1", "customer", "phone", True)
    assert not await tracker.reachable("c-1", "customer")
    await tracker.connect("c-1", "customer", "laptop")  # new sockets start in the foreground
    assert await tracker.reachable("c-1", "customer")
    await tracker.set_background("c-1", "customer", "laptop", True)
    assert not await tracker.reachable("c-1", "customer")
    await tracker.set_background("c-1", "customer", "phone", False)
    assert await tracker.reachable("c-1", "customer")
    await tracker.disconnect("c-1", "customer", "phone")
    assert not await tracker.reachable("c-1", "customer")  # only the laptop is left, in the background
    await tracker.set_background("c-1", "customer", "gone", False)  # unknown sockets are ignored
    await tracker.set_background("nobody", "customer", "s1", False)
    assert not await tracker.reachable("c-1", "customer")
    assert (await state_of(tracker, "c-1", "customer")).status is ONLINE  # background is not a status


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
        await tracker.disconnect("w-1", "worker", "s1")
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


async def test_kept_choices_are_restored(tracker: PresenceTracker, changes: Recorder) -> None:
    """What a tracker holds can be lost (a restart, Redis emptied); the choices kept elsewhere
    come back, and a row no rule allows any longer is skipped, not fatal."""
    kept = [("a-1", "support", AWAY), ("w-1", "worker", ON_LEAVE), ("c-1", "customer", AWAY)]

    async def loader() -> list[tuple[str, str, Status]]:
        return kept

    assert await tracker.restore_choices() == 0  # nowhere to restore from yet
    tracker.keep_choices_in(loader)
    assert await tracker.restore_choices() == len(kept)
    await tracker.connect("a-1", "support", "s-1")
    await tracker.connect("w-1", "worker", "s-2")
    assert (await state_of(tracker, "a-1", "support")).status == AWAY
    assert (await state_of(tracker, "w-1", "worker")).status == ON_LEAVE
    assert await tracker.get("c-1", "customer") is None
