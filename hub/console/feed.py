"""The console stream: everything the support console is sent that it must not miss (work items,
booking changes, alerts) gets the next ``seq`` of one stream, is stored, then emitted.

A console keeps the last seq it applied. Seqs have no gaps, so a jump tells it that something is
missing; ``sync`` with ``console_since`` replays the rest from storage in order, and a console
that was away longer than the retention is told to take a fresh snapshot (``reset``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from hub.console.models import Priority
from hub.events import StoredEvent
from hub.presence import PRESENCE_UNAVAILABLE, PresenceTracker, Status
from hub.protocol import ServerEvent
from hub.realtime import Realtime
from hub.storage import console as store

log = logging.getLogger(__name__)

PAGE = 200  # entries per sync call
SNAPSHOT_ITEMS = 1000  # open items in a snapshot; more are listed with items:list
# A part of the snapshot an extension adds (e.g. bookings: active bookings by state).
SnapshotPart = Callable[[], Awaitable[Any]]


class ConsoleFeed:
    def __init__(
        self, pool: Callable[[], asyncpg.Pool], realtime: Realtime, presence: PresenceTracker
    ) -> None:
        # Built with the app, before the database opens: extensions add their parts then.
        self._pool = pool
        self.realtime = realtime
        self.presence = presence
        self.parts: dict[str, SnapshotPart] = {}

    @property
    def pool(self) -> asyncpg.Pool:
        return self._pool()

    def add_snapshot_part(self, name: str, part: SnapshotPart) -> None:
        if name in self.parts or name in ("seq", "items", "items_by_priority", "presence"):
            raise ValueError(f"a console snapshot part named {name!r} already exists")
        self.parts[name] = part

    async def publish(self, event: ServerEvent, payload: dict[str, Any], source: str) -> int:
        """Append ``payload`` as ``event`` (once per ``source``) and emit it with its seq.

        A redelivered source is emitted again with its first seq: the console drops a seq it
        has, and the first emit may never have happened (a node that died in between)."""
        async with self.pool.acquire() as conn:
            seq, _ = await store.append(conn, event.name, payload, source)
        await self.realtime.to_agents(event, {**payload, "seq": seq})
        return seq

    async def replay(self, since: int) -> dict[str, Any]:
        first_kept, last = await store.bounds(self.pool)
        if since > last:
            # A seq the stream never reached: a client from another database, or a bug.
            return {"events": [], "more": False, "last_seq": last, "reset": True}
        if since < first_kept:
            return {"events": [], "more": False, "last_seq": last, "reset": True}
        rows = await store.after(self.pool, since, PAGE + 1)
        events = [
            {"seq": r["seq"], "event": r["event"], "data": {**r["payload"], "seq": r["seq"]}}
            for r in rows[:PAGE]
        ]
        return {"events": events, "more": len(rows) > PAGE, "last_seq": last, "reset": False}

    async def snapshot(self) -> dict[str, Any]:
        """Where the console stands: read the seq first, so that every change after the state
        read here arrives live (or by sync) with a larger seq."""
        _, seq = await store.bounds(self.pool)
        items = await store.unresolved(self.pool, SNAPSHOT_ITEMS + 1)
        counts = await store.unresolved_counts(self.pool)
        parts = {name: await part() for name, part in self.parts.items()}
        return {
            "seq": seq,
            "items": [i.model_dump(mode="json") for i in items[:SNAPSHOT_ITEMS]],
            "items_more": len(items) > SNAPSHOT_ITEMS,
            "items_by_priority": {p.value: counts.get(p.value, 0) for p in Priority},
            "presence": await self._presence_counts(),
            **parts,
        }

    async def _presence_counts(self) -> dict[str, dict[str, int]] | None:
        try:
            return {
                group: {status.value: await self.presence.count(role, status) for status in Status}
                for group, role in (("workers", "worker"), ("agents", "support"))
            }
        except PRESENCE_UNAVAILABLE as exc:
            log.warning("console snapshot without presence (%r)", exc)
            return None  # the console shows presence as unknown, not as everyone offline


class ItemsToConsole:
    """Outbox subscriber: a stored work-item change becomes ``item:updated`` on the stream."""

    def __init__(self, feed: ConsoleFeed, event: ServerEvent) -> None:
        self.feed = feed
        self.event = event

    async def __call__(self, event: StoredEvent) -> None:
        await self.feed.publish(self.event, dict(event.payload), source=str(event.id))
