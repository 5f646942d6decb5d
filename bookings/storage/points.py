"""SQL for points: a balance per customer and the entries that changed it."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from hub.storage.db import Conn, Executor

ENTRY_COLUMNS = "id, kind, points, booking_id, note, created_at AS at"


async def balance(db: Executor, customer_id: str) -> int:
    found: int | None = await db.fetchval(
        "SELECT balance FROM point_balances WHERE customer_id = $1", customer_id
    )
    return found or 0


async def add_entry(
    conn: Conn,
    *,
    customer_id: str,
    kind: str,
    points: int,
    reference: str,
    booking_id: uuid.UUID | None = None,
    note: str = "",
) -> bool:
    """Record an entry and move the balance by ``points``, once per ``reference``: False (nothing
    changes) if the reference was recorded before, or if a negative entry would take the balance
    below zero. The balance row is updated conditionally, so two spends racing for the same points
    cannot both succeed: the second waits for the first and then finds too little."""
    if points < 0:
        moved = await conn.fetchval(
            """UPDATE point_balances SET balance = balance + $2, updated_at = now()
                WHERE customer_id = $1 AND balance + $2 >= 0 RETURNING true""",
            customer_id,
            points,
        )
        if not moved:
            return False
    inserted = await conn.fetchval(
        """INSERT INTO point_entries (customer_id, kind, points, booking_id, reference, note)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (reference) DO NOTHING RETURNING true""",
        customer_id,
        kind,
        points,
        booking_id,
        reference,
        note,
    )
    if not inserted:
        if points < 0:  # seen before: undo the spend just made, in this same transaction
            await conn.execute(
                "UPDATE point_balances SET balance = balance - $2 WHERE customer_id = $1", customer_id, points
            )
        return False
    if points > 0:
        await conn.execute(
            """INSERT INTO point_balances (customer_id, balance) VALUES ($1, $2)
               ON CONFLICT (customer_id) DO UPDATE
                   SET balance = point_balances.balance + excluded.balance, updated_at = now()""",
            customer_id,
            points,
        )
    return True


async def entry(db: Executor, reference: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"SELECT {ENTRY_COLUMNS}, customer_id FROM point_entries WHERE reference = $1", reference
    )


async def history(
    db: Executor, customer_id: str, after: tuple[datetime, int] | None, limit: int
) -> list[asyncpg.Record]:
    """The customer's entries, newest first, after ``after`` (created_at, id) when given."""
    at, entry_id = after or (None, None)
    return await db.fetch(
        f"""SELECT {ENTRY_COLUMNS} FROM point_entries
             WHERE customer_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $4::bigint))
             ORDER BY created_at DESC, id DESC LIMIT $3""",
        customer_id,
        at,
        limit,
        entry_id,
    )
