"""SQL for a customer's consent to keep history, and the browsing and search history it allows."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from hub.storage.db import Conn, Executor

KEEP = 200  # events kept per customer, the newest
_EVENT = "id, kind, service_id, worker_id, query, found, created_at"


async def privacy(db: Executor, customer_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT history, changed_at FROM customer_privacy WHERE customer_id = $1", customer_id
    )


async def set_history(conn: Conn, customer_id: str, on: bool) -> asyncpg.Record:
    """Set the consent (its row locked until the transaction ends); the row."""
    row = await conn.fetchrow(
        """INSERT INTO customer_privacy (customer_id, history) VALUES ($1, $2)
           ON CONFLICT (customer_id) DO UPDATE SET history = $2,
               changed_at = CASE WHEN customer_privacy.history = $2 THEN customer_privacy.changed_at
                                 ELSE now() END
           RETURNING history, changed_at""",
        customer_id,
        on,
    )
    assert row is not None  # an upsert returns its row
    return row


async def consents(conn: Conn, customer_id: str) -> bool:
    """Whether the customer lets history be kept, holding their consent row (``FOR SHARE``) to the
    end of the transaction: withdrawing it waits for this record, then deletes it with the rest."""
    on = await conn.fetchval(
        "SELECT history FROM customer_privacy WHERE customer_id = $1 FOR SHARE", customer_id
    )
    return bool(on)


async def add(
    conn: Conn,
    customer_id: str,
    kind: str,
    *,
    service_id: str | None = None,
    worker_id: str | None = None,
    query: str | None = None,
    found: Sequence[str] = (),
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""INSERT INTO customer_history (customer_id, kind, service_id, worker_id, query, found)
            VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_EVENT}""",
        customer_id,
        kind,
        service_id,
        worker_id,
        query,
        list(found),
    )
    assert row is not None  # INSERT ... RETURNING returns the row it wrote
    await conn.execute(
        """DELETE FROM customer_history WHERE customer_id = $1 AND id <= (
               SELECT id FROM customer_history WHERE customer_id = $1 ORDER BY id DESC OFFSET $2 LIMIT 1)""",
        customer_id,
        KEEP,
    )
    return row


async def recent_search(conn: Conn, customer_id: str, seconds: float) -> asyncpg.Record | None:
    """The customer's latest event if it is a search made in the last ``seconds``."""
    return await conn.fetchrow(
        f"""SELECT {_EVENT} FROM (
                SELECT * FROM customer_history WHERE customer_id = $1 ORDER BY id DESC LIMIT 1) latest
            WHERE kind = 'search' AND created_at > now() - make_interval(secs => $2)""",
        customer_id,
        seconds,
    )


async def replace_search(conn: Conn, event_id: int, query: str, found: Sequence[str]) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""UPDATE customer_history SET query = $2, found = $3, created_at = now()
            WHERE id = $1 RETURNING {_EVENT}""",
        event_id,
        query,
        list(found),
    )
    assert row is not None  # the caller holds the customer's consent, and the event is theirs
    return row


async def events(
    db: Executor, customer_id: str, limit: int = KEEP, before_id: int | None = None
) -> list[asyncpg.Record]:
    """Newest first; older than ``before_id`` when given."""
    return await db.fetch(
        f"""SELECT {_EVENT} FROM customer_history
             WHERE customer_id = $1 AND ($3::bigint IS NULL OR id < $3)
             ORDER BY id DESC LIMIT $2""",
        customer_id,
        limit,
        before_id,
    )


async def clear(db: Executor, customer_id: str) -> int:
    status = await db.execute("DELETE FROM customer_history WHERE customer_id = $1", customer_id)
    return int(status.split()[-1])
