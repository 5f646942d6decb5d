"""Presence types and the tracker interface; no Socket.IO, no aiohttp.

A person is a ``(user_id, role)`` pair (ids are unique within a role only: a worker and a customer
may share one, and so may a support agent and an admin, and each is someone else). A person is
connected while any of their sockets is live.
What others see is the *effective* status:

- ``offline`` when no socket is live and the grace period since the last one left has run out;
- otherwise ``busy`` while a worker has a job in service (set by the system, not the worker);
- otherwise the status the person chose (``online`` by default).

The grace period hides flaps: a phone that drops and reconnects within it changes nothing. Each
effective-status change is reported once, to the callbacks of the tracker (node) that caused it.
"""

from __future__ import annotations

import abc
import enum
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any

from redis.exceptions import ClusterDownError, SlotNotCoveredError, TryAgainError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub.times import iso, iso_or_none

log = logging.getLogger(__name__)

# What a tracker raises when its store cannot answer (Redis down, restarting, or too slow). The
# callers that can do without presence for a moment catch exactly these; anything else is a bug.
PRESENCE_UNAVAILABLE: tuple[type[Exception], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
    TimeoutError,
    # A Redis Cluster with a shard down, or a slot on its way to another shard:
    ClusterDownError,
    TryAgainError,
    SlotNotCoveredError,
)


class Status(enum.StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    ON_LEAVE = "on_leave"
    AWAY = "away"
    OFFLINE = "offline"


ROLES = frozenset({"customer", "worker", "support", "admin"})
# What each role may choose for itself. ``busy`` belongs to the system and ``offline`` follows from
# the sockets, so nobody chooses those; customers choose nothing.
CHOOSABLE: Mapping[str, frozenset[Status]] = MappingProxyType(
    {
        "customer": frozenset(),
        "worker": frozenset({Status.ONLINE, Status.ON_LEAVE}),
        "support": frozenset({Status.ONLINE, Status.AWAY}),
        "admin": frozenset({Status.ONLINE, Status.AWAY}),
    }
)


@dataclass(frozen=True, slots=True)
class PresenceState:
    user_id: str
    role: str  # "customer" | "worker" | "support" | "admin"
    status: Status
    since: datetime  # UTC; when the effective status last changed
    last_seen: datetime | None  # UTC; when the last socket left; None if never disconnected
    booking_id: str | None  # set while busy

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "role": self.role,
            "status": self.status.value,
            "since": iso(self.since),
            "last_seen": iso_or_none(self.last_seen),
            "booking_id": self.booking_id,
        }


@dataclass(frozen=True, slots=True)
class PresenceChange:
    state: PresenceState  # the new state
    previous: Status


class InvalidStatus(ValueError):
    """A status this role may not choose (or no status at all)."""


ChangeCallback = Callable[[PresenceChange], Awaitable[None]]


def check_role(role: str) -> str:
    """``role`` as a plain string; raises ``ValueError`` if it is not a known role."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(sorted(ROLES))}")
    return str(role)  # a StrEnum member (hub.auth.Role) becomes its plain value


def check_choice(role: str, status: Status | str) -> Status:
    """``status`` if ``role`` may choose it; raises ``InvalidStatus`` otherwise."""
    try:
        chosen = Status(status)
    except ValueError:
        raise InvalidStatus(f"{status!r} is not a status") from None
    if chosen not in CHOOSABLE[role]:
        allowed = ", ".join(sorted(CHOOSABLE[role])) or "nothing"
        raise InvalidStatus(f"a {role} cannot choose {chosen.value!r} (allowed: {allowed})")
    return chosen


def roles_of(role: str) -> tuple[str, ...]:
    """The stored roles a query for ``role`` covers: admins are support agents too."""
    role = check_role(role)
    return ("support", "admin") if role == "support" else (role,)


ChoiceLoader = Callable[[], Awaitable[list[tuple[str, str, Status]]]]
JobLoader = Callable[[], Awaitable[list[tuple[str, str]]]]


class PresenceTracker(abc.ABC):
    """Who is connected and what they show. One instance per hub node.

    Call ``start()`` before use and ``stop()`` at shutdown. The Redis backend's methods may also
    raise ``redis.exceptions.RedisError`` when Redis fails or does not answer within 5 seconds.
    After its ``stop()`` they raise ``RuntimeError``, except ``disconnect()`` and
    ``set_background()``, which then do nothing (a late disconnect handler is harmless).
    """

    def __init__(self) -> None:
        self._callbacks: list[ChangeCallback] = []
        self._choices: ChoiceLoader | None = None
        self._jobs: JobLoader | None = None

    def keep_choices_in(self, loader: ChoiceLoader) -> None:
        """Where the statuses people chose are kept for good (PostgreSQL): ``await loader()``
        returns every ``(user_id, role, status)`` that is not the default ``online``. What a
        tracker holds is lost with its process or with Redis; ``restore_choices`` puts it back."""
        self._choices = loader

    def keep_jobs_in(self, loader: JobLoader) -> None:
        """Where the jobs in progress are kept (an extension's records): ``await loader()``
        returns ``(worker_id, booking_id)`` for every worker on a job now, whom ``restore_jobs``
        shows ``busy`` again. Without it a worker on a job would show their chosen status after
        Redis lost its data."""
        self._jobs = loader

    async def restore_choices(self) -> int:
        """Apply every kept choice again, then every job in progress (at start, and after Redis
        lost its data); how many."""
        restored = 0
        if self._choices is not None:
            choices = await self._choices()
            for user_id, role, status in choices:
                try:
                    await self.set_status(user_id, role, status)
                except ValueError:  # InvalidStatus too: a row no rule allows any longer
                    log.warning("ignoring the kept status %r of %s %s", status, role, user_id)
            restored += len(choices)
        return restored + await self.restore_jobs()

    async def restore_jobs(self) -> int:
        """Show every worker with a job in progress ``busy`` again; how many."""
        if self._jobs is None:
            return 0
        jobs = await self._jobs()
        for worker_id, booking_id in jobs:
            await self.set_busy(worker_id, booking_id)
        return len(jobs)

    def on_change(self, callback: ChangeCallback) -> None:
        """Call ``await callback(change)`` once per effective-status change this node causes.

        Callbacks run in the task that caused the change (a connect, a sweep), in registration
        order, so keep them short (an emit). Their exceptions are logged, never propagated.
        """
        self._callbacks.append(callback)

    async def _notify(self, changes: Iterable[PresenceChange]) -> None:
        for change in changes:
            for callback in list(self._callbacks):
                try:
                    await callback(change)
                except Exception:
                    # One broken subscriber must not stop the others, nor the sweeper that called.
                    log.exception(
                        "presence callback %r failed for %s (%s -> %s)",
                        callback,
                        change.state.user_id,
                        change.previous.value,
                        change.state.status.value,
                    )

    @abc.abstractmethod
    async def start(self) -> None:
        """Start the background tasks (grace expiry; in Redis, heartbeat and sweeper).

        Idempotent. Raises ``RuntimeError`` after ``stop()``.
        """

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop the background tasks. Raises nothing (Redis failures are logged).

        In Redis, this node's sockets are removed as if each had disconnected: the people
        affected keep their status for the grace period, then another node turns them offline.
        The Redis connection is closed.
        """

    @abc.abstractmethod
    async def connect(self, user_id: str, role: str, socket_id: str) -> None:
        """Register a live socket (in the foreground) of ``user_id``.

        Raises ``ValueError`` for an unknown role. If it raises, the socket is not tracked.
        Connecting a socket twice is harmless.
        """

    @abc.abstractmethod
    async def disconnect(self, user_id: str, role: str, socket_id: str) -> None:
        """Forget a socket; when it was the person's last, start the grace period.

        An unknown socket is ignored. In Redis, the socket is forgotten by this node even if
        Redis fails (the error is raised); Redis then drops it when its TTL runs out.
        """

    @abc.abstractmethod
    async def set_status(self, user_id: str, role: str, status: Status) -> PresenceState:
        """Record the status the person chose; it persists across disconnects. Returns the new state.

        Raises ``InvalidStatus`` when ``role`` may not choose ``status`` (worker: online or
        on_leave; support and admin: online or away; customer: nothing) and ``ValueError`` for an
        unknown role.
        """

    @abc.abstractmethod
    async def set_busy(self, worker_id: str, booking_id: str) -> None:
        """Mark the worker ``worker_id`` busy with ``booking_id`` until ``clear_busy``, across
        disconnects. Nobody else of that id is affected.

        Raises ``ValueError`` for an empty ``booking_id``.
        """

    @abc.abstractmethod
    async def clear_busy(self, worker_id: str) -> None:
        """End the job in service; the worker shows their chosen status again. Raises nothing else."""

    @abc.abstractmethod
    async def set_background(self, user_id: str, role: str, socket_id: str, background: bool) -> None:
        """Record whether the app behind this socket is in the background. Unknown sockets are ignored."""

    @abc.abstractmethod
    async def get(self, user_id: str, role: str) -> PresenceState | None:
        """The state of the person, or ``None`` if never seen. Raises nothing else."""

    @abc.abstractmethod
    async def snapshot(self, role: str) -> list[PresenceState]:
        """Everyone of ``role`` ever seen, offline included, by user id (then role);
        ``"support"`` includes admins.

        Raises ``ValueError`` for an unknown role.
        """

    @abc.abstractmethod
    async def count(self, role: str, status: Status) -> int:
        """How many people of ``role`` show ``status``; ``"support"`` includes admins.

        Raises ``ValueError`` for an unknown role or status.
        """

    @abc.abstractmethod
    async def reachable(self, user_id: str, role: str) -> bool:
        """Whether a live socket of the person is in the foreground (if not, a push is needed).

        False during the grace period. Raises nothing else.
        """
