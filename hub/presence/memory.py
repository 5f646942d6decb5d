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
    CHOOSABLE,
    ROLES,
    InvalidStatus,
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


@dataclass(slots=True)
class _Person:
    role: str
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
        self._people: dict[str, _Person] = {}
        self._by_role: dict[str, set[str]] = {role: set() for role in ROLES}
        self._counts: collections.Counter[tuple[str, Status]] = collections.Counter()
        # (end of grace, user id); an entry whose person reconnected since is skipped when due.
        self._graces: list[tuple[float, str]] = []
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
        person = self._person(user_id, check_role(role))
        person.sockets.setdefault(socket_id, False)
        person.grace_until = None  # back within the grace period: nothing changes
        await self._settle(user_id, person)

    async def disconnect(self, user_id: str, socket_id: str) -> None:
        person = self._people.get(user_id)
        if person is None or person.sockets.pop(socket_id, None) is None or person.sockets:
            return
        person.last_seen = _now()
        deadline = asyncio.get_running_loop().time() + self._grace
        person.grace_until = deadline
        if self._grace > 0:
            heapq.heappush(self._graces, (deadline, user_id))
            self._wake.set()
        else:
            await self._settle(user_id, person)  # no grace period: offline at once

    async def set_status(self, user_id: str, role: str, status: Status) -> PresenceState:
        role = check_role(role)
        chosen = check_choice(role, status)
        person = self._person(user_id, role)
        person.chosen = chosen
        return await self._settle(user_id, person)

    async def set_busy(self, worker_id: str, booking_id: str) -> None:
        if not booking_id:
            raise ValueError("booking_id must not be empty")
        person = self._people.get(worker_id)
        if person is not None and person.role != "worker":
            raise InvalidStatus(f"{worker_id} is a {person.role}, only workers can be busy")
        person = self._person(worker_id, "worker")
        person.booking_id = booking_id
        await self._settle(worker_id, person)

    async def clear_busy(self, worker_id: str) -> None:
        person = self._people.get(worker_id)
        if person is not None and person.booking_id is not None:
            person.booking_id = None
            await self._settle(worker_id, person)

    async def set_background(self, user_id: str, socket_id: str, background: bool) -> None:
        person = self._people.get(user_id)
        if person is not None and socket_id in person.sockets:
            person.sockets[socket_id] = background

    async def get(self, user_id: str) -> PresenceState | None:
        person = self._people.get(user_id)
        return None if person is None else self._state(user_id, person)

    async def snapshot(self, role: str) -> list[PresenceState]:
        ids = sorted(uid for r in roles_of(role) for uid in self._by_role[r])
        return [self._state(uid, self._people[uid]) for uid in ids]

    async def count(self, role: str, status: Status) -> int:
        wanted = Status(status)
        return sum(self._counts[r, wanted] for r in roles_of(role))

    async def reachable(self, user_id: str) -> bool:
        person = self._people.get(user_id)
        return person is not None and not all(person.sockets.values())

    def _person(self, user_id: str, role: str) -> _Person:
        person = self._people.get(user_id)
        if person is None:
            person = self._people[user_id] = _Person(role=role, since=_now())
            self._by_role[role].add(user_id)
            self._counts[role, person.status] += 1
        elif person.role != role:
            # Same person under a new role (say, support promoted to admin): re-index them and
            # drop what the new role cannot have.
            self._by_role[person.role].discard(user_id)
            self._counts[person.role, person.status] -= 1
            self._by_role[role].add(user_id)
            self._counts[role, person.status] += 1
            person.role = role
            if person.chosen not in CHOOSABLE[role]:
                person.chosen = Status.ONLINE
            if role != "worker":
                person.booking_id = None
        return person

    async def _settle(self, user_id: str, person: _Person) -> PresenceState:
        """Bring the effective status up to date, report it if it moved, return the new state."""
        change = self._update(user_id, person, asyncio.get_running_loop().time())
        if change is None:
            return self._state(user_id, person)
        await self._notify([change])
        return change.state  # as it was then: a callback may have changed it since

    def _update(self, user_id: str, person: _Person, now: float) -> PresenceChange | None:
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
        self._counts[person.role, previous] -= 1
        self._counts[person.role, effective] += 1
        person.status = effective
        person.since = _now()
        return PresenceChange(self._state(user_id, person), previous)

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
            deadline, user_id = heapq.heappop(self._graces)
            person = self._people.get(user_id)
            if person is not None and person.grace_until == deadline:  # else it reconnected since
                change = self._update(user_id, person, now)
                if change is not None:
                    changes.append(change)
        return changes

    @staticmethod
    def _state(user_id: str, person: _Person) -> PresenceState:
        return PresenceState(
            user_id=user_id,
            role=person.role,
            status=person.status,
            since=person.since,
            last_seen=person.last_seen,
            booking_id=person.booking_id if person.status is Status.BUSY else None,
        )


def _now() -> datetime:
    return datetime.now(UTC)
