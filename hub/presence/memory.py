"""Presence held in this process: for a single hub node (no ``HUB_REDIS_URL``) and for tests."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import heapq
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hub.presence.base import (
    ROLES,
    PresenceChange,
    PresenceState,
    PresenceTracker,
    Status,
    check_choice,
    check_role,
    roles_of,
)
from hub.presence.config import PresenceConfig

log = logging.getLogger(__name__)


Key = tuple[str, str]  # (role, user id): a person


@dataclass(slots=True)
class _Person:
    since: datetime
    status: Status = Status.OFFLINE
    chosen: Status = Status.ONLINE
    last_seen: datetime | None = None
    booking_id: str | None = None
    sockets: dict[str, bool] = field(default_factory=dict)  # socket id -> app in the background
    grace_until: float | None = None  # loop time; set while no socket is live


class MemoryPresenceTracker(PresenceTracker):
    def __init__(self, config: PresenceConfig) -> None:
        super().__init__()
        self._grace = config.grace_seconds
        self._people: dict[Key, _Person] = {}
        self._by_role: dict[str, set[str]] = {role: set() for role in ROLES}
        self._counts: collections.Counter[tuple[str, Status]] = collections.Counter()
        # (end of grace, role, user id); an entry whose person reconnected since is skipped when due.
        self._graces: list[tuple[float, str, str]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # Ends the loop even if a callback loses our cancellation (asyncio.wait_for on Python
        # 3.11, CPython gh-86296).
        self._stopping = False

    async def start(self) -> None:
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._expire_graces(), name="presence-grace")

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def connect(self, user_id: str, role: str, socket_id: str) -> None:
        key = (check_role(role), user_id)
        person = self._person(key)
        person.sockets.setdefault(socket_id, False)
        person.grace_until = None  # back within the grace period: nothing changes
        await self._settle(key, person)

    async def disconnect(self, user_id: str, role: str, socket_id: str) -> None:
        key = (role, user_id)
        person = self._people.get(key)
        if person is None or person.sockets.pop(socket_id, None) is None or person.sockets:
            return
        person.last_seen = _now()
        deadline = asyncio.get_running_loop().time() + self._grace
        person.grace_until = deadline
        if self._grace > 0:
            heapq.heappush(self._graces, (deadline, *key))
            self._wake.set()
        else:
            await self._settle(key, person)  # no grace period: offline at once

    async def set_status(self, user_id: str, role: str, status: Status) -> PresenceState:
        role = check_role(role)
        chosen = check_choice(role, status)
        key = (role, user_id)
        person = self._person(key)
        person.chosen = chosen
        return await self._settle(key, person)

    async def set_busy(self, worker_id: str, booking_id: str) -> None:
        if not booking_id:
            raise ValueError("booking_id must not be empty")
        key = ("worker", worker_id)
        person = self._person(key)
        person.booking_id = booking_id
        await self._settle(key, person)

    async def clear_busy(self, worker_id: str) -> None:
        key = ("worker", worker_id)
        person = self._people.get(key)
        if person is not None and person.booking_id is not None:
            person.booking_id = None
            await self._settle(key, person)

    async def set_background(self, user_id: str, role: str, socket_id: str, background: bool) -> None:
        person = self._people.get((role, user_id))
        if person is not None and socket_id in person.sockets:
            person.sockets[socket_id] = background

    async def get(self, user_id: str, role: str) -> PresenceState | None:
        key = (role, user_id)
        person = self._people.get(key)
        return None if person is None else self._state(key, person)

    async def snapshot(self, role: str) -> list[PresenceState]:
        keys = sorted((uid, r) for r in roles_of(role) for uid in self._by_role[r])
        return [self._state((r, uid), self._people[r, uid]) for uid, r in keys]

    async def count(self, role: str, status: Status) -> int:
        wanted = Status(status)
        return sum(self._counts[r, wanted] for r in roles_of(role))

    async def reachable(self, user_id: str, role: str) -> bool:
        person = self._people.get((role, user_id))
        return person is not None and not all(person.sockets.values())

    def _person(self, key: Key) -> _Person:
        person = self._people.get(key)
        if person is None:
            role, user_id = key
            person = self._people[key] = _Person(since=_now())
            self._by_role[role].add(user_id)
            self._counts[role, person.status] += 1
        return person

    async def _settle(self, key: Key, person: _Person) -> PresenceState:
        """Bring the effective status up to date, report it if it moved, return the new state."""
        change = self._update(key, person, asyncio.get_running_loop().time())
        if change is None:
            return self._state(key, person)
        await self._notify([change])
        return change.state  # as it was then: a callback may have changed it since

    def _update(self, key: Key, person: _Person, now: float) -> PresenceChange | None:
        if not person.sockets and (person.grace_until is None or person.grace_until <= now):
            person.grace_until = None  # any heap entry for it is stale from here on
            effective = Status.OFFLINE
        elif person.booking_id is not None:
            effective = Status.BUSY
        else:
            effective = person.chosen
        if effective == person.status:
            return None
        previous = person.status
        role = key[0]
        self._counts[role, previous] -= 1
        self._counts[role, effective] += 1
        person.status = effective
        person.since = _now()
        return PresenceChange(self._state(key, person), previous)

    async def _expire_graces(self) -> None:
        """Turn people offline as their grace periods end, sleeping until the next one is due."""
        loop = asyncio.get_running_loop()
        failures = 0
        while not self._stopping:
            self._wake.clear()  # before the work: a disconnect during a callback wakes us again
            try:
                await self._notify(self._due_changes(loop.time()))
                failures = 0
                timeout = self._graces[0][0] - loop.time() if self._graces else None
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                timeout = min(5.0, 0.05 * 2**failures)
                log.exception("presence grace expiry failed; retrying in %.2fs", timeout)
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can lose a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    def _due_changes(self, now: float) -> list[PresenceChange]:
        changes: list[PresenceChange] = []
        while self._graces and self._graces[0][0] <= now:
            deadline, role, user_id = heapq.heappop(self._graces)
            key = (role, user_id)
            person = self._people.get(key)
            if person is not None and person.grace_until == deadline:  # else it reconnected since
                change = self._update(key, person, now)
                if change is not None:
                    changes.append(change)
        return changes

    @staticmethod
    def _state(key: Key, person: _Person) -> PresenceState:
        role, user_id = key
        return PresenceState(
            user_id=user_id,
            role=role,
            status=person.status,
            since=person.since,
            last_seen=person.last_seen,
            booking_id=person.booking_id if person.status is Status.BUSY else None,
        )


def _now() -> datetime:
    return datetime.now(UTC)
