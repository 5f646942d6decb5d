"""SQL for the console: work items with their history, and the console stream."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from hub.console.models import HistoryEntry, ItemState, NewItem, Person, WorkItem
from hub.storage.db import Conn, Executor

_ITEM = """id, kind, subject, priority, state, title, booking_id, person_role, person_id, owner_role,
           owner_id, data, due_at, opened_at, updated_at, resolved_at, resolution, version"""
# Most pressing first, then oldest first.
PRIORITIES = ("urgent", "high", "normal", "low")  # most pressing first
_RANK = "array_position(ARRAY['urgent','high','normal','low'], priority)"
_BY_PRIORITY = f"{_RANK}, opened_at, id"


def item_from(row: asyncpg.Record) -> WorkItem:
    return WorkItem(
        id=row["id"],
        kind=row["kind"],
        priority=row["priority"],
        state=row["state"],
        title=row["title"],
        subject=row["subject"],
        booking_id=row["booking_id"],
        person=Person(role=row["person_role"], id=row["person_id"]) if row["person_id"] else None,
        owner=Person(role=row["owner_role"], id=row["owner_id"]) if row["owner_id"] else None,
        data=row["data"],
        due_at=row["due_at"],
        opened_at=row["opened_at"],
        updated_at=row["updated_at"],
        resolved_at=row["resolved_at"],
        resolution=row["resolution"],
        version=row["version"],
    )


async def insert(conn: Conn, new: NewItem) -> WorkItem | None:
    """The new item, or None when one is open for (kind, subject) or the cause opened one."""
    person_role, person_id = new.person if new.person is not None else (None, None)
    row = await conn.fetchrow(
        f"""INSERT INTO work_items (id, kind, subject, cause, priority, title, booking_id,
                                    person_role, person_id, data, due_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
            ON CONFLICT DO NOTHING
            RETURNING {_ITEM}""",
        uuid.uuid4(),
        new.kind,
        new.subject,
        new.cause,
        new.priority.value,
        new.title,
        new.booking_id,
        person_role,
        person_id,
        dict(new.data),
        new.due_at,
    )
    return item_from(row) if row is not None else None


async def get(db: Executor, item_id: uuid.UUID, *, for_update: bool = False) -> WorkItem | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await db.fetchrow(f"SELECT {_ITEM} FROM work_items WHERE id = $1{lock}", item_id)
    return item_from(row) if row is not None else None


async def open_of(conn: Conn, kind: str, subject: str) -> WorkItem | None:
    """The unresolved item of (kind, subject), locked for the caller's transaction."""
    row = await conn.fetchrow(
        f"""SELECT {_ITEM} FROM work_items
             WHERE kind = $1 AND subject = $2 AND state <> 'resolved' FOR UPDATE""",
        kind,
        subject,
    )
    return item_from(row) if row is not None else None


async def update(
    conn: Conn,
    item_id: uuid.UUID,
    *,
    state: ItemState | None = None,
    owner: tuple[str, str] | None = None,
    resolution: str | None = None,
) -> WorkItem:
    """Apply the changes given (None: unchanged) and bump the version."""
    row = await conn.fetchrow(
        f"""UPDATE work_items
               SET state = COALESCE($2, state),
                   owner_role = CASE WHEN $3::text IS NULL THEN owner_role ELSE $3 END,
                   owner_id = CASE WHEN $3::text IS NULL THEN owner_id ELSE $4 END,
                   resolution = CASE WHEN $2 = 'resolved' THEN $5
                                     WHEN $2 IS NOT NULL THEN NULL ELSE resolution END,
                   resolved_at = CASE WHEN $2 = 'resolved' THEN now()
                                      WHEN $2 IS NOT NULL THEN NULL ELSE resolved_at END,
                   updated_at = now(),
                   version = version + 1
             WHERE id = $1
         RETURNING {_ITEM}""",
        item_id,
        state.value if state is not None else None,
        owner[0] if owner is not None else None,
        owner[1] if owner is not None else None,
        resolution,
    )
    assert row is not None  # the caller holds the row
    return item_from(row)


async def touch(conn: Conn, item_id: uuid.UUID) -> WorkItem:
    """A change that is only in the history (a note, an action): the item's version moves."""
    row = await conn.fetchrow(
        f"""UPDATE work_items SET updated_at = now(), version = version + 1 WHERE id = $1
         RETURNING {_ITEM}""",
        item_id,
    )
    assert row is not None  # the caller holds the row
    return item_from(row)


async def add_history(
    conn: Conn,
    item_id: uuid.UUID,
    action: str,
    actor: tuple[str, str],
    note: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO work_item_history (item_id, action, actor_role, actor_id, note, data)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        item_id,
        action,
        actor[0],
        actor[1],
        note,
        data or {},
    )


async def history(db: Executor, item_id: uuid.UUID) -> list[HistoryEntry]:
    rows = await db.fetch(
        """SELECT action, actor_role, actor_id, note, data, at FROM work_item_history
            WHERE item_id = $1 ORDER BY id""",
        item_id,
    )
    return [
        HistoryEntry(
            action=r["action"],
            actor=Person(role=r["actor_role"], id=r["actor_id"]),
            note=r["note"],
            data=r["data"],
            at=r["at"],
        )
        for r in rows
    ]


async def unresolved(db: Executor, limit: int) -> list[WorkItem]:
    rows = await db.fetch(
        f"SELECT {_ITEM} FROM work_items WHERE state <> 'resolved' ORDER BY {_BY_PRIORITY} LIMIT $1",
        limit,
    )
    return [item_from(r) for r in rows]


async def listing(
    db: Executor,
    *,
    states: list[str],
    kind: str | None,
    booking_id: uuid.UUID | None,
    after: tuple[int, datetime, uuid.UUID] | None,
    limit: int,
) -> list[WorkItem]:
    """Most pressing first, then oldest; after ``after`` (rank, opened_at, id) when given."""
    rank, opened_at, item_id = after or (None, None, None)
    rows = await db.fetch(
        f"""SELECT {_ITEM} FROM work_items
             WHERE state = ANY($1::text[])
               AND ($2::text IS NULL OR kind = $2)
               AND ($3::uuid IS NULL OR booking_id = $3)
               AND ($5::int IS NULL OR ({_BY_PRIORITY}) > ($5, $6::timestamptz, $7::uuid))
             ORDER BY {_BY_PRIORITY} LIMIT $4""",
        states,
        kind,
        booking_id,
        limit,
        rank,
        opened_at,
        item_id,
    )
    return [item_from(r) for r in rows]


async def unresolved_counts(db: Executor) -> dict[str, int]:
    rows = await db.fetch(
        "SELECT priority, count(*) AS n FROM work_items WHERE state <> 'resolved' GROUP BY priority"
    )
    return {r["priority"]: r["n"] for r in rows}


# The console stream -------------------------------------------------------------------------------


async def append(conn: Conn, event: str, payload: dict[str, Any], source: str) -> tuple[int, bool]:
    """(seq, True) for a new entry; (its seq, False) when ``source`` was appended before.

    One statement, committed on its own: taking the next seq locks the counter row only until
    that statement commits (no round trip to the client while it is held), so seqs become
    visible in order and without gaps. A source appended meanwhile by another node breaks the
    unique index, which rolls the increment back with the rest of the statement."""
    try:
        seq = await conn.fetchval(
            """WITH next AS (
                   UPDATE console_stream SET last_seq = last_seq + 1
                    WHERE id = 1 AND NOT EXISTS (SELECT 1 FROM console_feed WHERE source = $3)
                   RETURNING last_seq)
               INSERT INTO console_feed (seq, event, payload, source)
               SELECT last_seq, $1, $2, $3 FROM next
               RETURNING seq""",
            event,
            payload,
            source,
        )
    except asyncpg.UniqueViolationError:
        seq = None
    if seq is not None:
        return int(seq), True
    return int(await conn.fetchval("SELECT seq FROM console_feed WHERE source = $1", source)), False


async def after(db: Executor, after_seq: int, limit: int) -> list[asyncpg.Record]:
    return list(
        await db.fetch(
            "SELECT seq, event, payload FROM console_feed WHERE seq > $1 ORDER BY seq LIMIT $2",
            after_seq,
            limit,
        )
    )


async def bounds(db: Executor) -> tuple[int, int]:
    """(the oldest seq still kept, minus one; the latest seq)."""
    row = await db.fetchrow(
        """SELECT (SELECT last_seq FROM console_stream WHERE id = 1) AS last_seq,
                  (SELECT min(seq) FROM console_feed) AS first_seq"""
    )
    assert row is not None
    last = int(row["last_seq"])
    first = row["first_seq"]
    return (int(first) - 1 if first is not None else last), last


async def prune(db: Executor, older_than_hours: float) -> int:
    """Forget entries older than the retention, keeping the latest (so the stream's bounds stay known)."""
    status = await db.execute(
        """DELETE FROM console_feed
            WHERE at < now() - make_interval(secs => $1)
              AND seq < (SELECT last_seq FROM console_stream WHERE id = 1)""",
        older_than_hours * 3600,
    )
    return int(status.split()[-1])
