"""SQL for the ledger: write a posting once, read balances, find what breaks an invariant."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import asyncpg

from hub.storage.db import Conn, Executor


async def post(
    conn: Conn,
    *,
    transaction_id: uuid.UUID,
    kind: str,
    reference: str,
    lines: Mapping[str, int],
    booking_id: uuid.UUID | None = None,
    customer_id: str | None = None,
    worker_id: str | None = None,
) -> bool:
    """Write one ledger transaction in the caller's transaction; False if its reference was
    recorded before (the same movement, seen again) or nothing moves (every amount zero): then
    nothing is written."""
    if not lines:
        return False
    inserted = await conn.fetchval(
        """INSERT INTO ledger_transactions (id, kind, reference, booking_id, customer_id, worker_id)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (reference) DO NOTHING RETURNING true""",
        transaction_id,
        kind,
        reference,
        booking_id,
        customer_id,
        worker_id,
    )
    if not inserted:
        return False
    await conn.executemany(
        "INSERT INTO ledger_lines (transaction_id, account, amount_cents) VALUES ($1, $2, $3)",
        [(transaction_id, account, amount) for account, amount in lines.items()],
    )
    return True


async def recorded(db: Executor, reference: str) -> bool:
    """Whether the movement of this reference is in the ledger."""
    found = await db.fetchval("SELECT true FROM ledger_transactions WHERE reference = $1", reference)
    return bool(found)


async def balance(db: Executor, account: str) -> int:
    total: int = await db.fetchval(
        "SELECT coalesce(sum(amount_cents), 0)::bigint FROM ledger_lines WHERE account = $1", account
    )
    return total


async def balances(db: Executor, prefix: str) -> dict[str, int]:
    """Every account whose name starts with ``prefix`` and its balance."""
    rows = await db.fetch(
        """SELECT account, sum(amount_cents)::bigint AS total FROM ledger_lines
            WHERE account LIKE $1 || '%' GROUP BY account ORDER BY account""",
        prefix,
    )
    return {row["account"]: row["total"] for row in rows}


# Invariants: each query returns the rows that break one; an empty answer is a healthy ledger.


async def unbalanced_transactions(db: Executor) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT t.reference, coalesce(sum(l.amount_cents), 0)::bigint AS total
             FROM ledger_transactions t LEFT JOIN ledger_lines l ON l.transaction_id = t.id
            GROUP BY t.id, t.reference
           HAVING coalesce(sum(l.amount_cents), 0) <> 0 OR count(l.account) < 2"""
    )


async def overdrawn(db: Executor, prefix: str) -> list[asyncpg.Record]:
    """Accounts of ``prefix`` above zero: a booking refunded or earned beyond what was paid, a
    worker paid out beyond what they earned."""
    return await db.fetch(
        """SELECT account, sum(amount_cents)::bigint AS total FROM ledger_lines
            WHERE account LIKE $1 || '%' GROUP BY account HAVING sum(amount_cents) > 0""",
        prefix,
    )


async def refunds_above_payments(db: Executor) -> list[asyncpg.Record]:
    """Bookings whose refunds add up to more than their payments."""
    return await db.fetch(
        """SELECT t.booking_id,
                  sum(l.amount_cents) FILTER (WHERE t.kind = 'payment')::bigint AS paid,
                  -coalesce(sum(l.amount_cents) FILTER (WHERE t.kind = 'refund'), 0)::bigint AS refunded
             FROM ledger_transactions t
             JOIN ledger_lines l ON l.transaction_id = t.id AND l.account LIKE 'cash:%'
            WHERE t.booking_id IS NOT NULL
            GROUP BY t.booking_id
           HAVING -coalesce(sum(l.amount_cents) FILTER (WHERE t.kind = 'refund'), 0)
                  > coalesce(sum(l.amount_cents) FILTER (WHERE t.kind = 'payment'), 0)"""
    )
