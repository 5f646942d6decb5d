"""Presence shared by every hub node through one Redis (5 or newer) or a Redis Cluster (7 or newer).

Keys, all under ``PresenceConfig.key_prefix`` (P). A person is ``<role>:<user_id>`` (a pid): ids
are unique within a role only, and roles never contain a colon.

- ``P person:<pid>``: hash ``role``, ``chosen``, ``status``, ``since``, ``last_seen``,
  ``booking`` (while busy) and ``grace_until`` (while in the grace period). Kept for good, so a
  chosen ``on_leave`` or ``away`` survives disconnects and restarts.
- ``P person-sockets:<pid>``: hash socket member -> ``"1"`` if the app is in the background, else
  ``"0"``.
- ``P socket-expiry``: sorted set of socket members scored by when they expire (ms, Redis clock).
- ``P grace-ends``: sorted set of pids scored by when their grace period ends.
- ``P people:<role>:<status>``: set of user ids, so ``count`` is an ``SCARD``.

A socket member is the JSON array ``[node_id, socket_id, pid]``: socket ids need only be unique on
their node, and the sweeper can find the person of an expired socket without another lookup.
(Presence once kept people by user id alone, under other key names; those keys are no longer read.)

On a Redis Cluster (``cluster=True``) every key above also carries a group's hash tag right after
P (``P{g7}person:<pid>``, ``P{g7}socket-expiry``, ...): a person belongs to one of
``CLUSTER_GROUPS`` groups (by a hash of the pid), and each group has its own socket expiry, grace
and ``people`` sets, all in the group's slot. A script then only touches keys of one slot, as a
cluster requires, and stays as atomic as on one Redis; what spans every person (``count``,
``snapshot``, the sweep, the heartbeat) goes over the groups one after the other, which reads
each group atomically but not all of them at one instant, as on one Redis a reader between two
scripts would. On one Redis there is one group with no tag: the keys are the ones above.

Every change runs in one Lua script, with Redis's own clock, so it is atomic across nodes: the
script that moves a person's effective status is the only one that returns that change, and only
its node calls back. Each node refreshes its sockets' expiry every TTL/3 and re-registers any that
went missing (Redis lost its data, or this node stalled for longer than the TTL and was swept).
Every node sweeps: expired sockets are dropped (their grace period runs from the expiry), and
people whose grace has ended turn offline. So a killed node's people turn offline on another node
within TTL + grace + one sweep.

The scripts live in ``lua/`` beside this module, one file each, all behind ``lua/_common.lua``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.resources
import json
import logging
import random
import secrets
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from hub.presence.base import (
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
_T = TypeVar("_T")

RECONNECT_RETRIES = 2  # a call after a Redis restart: the stale connection, then a fresh one
BATCH = 500  # sockets or people per script call or pipeline, so no single call blocks Redis long
REDIS_TIMEOUT_SECONDS = 5.0  # a Redis that stopped answering must not hang connect handlers
# Set by the first node to see this Redis; its absence means Redis was emptied (a restart).
EPOCH_KEY = "epoch"
# On a Redis Cluster, people are spread over this many groups (hash tags, so slots): enough to
# spread them over the shards, few enough that a count or a sweep stays a few dozen calls.
CLUSTER_GROUPS = 16
# The scripts, one file each (shipped as package data); each runs behind lua/_common.lua.
LUA_SCRIPTS = importlib.resources.files("hub.presence").joinpath("lua")
COMMON_LUA = "_common"

_USER_FIELDS = ("role", "status", "since", "last_seen", "booking")


@dataclass(frozen=True, slots=True)
class _Socket:
    pid: str
    background: bool
    registered: bool  # False while its connect is on the way to Redis: the heartbeat skips it


class RedisPresenceTracker(PresenceTracker):
    def __init__(self, config: PresenceConfig, redis_url: str, *, cluster: bool = False) -> None:
        super().__init__()
        self.node_id = secrets.token_hex(8)
        self._config = config
        self._prefix = config.key_prefix
        self._grace_ms = round(config.grace_seconds * 1000)
        self._ttl_ms = round(config.ttl_seconds * 1000)
        options: dict[str, Any] = {
            "decode_responses": True,
            "client_name": f"hub-presence-{self.node_id}",  # CLIENT LIST shows which node holds it
            "socket_connect_timeout": REDIS_TIMEOUT_SECONDS,
            # With a socket timeout redis-py wraps each write in asyncio.wait_for, which on Python
            # 3.11 can swallow a cancellation (CPython gh-86296) and leave stop() hanging; calls
            # are bounded by _deadline() instead.
            "socket_timeout": None,
            # After Redis restarts, every pooled connection is dead: a call gets a fresh one
            # instead of failing (redis-py's from_url sets no retry of its own).
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.05), RECONNECT_RETRIES),
        }
        self._redis: Redis | RedisCluster
        if cluster:
            self._redis = RedisCluster.from_url(redis_url, **options)
            self._tags = tuple(f"{{g{group}}}" for group in range(CLUSTER_GROUPS))
        else:
            self._redis = Redis.from_url(
                redis_url, retry_on_error=[RedisConnectionError, RedisTimeoutError], **options
            )
            self._tags = ("",)
        self._scripts = _Scripts(self._redis)
        self._sockets: dict[str, _Socket] = {}  # member -> socket held by this node
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False  # ends the loops even if a cancellation is lost (see above)
        self._stopped = False

    async def start(self) -> None:
        self._check_open()
        if self._tasks:
            return
        heartbeat = self._config.ttl_seconds / 3
        sweep = self._config.sweep_seconds
        self._tasks = [
            asyncio.create_task(
                # Retry well within the TTL, or this node's sockets expire while Redis blips.
                self._repeat("heartbeat", self._heartbeat, lambda: heartbeat, heartbeat / 2),
                name=f"presence-heartbeat-{self.node_id}",
            ),
            asyncio.create_task(
                # Jitter spreads the nodes' sweeps instead of having them all collide each round.
                self._repeat("sweep", self._sweep, lambda: sweep * random.uniform(0.5, 1.0), 5.0),
                name=f"presence-sweep-{self.node_id}",
            ),
        ]

    async def stop(self) -> None:
        self._stopping = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._stopped:
            return
        self._stopped = True
        sockets, self._sockets = self._sockets, {}
        try:
            changes: list[PresenceChange] = []
            for tag, group in self._by_tag(sockets.items(), lambda item: item[1].pid).items():
                for chunk in _chunks(group, BATCH):
                    pairs = [value for member, s in chunk for value in (s.pid, member)]
                    changes.extend(
                        _changes(await self._eval(self._scripts.disconnect, tag, self._grace_ms, *pairs))
                    )
            await self._notify(changes)  # only without a grace period; else another node's sweep
        except (RedisError, OSError) as exc:
            log.warning(
                "could not remove the %d sockets of node %s from Redis (%r); they expire within %gs",
                len(sockets),
                self.node_id,
                exc,
                self._config.ttl_seconds,
            )
        finally:
            await self._redis.aclose()

    async def connect(self, user_id: str, role: str, socket_id: str) -> None:
        self._check_open()
        pid = _pid(user_id, check_role(role))
        member = self._member(pid, socket_id)
        # Known here first, so a disconnect arriving meanwhile finds it.
        self._sockets[member] = socket = _Socket(pid, background=False, registered=False)
        try:
            raw = await self._register(member, socket)
        except BaseException:
            # Not tracked, as documented; if Redis did apply it, the unrefreshed entry expires.
            if self._sockets.get(member) is socket:
                del self._sockets[member]
            raise
        if self._sockets.get(member) is socket:
            self._sockets[member] = replace(socket, registered=True)
        await self._notify(_changes(raw))

    async def disconnect(self, user_id: str, role: str, socket_id: str) -> None:
        if self._stopped:
            return
        pid = _pid(user_id, role)
        member = self._member(pid, socket_id)
        # Forgotten here before Redis is asked: if Redis fails, the heartbeat no longer refreshes
        # the socket and it expires there instead of lingering as a ghost.
        self._sockets.pop(member, None)
        raw = await self._eval(self._scripts.disconnect, self._tag(pid), self._grace_ms, pid, member)
        await self._notify(_changes(raw))

    async def set_status(self, user_id: str, role: str, status: Status) -> PresenceState:
        self._check_open()
        role = check_role(role)
        chosen = check_choice(role, status)
        pid = _pid(user_id, role)
        raw = await self._eval(self._scripts.set_status, self._tag(pid), pid, chosen.value)
        state, previous = _record(raw[0])
        if previous is not None:
            await self._notify([PresenceChange(state, previous)])
        return state

    async def set_busy(self, worker_id: str, booking_id: str) -> None:
        self._check_open()
        if not booking_id:
            raise ValueError("booking_id must not be empty")
        pid = _pid(worker_id, "worker")
        raw = await self._eval(self._scripts.set_busy, self._tag(pid), pid, booking_id)
        await self._notify(_changes(raw))

    async def clear_busy(self, worker_id: str) -> None:
        self._check_open()
        pid = _pid(worker_id, "worker")
        await self._notify(_changes(await self._eval(self._scripts.set_busy, self._tag(pid), pid, "")))

    async def set_background(self, user_id: str, role: str, socket_id: str, background: bool) -> None:
        if self._stopped:
            return
        pid = _pid(user_id, role)
        member = self._member(pid, socket_id)
        socket = self._sockets.get(member)
        if socket is not None:
            # Kept here too, so a re-registration by the heartbeat restores it.
            self._sockets[member] = replace(socket, background=background)
        flag = "1" if background else "0"
        await self._eval(self._scripts.set_background, self._tag(pid), pid, member, flag)

    async def get(self, user_id: str, role: str) -> PresenceState | None:
        self._check_open()
        async with _deadline():
            values = await self._redis.hmget(self._person_key(_pid(user_id, role)), list(_USER_FIELDS))
        return None if values[0] is None else _state(user_id, values)

    async def snapshot(self, role: str) -> list[PresenceState]:
        self._check_open()
        roles = roles_of(role)
        keys = [(r, tag) for tag in self._tags for r in roles]
        async with _deadline(), self._redis.pipeline(transaction=False) as pipe:
            for r, tag in keys:
                for status in Status:
                    pipe.smembers(self._people_key(tag, r, status))
            members: list[set[str]] = await pipe.execute()
        per_role = len(Status)  # one set per (group, role, status), in that order
        people = sorted(
            (uid, r)
            for i, (r, _) in enumerate(keys)
            for ids in members[i * per_role : (i + 1) * per_role]
            for uid in ids
        )
        states: list[PresenceState] = []
        for chunk in _chunks(people, BATCH):
            async with _deadline(), self._redis.pipeline(transaction=False) as pipe:
                for uid, r in chunk:
                    pipe.hmget(self._person_key(_pid(uid, r)), list(_USER_FIELDS))
                rows: list[list[str | None]] = await pipe.execute()
            # Someone deleted meanwhile has no role any more: leave them out.
            states.extend(_state(uid, row) for (uid, _), row in zip(chunk, rows, strict=True) if row[0])
        return states

    async def count(self, role: str, status: Status) -> int:
        self._check_open()
        roles, wanted = roles_of(role), Status(status)
        async with _deadline(), self._redis.pipeline(transaction=False) as pipe:
            for tag in self._tags:
                for r in roles:
                    pipe.scard(self._people_key(tag, r, wanted))
            counts: list[int] = await pipe.execute()
        return sum(counts)

    async def reachable(self, user_id: str, role: str) -> bool:
        self._check_open()
        pid = _pid(user_id, role)
        return bool(await self._eval(self._scripts.reachable, self._tag(pid), pid))

    async def _heartbeat(self) -> None:
        """Push back the expiry of this node's sockets; re-register any that Redis lost, and put
        back the statuses people chose if Redis lost everything (restarted empty)."""
        epochs = [self._prefix + tag + EPOCH_KEY for tag in self._tags]  # a cluster's shards each
        async with _deadline(), self._redis.pipeline(transaction=False) as pipe:
            for key in epochs:
                pipe.exists(key)
            found: list[int] = await pipe.execute()
        lost = [key for key, exists in zip(epochs, found, strict=True) if not exists]
        if lost:
            # A marker is missing: Redis (or a cluster shard) is new or was emptied, and with it
            # chosen statuses. Marked only once they are back, so a restore that fails is tried
            # again next beat. Restoring every choice is harmless for people who kept theirs.
            restored = await self.restore_choices()
            for key in lost:
                await self._redis.set(key, self.node_id)
            if restored:
                log.warning(
                    "presence: Redis had lost its data; %d chosen statuses and jobs restored", restored
                )
        registered = [(m, s) for m, s in self._sockets.items() if s.registered]
        missing: list[str] = []
        for tag, group in self._by_tag(registered, lambda item: item[1].pid).items():
            for chunk in _chunks([m for m, _ in group], BATCH):
                missing.extend(await self._eval(self._scripts.heartbeat, tag, self._ttl_ms, *chunk))
        missing = [m for m in missing if m in self._sockets]  # not disconnected meanwhile
        if not missing:
            return
        log.warning(
            "re-registering %d sockets of node %s that Redis no longer had (Redis lost data, or "
            "this node stalled for longer than the %gs TTL and was swept)",
            len(missing),
            self.node_id,
            self._config.ttl_seconds,
        )
        for member in missing:
            socket = self._sockets.get(member)
            if socket is not None:
                await self._notify(_changes(await self._register(member, socket)))

    async def _sweep(self) -> None:
        """Drop expired sockets and end grace periods, for every node; call back for what moved."""
        for tag in self._tags:
            more = True
            while more and not self._stopping:
                flag, raw = await self._eval(self._scripts.sweep, tag, self._grace_ms, self._ttl_ms, BATCH)
                more = bool(flag)
                await self._notify(_changes(raw))

    async def _repeat(
        self, what: str, work: Callable[[], Awaitable[None]], pause: Callable[[], float], cap: float
    ) -> None:
        failures = 0
        while not self._stopping:
            try:
                await work()
                failures = 0
                delay = pause()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = min(cap, 0.05 * 2**failures)
                if isinstance(exc, RedisError | OSError):
                    log.warning("presence %s failed (%r); retrying in %.2fs", what, exc, delay)
                else:
                    log.exception("presence %s failed; retrying in %.2fs", what, delay)
            await asyncio.sleep(delay)

    async def _register(self, member: str, socket: _Socket) -> Any:
        flag = "1" if socket.background else "0"
        tag = self._tag(socket.pid)
        return await self._eval(self._scripts.connect, tag, socket.pid, member, self._ttl_ms, flag)

    async def _eval(self, script: AsyncScript, tag: str, *args: str | int) -> Any:
        """Run a script on one group: every key it touches starts with the prefix and the group's
        tag (ARGV[1]); KEYS[1], one of them, takes the call to the shard of that slot."""
        group = self._prefix + tag
        async with _deadline():
            return await script(keys=[group + "socket-expiry"], args=[group, *args])

    def _tag(self, pid: str) -> str:
        """The hash tag of a person's group ("" on one Redis)."""
        if len(self._tags) == 1:
            return self._tags[0]
        return self._tags[zlib.crc32(pid.encode()) % len(self._tags)]

    def _by_tag(self, items: Iterable[_T], pid_of: Callable[[_T], str]) -> dict[str, list[_T]]:
        groups: dict[str, list[_T]] = {}
        for item in items:
            groups.setdefault(self._tag(pid_of(item)), []).append(item)
        return groups

    def _check_open(self) -> None:
        if self._stopped:
            raise RuntimeError("the presence tracker is stopped")

    def _member(self, pid: str, socket_id: str) -> str:
        return json.dumps([self.node_id, socket_id, pid], ensure_ascii=False, separators=(",", ":"))

    def _person_key(self, pid: str) -> str:
        return f"{self._prefix}{self._tag(pid)}person:{pid}"

    def _people_key(self, tag: str, role: str, status: Status) -> str:
        return f"{self._prefix}{tag}people:{role}:{status.value}"


class _Scripts:
    """The Lua scripts, registered with this client.

    ``register_script`` runs each with EVALSHA and, on NOSCRIPT, loads it with SCRIPT LOAD and
    tries again: a Redis that restarted or ran SCRIPT FLUSH gets the scripts back transparently.
    """

    def __init__(self, redis: Redis | RedisCluster) -> None:
        def script(name: str) -> AsyncScript:
            return redis.register_script(_lua_source(name))

        self.connect = script("connect")
        self.disconnect = script("disconnect")
        self.sweep = script("sweep")
        self.heartbeat = script("heartbeat")
        self.set_status = script("set_status")
        self.set_busy = script("set_busy")
        self.set_background = script("set_background")
        self.reachable = script("reachable")


@functools.cache
def _lua_source(name: str) -> str:
    """``lua/<name>.lua`` behind the helpers of ``lua/_common.lua``, read once per process.

    Every script starts with the shared helpers because a Redis script cannot call another.
    """

    def read(file: str) -> str:
        # importlib.resources rather than a path, so the package data is found in any installation.
        return LUA_SCRIPTS.joinpath(f"{file}.lua").read_text(encoding="utf-8")

    return read(COMMON_LUA) + "\n" + read(name)


@contextlib.asynccontextmanager
async def _deadline() -> AsyncIterator[None]:
    """Bound one Redis round trip; a timeout surfaces as ``redis.exceptions.TimeoutError``."""
    try:
        async with asyncio.timeout(REDIS_TIMEOUT_SECONDS):
            yield
    except TimeoutError:
        raise RedisTimeoutError(f"no answer from Redis within {REDIS_TIMEOUT_SECONDS:g}s") from None


def _pid(user_id: str, role: str) -> str:
    """The person: an id is unique within its role only (roles never contain a colon)."""
    return f"{role}:{user_id}"


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _state(user_id: str, row: Sequence[Any]) -> PresenceState:
    """A person from their ``role, status, since, last_seen, booking`` fields."""
    role, status, since, last_seen, booking = row
    current = Status(status)
    return PresenceState(
        user_id=user_id,
        role=str(role),
        status=current,
        since=datetime.fromtimestamp(int(since) / 1000, UTC),
        last_seen=None if last_seen is None else datetime.fromtimestamp(int(last_seen) / 1000, UTC),
        booking_id=booking if current is Status.BUSY else None,
    )


def _record(raw: Sequence[Any]) -> tuple[PresenceState, Status | None]:
    """A script's ``[user_id, role, status, previous, since, last_seen, booking]``."""
    user_id, role, status, previous, since, last_seen, booking = raw
    state = _state(user_id, (role, status, since, last_seen, booking))
    return state, None if previous is None else Status(previous)


def _changes(raw: Sequence[Any]) -> list[PresenceChange]:
    changes: list[PresenceChange] = []
    for item in raw:
        state, previous = _record(item)
        if previous is not None:
            changes.append(PresenceChange(state, previous))
    return changes
