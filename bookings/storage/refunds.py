"""SQL for refunds: one row per refund asked of a provider."""

from __future__ import annotations

import uuid

import asyncpg

from hub.storage.db import Conn, Executor

COLUMNS = """id, out_refund_no, booking_id, payment_id, amount_cents, reason, status, provider_refund_id,
    failure, requested_by, attempts, created_at, updated_at"""


async def insert(
    conn: Conn,
    *,
    refund_id: uuid.UUID,
    out_refund_no: str,
    booking_id: uuid.UUID,
    payment_id: uuid.UUID,
    amount_cents: int,
    reason: str,
    requested_by: str,
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""INSERT INTO refunds (id, out_refund_no, booking_id, payment_id, amount_cents, reason,
                                 status, requested_by)
            VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7) RETURNING {COLUMNS}""",
        refund_id,
        out_refund_no,
        booking_id,
        payment_id,
        amount_cents,
        reason,
        requested_by,
    )
    assert row is not None  # INSERT ... RETURNING returns the row it wrote
    return row


async def get(db: Executor, refund_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM refunds WHERE id = $1", refund_id)


async def lock(conn: Conn, refund_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM refunds WHERE id = $1 FOR UPDATE", refund_id)


async def lock_by_no(conn: Conn, out_refund_no: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {COLUMNS} FROM refunds WHERE out_refund_no = $1 FOR UPDATE", out_refund_no
    )


async def for_booking(db: Executor, booking_id: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch(
        f"SELECT {COLUMNS} FROM refunds WHERE booking_id = $1 ORDER BY created_at", booking_id
    )


async def set_status(
    conn: Conn,
    refund_id: uuid.UUID,
    status: str,
    *,
    provider_refund_id: str | None = None,
    failure: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE refunds SET status = $2, provider_refund_id = coalesce($3, provider_refund_id),
                              failure = $4, updated_at = now()
            WHERE id = $1""",
        refund_id,
        status,
        provider_refund_id,
        failure,
    )


async def count_attempt(db: Executor, refund_id: uuid.UUID, failure: str) -> None:
    await db.execute(
        "UPDATE refunds SET attempts = attempts + 1, failure = $2, updated_at = now() WHERE id = $1",
        refund_id,
        failure,
    )


async def unsent(db: Executor, older_than_seconds: float, limit: int = 100) -> list[asyncpg.Record]:
    """Refunds the provider was not (successfully) asked for, last touched a while ago."""
    return await db.fetch(
        f"""SELECT {COLUMNS} FROM refunds
             WHERE status = 'requested' AND updated_at < now() - make_interval(secs => $1)
             ORDER BY updated_at LIMIT $2""",
        older_than_seconds,
        limit,
    )


async def set_processing(conn: Conn, refund_id: uuid.UUID, provider_refund_id: str | None) -> None:
    await conn.execute(
        """UPDATE refunds SET status = 'processing', provider_refund_id = coalesce($2, provider_refund_id),
                              updated_at = now()
            WHERE id = $1 AND status = 'requested'""",
        refund_id,
        provider_refund_id,
    )
