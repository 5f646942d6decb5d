"""SQL for payments (one row per attempt sent to a provider) and the notices providers sent."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

import asyncpg

from hub.storage.db import Conn, Executor

COLUMNS = """id, out_trade_no, booking_id, customer_id, method, channel, amount_cents, currency, status,
    provider_ref, client, failure, expires_at, paid_at, created_at, updated_at"""


async def insert(
    conn: Conn,
    *,
    payment_id: uuid.UUID,
    out_trade_no: str,
    booking_id: uuid.UUID,
    customer_id: str,
    method: str,
    channel: str,
    amount_cents: int,
    currency: str,
    expires_at: datetime,
    status: str = "created",
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""INSERT INTO payments (id, out_trade_no, booking_id, customer_id, method, channel,
                                  amount_cents, currency, status, expires_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}""",
        payment_id,
        out_trade_no,
        booking_id,
        customer_id,
        method,
        channel,
        amount_cents,
        currency,
        status,
        expires_at,
    )
    assert row is not None  # INSERT ... RETURNING returns the row it wrote
    return row


async def get(db: Executor, payment_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM payments WHERE id = $1", payment_id)


async def lock_by_trade_no(conn: Conn, out_trade_no: str) -> asyncpg.Record | None:
    """The payment, locked until the caller's transaction ends: notifies for it queue up here."""
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM payments WHERE out_trade_no = $1 FOR UPDATE", out_trade_no
    )


async def for_booking(db: Executor, booking_id: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch(
        f"SELECT {COLUMNS} FROM payments WHERE booking_id = $1 ORDER BY created_at", booking_id
    )


async def set_prepared(
    db: Executor, payment_id: uuid.UUID, provider_ref: str | None, client: dict[str, Any]
) -> None:
    await db.execute(
        """UPDATE payments SET status = 'pending', provider_ref = $2, client = $3, updated_at = now()
            WHERE id = $1 AND status = 'created'""",
        payment_id,
        provider_ref,
        client,
    )


async def finish(
    conn: Conn,
    payment_id: uuid.UUID,
    status: str,
    *,
    provider_ref: str | None = None,
    failure: str | None = None,
) -> None:
    """Move a payment to its final state (succeeded, failed, closed)."""
    await conn.execute(
        """UPDATE payments
              SET status = $2, provider_ref = coalesce($3, provider_ref), failure = $4,
                  paid_at = CASE WHEN $2 = 'succeeded' THEN now() ELSE paid_at END, updated_at = now()
            WHERE id = $1""",
        payment_id,
        status,
        provider_ref,
        failure,
    )


async def record_notice(
    db: Executor, method: str, out_trade_no: str | None, outcome: str, body: dict[str, Any] | None
) -> None:
    await db.execute(
        "INSERT INTO payment_notices (method, out_trade_no, outcome, body) VALUES ($1, $2, $3, $4)",
        method,
        out_trade_no,
        outcome,
        None if body is None else json.loads(json.dumps(body, default=str)),
    )


async def unanswered(db: Executor, older_than_seconds: float, limit: int = 100) -> list[asyncpg.Record]:
    """Pending payments whose notify has not come after ``older_than_seconds``, and that were not
    asked about within that time either: to ask their provider."""
    return await db.fetch(
        f"""SELECT {COLUMNS} FROM payments
             WHERE status = 'pending' AND method <> 'manual'
               AND created_at < now() - make_interval(secs => $1)
               AND (queried_at IS NULL OR queried_at < now() - make_interval(secs => $1))
             ORDER BY created_at LIMIT $2""",
        older_than_seconds,
        limit,
    )


async def pending_of(db: Executor, booking_id: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch(
        f"SELECT {COLUMNS} FROM payments WHERE booking_id = $1 AND status = 'pending' AND method <> 'manual'",
        booking_id,
    )


async def mark_queried(db: Executor, payment_id: uuid.UUID) -> None:
    await db.execute("UPDATE payments SET queried_at = now() WHERE id = $1", payment_id)


async def refundable(db: Executor, booking_id: uuid.UUID) -> list[asyncpg.Record]:
    """The booking's succeeded payments, newest first, each with what is left to refund of it
    (its amount less its refunds that did not fail)."""
    return await db.fetch(
        f"""SELECT {COLUMNS},
                   (amount_cents - coalesce((SELECT sum(r.amount_cents) FROM refunds r
                                              WHERE r.payment_id = p.id AND r.status <> 'failed'), 0)
                   )::bigint AS refundable_cents
              FROM payments p
             WHERE booking_id = $1 AND status = 'succeeded'
             ORDER BY paid_at DESC""",
        booking_id,
    )
