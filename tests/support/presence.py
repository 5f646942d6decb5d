"""Presence trackers under test: shrunk timings, a change recorder, and trackers sharing one store.

Timings are shrunk (grace 0.3 s, TTL 1 s, sweep 0.1 s). A change that must *not* happen is
checked after a later change that must, so no test sleeps hoping for the best.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from hub.presence import (
    PresenceChange,
    PresenceConfig,
    PresenceState,
    PresenceTracker,
    Status,
    create_tracker,
)
from hub.presence.redis import RedisPresenceTracker
from tests.support.waiting import wait_until

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

    def of(self, user_id: str, role: str | None = None) -> list[tuple[Status, Status]]:
        """(previous, new) of each change of ``user_id`` (in ``role``, when given)."""
        return [(c.previous, c.state.status) for c in self.changes if self._is(c, user_id, role)]

    async def until(self, user_id: str, count: int) -> list[tuple[Status, Status]]:
        """Wait for ``count`` changes of ``user_id``; return all of them, (previous, new) each."""
        await wait_until(lambda: len(self.of(user_id)) >= count)
        return self.of(user_id)

    async def wait_for(self, user_id: str, status: Status, role: str | None = None) -> PresenceChange:
        """Wait for a change of ``user_id`` (in ``role``) to ``status``; return the latest such change."""

        def found() -> PresenceChange | None:
            hits = [c for c in self.changes if self._is(c, user_id, role) and c.state.status is status]
            return hits[-1] if hits else None

        change: PresenceChange = await wait_until(found)
        return change

    @staticmethod
    def _is(change: PresenceChange, user_id: str, role: str | None) -> bool:
        return change.state.user_id == user_id and role in (None, change.state.role)


@dataclass
class Backend:
    """Trackers of one kind sharing one store (for Redis: one random key prefix)."""

    kind: str
    redis_url: str | None
    prefix: str
    cluster: bool = False  # redis_url is a node of a Redis Cluster
    trackers: list[PresenceTracker] = field(default_factory=list)

    async def node(self, recorder: Recorder | None = None, **config: Any) -> Any:
        base = PresenceConfig(
            grace_seconds=GRACE, ttl_seconds=TTL, sweep_seconds=SWEEP, key_prefix=self.prefix
        )
        tracker = create_tracker(dataclasses.replace(base, **config), self.redis_url, cluster=self.cluster)
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
        client: Redis | RedisCluster
        if self.cluster:
            client = RedisCluster.from_url(self.redis_url, decode_responses=True)
        else:
            client = Redis.from_url(self.redis_url, decode_responses=True)
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.prefix}*", count=1000)]
            for key in keys:  # one by one: on a cluster the keys live in several slots
                await client.delete(key)
        finally:
            await client.aclose()


@contextlib.asynccontextmanager
async def open_backend(redis_url: str | None, *, cluster: bool = False) -> AsyncIterator[Backend]:
    """The in-process backend without ``redis_url``, else Redis (a Redis Cluster with ``cluster``)
    under a key prefix of its own."""
    kind = "memory" if redis_url is None else "redis-cluster" if cluster else "redis"
    backend = Backend(kind, redis_url, f"test:presence:{uuid.uuid4().hex}:", cluster)
    try:
        yield backend
    finally:
        for tracker in reversed(backend.trackers):
            await tracker.stop()
        if redis_url is not None:
            await backend.forget_everything()


async def state_of(tracker: PresenceTracker, user_id: str, role: str) -> PresenceState:
    state = await tracker.get(user_id, role)
    assert state is not None
    return state
