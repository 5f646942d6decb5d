"""SQL for what workers earned: the commission and pay fixed on a booking at completion, and the
income read from them (per booking, and totals per local day, week or month)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

from hub.storage.db import Conn, Executor

EARNED = "b.earned_cents IS NOT NULL"  # completed with a worker: its pay is fixed
UNITS = {"day": "day", "week": "week", "month": "month"}  # date_trunc's words


async def fix(conn: Conn, booking_id: uuid.UUID, commission_pct: int, gross: int, earned: int) -> None:
    """At completion, once: a booking's earnings never change afterwards."""
    await conn.execute(
        """UPDATE bookings SET commission_pct = $2, gross_cents = $3, earned_cents = $4
            WHERE id = $1 AND earned_cents IS NULL""",
        booking_id,
        commission_pct,
        gross,
        earned,
    )


async def completed(
    db: Executor, worker_id: str, start: datetime, end: datetime, limit: int, offset: int
) -> list[asyncpg.Record]:
    """The worker's completed bookings finished in [start, end), newest first."""
    return await db.fetch(
        f"""SELECT b.id AS booking_id, b.service_id, s.name_en AS service_name_en,
                   s.name_zh AS service_name_zh, b.slot_start, b.finished_at, b.gross_cents,
                   b.commission_pct, b.gross_cents - b.earned_cents AS commission_cents,
                   b.earned_cents, b.statement_id
              FROM bookings b JOIN services s ON s.id = b.service_id
             WHERE b.worker_id = $1 AND {EARNED} AND b.finished_at >= $2 AND b.finished_at < $3
             ORDER BY b.finished_at DESC, b.id LIMIT $4 OFFSET $5""",
        worker_id,
        start,
        end,
        limit,
        offset,
    )


async def totals(
    db: Executor, worker_id: str, unit: str, timezone: str, start: datetime, end: datetime
) -> list[asyncpg.Record]:
    """Per local ``unit`` (day, ISO week from Monday, month) in ``timezone``: how many bookings,
    their price before discounts, the commission and the pay, oldest first."""
    return await db.fetch(
        f"""SELECT date_trunc('{UNITS[unit]}', b.finished_at AT TIME ZONE $2)::date AS starts_on,
                   count(*)::int AS bookings, sum(b.gross_cents)::bigint AS gross_cents,
                   sum(b.gross_cents - b.earned_cents)::bigint AS commission_cents,
                   sum(b.earned_cents)::bigint AS earned_cents
              FROM bookings b
             WHERE b.worker_id = $1 AND {EARNED} AND b.finished_at >= $3 AND b.finished_at < $4
             GROUP BY 1 ORDER BY 1""",
        worker_id,
        timezone,
        start,
        end,
    )


async def unsettled(db: Executor, worker_id: str) -> int:
    """What the worker earned in bookings no statement has counted yet."""
    total: int = await db.fetchval(
        f"""SELECT coalesce(sum(b.earned_cents), 0)::bigint FROM bookings b
             WHERE b.worker_id = $1 AND {EARNED} AND b.statement_id IS NULL""",
        worker_id,
    )
    return total
