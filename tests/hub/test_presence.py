"""Presence beyond the backend contract (tests/contract/test_presence_backends.py): the state's
JSON form, configuration, and several nodes sharing one Redis.

Timings are shrunk (grace 0.3 s, TTL 1 s, sweep 0.1 s). A change that must *not* happen is
checked after a later change that must, so no test sleeps hoping for the best.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from hub.env import ConfigError
from hub.presence import PresenceConfig, PresenceState, create_tracker
from hub.presence.memory import MemoryPresenceTracker
from hub.presence.redis import COMMON_LUA, LUA_SCRIPTS, RedisPresenceTracker
from tests.support.presence import (
    BUSY,
    CLOCK_SLACK,
    GRACE,
    OFFLINE,
    ON_LEAVE,
    ONLINE,
    SWEEP,
    TTL,
    Backend,
    Recorder,
    open_backend,
    state_of,
)
from tests.support.waiting import wait_until


@pytest.fixture
async def redis_backend(redis_url: str) -> AsyncIterator[Backend]:
    async with open_backend(redis_url) as opened:
        yield opened


def test_state_to_dict() -> None:
    state = PresenceState("w-1", "worker", BUSY, datetime(2025, 1, 2, 3, 4, 5, 678_000, UTC), None, "b-1")
    assert state.to_dict() == {
        "user_id": "w-1",
        "role": "worker",
        "status": "busy",
        "since": "2025-01-02T03:04:05.678000Z",
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
    assert (await state_of(b, "w-1", "worker")).status is ONLINE
    assert await b.reachable("w-1", "worker")
    assert await b.count("worker", ONLINE) == 1

    await b.connect("w-1", "worker", "s1")  # the same socket id on another node is another socket
    await a.disconnect("w-1", "worker", "s1")  # the socket on b keeps them online
    await b.set_background("w-1", "worker", "s1", True)
    assert not await a.reachable("w-1", "worker")
    assert (await a.set_status("w-1", "worker", ON_LEAVE)).status is ON_LEAVE
    await b.disconnect("w-1", "worker", "s1")
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
        states = [await state_of(survivors[0], w, "worker") for w in workers]
        return all(s.status is OFFLINE for s in states)

    # Worst case: the last heartbeat just before the kill, so the sockets expire a TTL later; the
    # grace period runs from there, and the sweep that notices comes at most a sweep interval on.
    bound = GRACE + TTL + SWEEP
    await wait_until(all_offline, within=bound + 0.5)
    assert time.monotonic() - killed <= bound + 0.5

    # Both survivors keep sweeping: let each do a few rounds (a grace period's worth), then check
    # that every worker was reported offline exactly once between them.
    await survivors[1].connect("m-1", "customer", "s1")
    await survivors[1].disconnect("m-1", "customer", "s1")
    await changes.wait_for("m-1", OFFLINE)
    for worker in workers:
        assert changes.of(worker) == [(ONLINE, OFFLINE)], worker
        assert (await state_of(survivors[1], worker, "worker")).last_seen is not None
    assert (await state_of(survivors[1], "c-1", "customer")).status is ONLINE


async def test_clean_stop_keeps_the_grace_period(redis_backend: Backend) -> None:
    changes = Recorder()
    leaving = await redis_backend.node(changes)
    staying = await redis_backend.node(changes)
    await leaving.connect("w-1", "worker", "s1")
    await staying.connect("w-2", "worker", "s1")
    stopped = time.monotonic()
    await leaving.stop()
    assert (await state_of(staying, "w-1", "worker")).status is ONLINE  # still, for the grace period
    await changes.wait_for("w-1", OFFLINE)  # reported by the node still running
    assert time.monotonic() - stopped >= GRACE - CLOCK_SLACK.total_seconds()
    assert changes.of("w-1") == [(OFFLINE, ONLINE), (ONLINE, OFFLINE)]
    assert (await state_of(staying, "w-2", "worker")).status is ONLINE


async def test_stop_closes_the_redis_connection(redis_backend: Backend, redis_url: str) -> None:
    tracker = await redis_backend.node()
    await tracker.connect("w-1", "worker", "s1")
    name = f"hub-presence-{tracker.node_id}"
    admin = Redis.from_url(redis_url, decode_responses=True)

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
        await tracker.get("w-1", "worker")
    await tracker.disconnect("w-1", "worker", "s1")  # a late disconnect handler is harmless
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
    await tracker.set_background("w-1", "worker", "s1", True)
    await redis_backend.forget_everything()
    assert await tracker.get("w-1", "worker") is None

    async def back_online() -> bool:
        state = await tracker.get("w-1", "worker")
        return state is not None and state.status is ONLINE

    await wait_until(back_online, within=TTL)  # the next heartbeat, due within TTL/3
    assert not await tracker.reachable("w-1", "worker")  # with the socket's background flag


async def test_scripts_redis_forgot_are_loaded_again(redis_backend: Backend) -> None:
    # After a restart (or SCRIPT FLUSH) Redis knows none of the scripts, and each call must load
    # its script again (NOSCRIPT, then SCRIPT LOAD) instead of failing. SCRIPT FLUSH itself would
    # hit every client of the shared test Redis, so this tracker asks for its scripts by digests
    # Redis has never seen instead: the same NOSCRIPT answer, for this tracker alone.
    changes = Recorder()
    tracker = await redis_backend.node(changes)
    await tracker.connect("w-2", "worker", "s1")  # stays, so every heartbeat runs its script
    scripts = vars(tracker._scripts)
    loaded = {name: script.sha for name, script in scripts.items()}
    # Every script file is in use, so the calls below reach each one.
    files = {f.name.removesuffix(".lua") for f in LUA_SCRIPTS.iterdir() if f.name.endswith(".lua")}
    assert set(loaded) == files - {COMMON_LUA}
    for name, script in scripts.items():
        script.sha = hashlib.sha1(f"never loaded: {name} {uuid.uuid4()}".encode()).hexdigest()

    await tracker.connect("w-1", "worker", "s1")
    assert (await tracker.set_status("w-1", "worker", ON_LEAVE)).status is ON_LEAVE
    await tracker.set_busy("w-1", "b-1")
    await tracker.clear_busy("w-1")
    await tracker.set_background("w-1", "worker", "s1", True)
    assert not await tracker.reachable("w-1", "worker")
    await tracker.disconnect("w-1", "worker", "s1")
    await changes.wait_for("w-1", OFFLINE)  # the sweep's script ended the grace period
    # The heartbeat and the sweep run on their own; each reloads its script on its next round.
    await wait_until(lambda: {name: script.sha for name, script in scripts.items()} == loaded)
    assert changes.of("w-1") == [
        (OFFLINE, ONLINE),
        (ONLINE, ON_LEAVE),
        (ON_LEAVE, BUSY),
        (BUSY, ON_LEAVE),
        (ON_LEAVE, OFFLINE),
    ]
    assert (await state_of(tracker, "w-2", "worker")).status is ONLINE
