"""SQL for the in-app notification inbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from hub.storage.db import Conn, Executor
from hub.times import iso, iso_or_none

_COLUMNS = "user_id, seq, id, role, kind, title, body, data, urgent, created_at, read_at"


def as_dict(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "seq": row["seq"],
        "user_id": row["user_id"],
        "role": row["role"],
        "kind": row["kind"],
        "title": row["title"],
        "body": row["body"],
        "data": row["data"],
        "urgent": row["urgent"],
        "created_at": iso(row["created_at"]),
        "read_at": iso_or_none(row["read_at"]),
    }


async def insert(
    conn: Conn,
    *,
    user_id: str,
    role: str,
    kind: str,
    title: str,
    body: str,
    data: dict[str, Any],
    urgent: bool,
) -> dict[str, Any]:
    """Store a notification with the next seq of (user, role), whose counter row serialises
    their inserts: each role of an id has its own inbox."""
    json.dumps(data)  # fail here, in the caller's code path, if the data cannot be stored
    row = await conn.fetchrow(
        f"""WITH counter AS (
                INSERT INTO notification_counters AS c (user_id, role, last_seq) VALUES ($1, $3, 1)
                ON CONFLICT (user_id, role) DO UPDATE SET last_seq = c.last_seq + 1
                RETURNING last_seq)
            INSERT INTO notifications (user_id, seq, id, role, kind, title, body, data, urgent)
            SELECT $1, counter.last_seq, $2, $3, $4, $5, $6, $7, $8 FROM counter
            RETURNING {_COLUMNS}""",
        user_id,
        uuid.uuid4(),
        role,
        kind,
        title,
        body,
        data,
        urgent,
    )
    assert row is not None
    return as_dict(row)


# Several notifications in one statement: each (user, role) counter is bumped once by how many of
# the batch are theirs (one row may not be updated twice in one statement), and their seqs are
# numbered back from it in batch order. Counters are locked in (user, role) order, as ``insert``
# callers lock them one at a time in that order, so two batches sharing people cannot deadlock.
_INSERT_MANY = f"""
WITH input AS (
    SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::uuid[], $5::text[], $6::text[],
                         $7::text[], $8::text[], $9::bool[])
        AS t(ord, user_id, role, id, kind, title, body, data, urgent)
), wanted AS (
    SELECT user_id, role, count(*)::bigint AS n FROM input GROUP BY user_id, role
), counter AS (
    INSERT INTO notification_counters AS c (user_id, role, last_seq)
    SELECT user_id, role, n FROM wanted ORDER BY user_id, role
    ON CONFLICT (user_id, role) DO UPDATE SET last_seq = c.last_seq + EXCLUDED.last_seq
    RETURNING user_id, role, last_seq
)
INSERT INTO notifications (user_id, seq, id, role, kind, title, body, data, urgent)
SELECT i.user_id,
       counter.last_seq - wanted.n + row_number() OVER (PARTITION BY i.user_id, i.role ORDER BY i.ord),
       i.id, i.role, i.kind, i.title, i.body, i.data::jsonb, i.urgent
  FROM input i JOIN counter USING (user_id, role) JOIN wanted USING (user_id, role)
 ORDER BY i.ord
RETURNING {_COLUMNS}"""


async def insert_many(conn: Conn, batch: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Store several notifications (each with ``insert``'s keyword arguments) in one statement;
    the stored ones come back in ``batch`` order, each with its person's next seq."""
    if not batch:
        return []
    ids = [uuid.uuid4() for _ in batch]
    rows = await conn.fetch(
        _INSERT_MANY,
        list(range(len(batch))),
        [n["user_id"] for n in batch],
        [n["role"] for n in batch],
        ids,
        [n["kind"] for n in batch],
        [n["title"] for n in batch],
        [n["body"] for n in batch],
        # Encoded here, so data that cannot be stored fails in the caller's code path.
        [json.dumps(n["data"]) for n in batch],
        [n["urgent"] for n in batch],
    )
    by_id = {row["id"]: row for row in rows}
    return [as_dict(by_id[i]) for i in ids]


async def page(
    conn: Executor, user_id: str, role: str, before_seq: int | None, limit: int
) -> list[dict[str, Any]]:
    """Newest first, before ``before_seq`` when given."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM notifications
             WHERE user_id = $1 AND role = $4 AND ($2::bigint IS NULL OR seq < $2)
             ORDER BY seq DESC LIMIT $3""",
        user_id,
        before_seq,
        limit,
        role,
    )
    return [as_dict(r) for r in rows]


async def after(conn: Executor, user_id: str, role: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Oldest first, after ``after_seq``: what a reconnecting client missed."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM notifications WHERE user_id = $1 AND role = $4 AND seq > $2
             ORDER BY seq LIMIT $3""",
        user_id,
        after_seq,
        limit,
        role,
    )
    return [as_dict(r) for r in rows]


async def unread_count(conn: Executor, user_id: str, role: str) -> int:
    value = await conn.fetchval(
        "SELECT count(*) FROM notifications WHERE user_id = $1 AND role = $2 AND read_at IS NULL",
        user_id,
        role,
    )
    return int(value)


async def mark_read(conn: Executor, user_id: str, role: str, seq: int | None) -> int:
    """Mark one notification (``seq``) or all of them read; return the unread count after."""
    value = await conn.fetchval(
        """WITH done AS (
               UPDATE notifications SET read_at = now()
                WHERE user_id = $1 AND role = $3 AND read_at IS NULL AND ($2::bigint IS NULL OR seq = $2)
            RETURNING 1)
           SELECT count(*) - (SELECT count(*) FROM done)
             FROM notifications WHERE user_id = $1 AND role = $3 AND read_at IS NULL""",
        user_id,
        seq,
        role,
    )
    return int(value)


async def exists(conn: Executor, user_id: str, role: str, seq: int) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM notifications WHERE user_id = $1 AND role = $2 AND seq = $3)",
            user_id,
            role,
            seq,
        )
    )
