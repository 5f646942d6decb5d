"""The console's work items: opened by whatever notices a problem, in its own transaction, and
worked by agents (acknowledge, assign, note, act, resolve).

Every change is stored with its history and announced through the outbox in the same
transaction: an item is stored before it is announced, and announced if and only if it was
stored. The announcement becomes an ``item:updated`` on the console stream (``hub.console.feed``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from hub import cursors
from hub.auth import Principal
from hub.console.models import HistoryEntry, ItemState, NewItem, WorkItem
from hub.errors import Conflict, NotFound
from hub.events import Event
from hub.storage import console as store
from hub.storage.db import Conn
from hub.storage.outbox import publish

ITEM_CHANGED = "console.item"  # outbox topic
SYSTEM = ("system", "hub")


def by(user: Principal) -> tuple[str, str]:
    return (user.role.value, user.user_id)


async def open_item(conn: Conn, new: NewItem, opened_by: tuple[str, str] = SYSTEM) -> WorkItem | None:
    """Open ``new`` in the caller's transaction; None when that (kind, subject) is already open or
    that cause already opened one, so callers need not look first."""
    item = await store.insert(conn, new)
    if item is None:
        return None
    await store.add_history(conn, item.id, "opened", opened_by, new.title, dict(new.data))
    await _announce(conn, "opened", item)
    return item


async def resolve_open(
    conn: Conn, kind: str, subject: str, by: tuple[str, str], note: str
) -> WorkItem | None:
    """Resolve the unresolved item of (kind, subject), if any: its cause went away or was handled."""
    item = await store.open_of(conn, kind, subject)
    if item is None:
        return None
    return await _resolve(conn, item, by, note)


async def record_action(
    conn: Conn, item_id: uuid.UUID, actor: tuple[str, str], action: str, data: dict[str, Any]
) -> WorkItem:
    """An agent acted on the item's behalf (re-dispatched, refunded, called): kept in its history,
    also when the action itself resolved the item."""
    item = await _existing(conn, item_id)
    await store.add_history(conn, item.id, "acted", actor, action, data)
    changed = await store.touch(conn, item.id)
    await _announce(conn, "acted", changed)
    return changed


async def acknowledge(pool: asyncpg.Pool, user: Principal, item_id: uuid.UUID) -> WorkItem:
    """Seen and being handled: the caller becomes its owner unless someone already is."""
    async with pool.acquire() as conn, conn.transaction():
        item = await _unresolved(conn, item_id)
        if item.state == ItemState.ACKNOWLEDGED:
            return item  # a retry, or a colleague was first: nothing to change
        owner = by(user) if item.owner is None else None
        changed = await store.update(conn, item.id, state=ItemState.ACKNOWLEDGED, owner=owner)
        await store.add_history(conn, item.id, "acknowledged", by(user))
        await _announce(conn, "acknowledged", changed)
        return changed


async def assign(
    pool: asyncpg.Pool, user: Principal, item_id: uuid.UUID, owner: tuple[str, str], note: str
) -> WorkItem:
    """Give the item to an agent (the caller included); an open item becomes acknowledged."""
    async with pool.acquire() as conn, conn.transaction():
        item = await _unresolved(conn, item_id)
        if item.owner is not None and (item.owner.role, item.owner.id) == owner:
            return item
        changed = await store.update(conn, item.id, state=ItemState.ACKNOWLEDGED, owner=owner)
        await store.add_history(
            conn, item.id, "assigned", by(user), note, {"owner": {"role": owner[0], "id": owner[1]}}
        )
        await _announce(conn, "assigned", changed)
        return changed


async def note(pool: asyncpg.Pool, user: Principal, item_id: uuid.UUID, text: str) -> WorkItem:
    """A line in the item's history (what was tried, who was called)."""
    async with pool.acquire() as conn, conn.transaction():
        item = await _existing(conn, item_id)
        await store.add_history(conn, item.id, "noted", by(user), text)
        changed = await store.touch(conn, item.id)
        await _announce(conn, "noted", changed)
        return changed


async def resolve(pool: asyncpg.Pool, user: Principal, item_id: uuid.UUID, text: str) -> WorkItem:
    async with pool.acquire() as conn, conn.transaction():
        item = await _existing(conn, item_id)
        if item.state == ItemState.RESOLVED:
            raise Conflict(
                "the item is already resolved", code="item_resolved", details={"item": str(item.id)}
            )
        return await _resolve(conn, item, by(user), text)


async def detail(pool: asyncpg.Pool, item_id: uuid.UUID) -> tuple[WorkItem, list[HistoryEntry]]:
    item = await store.get(pool, item_id)
    if item is None:
        raise NotFound("no such work item", code="item_not_found")
    return item, await store.history(pool, item_id)


async def listing(
    pool: asyncpg.Pool,
    state: str,
    kind: str | None,
    booking_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[WorkItem], str | None]:
    """A page of items, most pressing first, then oldest, and the cursor of the next page."""
    states = ["open", "acknowledged"] if state == "unresolved" else [state]
    after = cursors.read(cursor, "items", int, datetime, uuid.UUID)
    found = await store.listing(
        pool, states=states, kind=kind, booking_id=booking_id, after=after, limit=limit + 1
    )
    return cursors.page("items", found, limit, _position)


def _position(item: WorkItem) -> tuple[int, datetime, uuid.UUID]:
    return store.PRIORITIES.index(item.priority) + 1, item.opened_at, item.id


async def _resolve(conn: Conn, item: WorkItem, actor: tuple[str, str], text: str) -> WorkItem:
    changed = await store.update(conn, item.id, state=ItemState.RESOLVED, resolution=text)
    await store.add_history(conn, item.id, "resolved", actor, text)
    await _announce(conn, "resolved", changed)
    return changed


async def _existing(conn: Conn, item_id: uuid.UUID) -> WorkItem:
    item = await store.get(conn, item_id, for_update=True)
    if item is None:
        raise NotFound("no such work item", code="item_not_found")
    return item


async def _unresolved(conn: Conn, item_id: uuid.UUID) -> WorkItem:
    item = await _existing(conn, item_id)
    if item.state == ItemState.RESOLVED:
        raise Conflict("the item is already resolved", code="item_resolved", details={"item": str(item.id)})
    return item


async def _announce(conn: Conn, action: str, item: WorkItem) -> None:
    await publish(conn, Event(ITEM_CHANGED, {"action": action, "item": item.model_dump(mode="json")}))
