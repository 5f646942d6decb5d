"""SQL for settlement statements: one per worker and period, counting the bookings it settles."""

from __future__ import annotations

import uuid
from datetime import date, datetime

import asyncpg

from bookings.storage import locks
from hub.storage.db import Conn, Executor

COLUMNS = """id, worker_id, period, starts_on, ends_on, bookings, gross_cents, commission_cents,
    net_cents, payout_id, created_at"""
# Completed with a worker, its pay fixed, not yet on a statement.
UNSETTLED = "earned_cents IS NOT NULL AND statement_id IS NULL AND finished_at < $2"


async def lock_worker(conn: Conn, worker_id: str) -> None:
    """One settlement of a worker at a time, until the transaction ends: two periods settled at
    once must not both count the same bookings."""
    await locks.key(conn, f"settlement:{worker_id}")


async def workers_to_settle(db: Executor, end: datetime, period: str, default_period: str) -> list[str]:
    """Workers settled ``period`` ('weekly' or 'monthly'; ``default_period`` for those who chose
    none) with earnings finished before ``end`` that no statement has counted."""
    rows = await db.fetch(
        """SELECT DISTINCT b.worker_id FROM bookings b
              LEFT JOIN worker_payout_settings p ON p.worker_id = b.worker_id
             WHERE b.worker_id IS NOT NULL AND coalesce(p.period, $3) = $1
               AND b.earned_cents IS NOT NULL AND b.statement_id IS NULL AND b.finished_at < $2
             ORDER BY b.worker_id""",
        period,
        end,
        default_period,
    )
    return [row["worker_id"] for row in rows]


async def exists(db: Executor, worker_id: str, period: str) -> bool:
    found = await db.fetchval(
        "SELECT true FROM settlement_statements WHERE worker_id = $1 AND period = $2", worker_id, period
    )
    return bool(found)


async def unsettled_totals(conn: Conn, worker_id: str, end: datetime) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""SELECT count(*)::int AS bookings, coalesce(sum(gross_cents), 0)::bigint AS gross_cents,
                   coalesce(sum(earned_cents), 0)::bigint AS net_cents
              FROM bookings WHERE worker_id = $1 AND {UNSETTLED}""",
        worker_id,
        end,
    )
    assert row is not None  # an aggregate always answers one row
    return row


async def insert(
    conn: Conn,
    *,
    statement_id: uuid.UUID,
    worker_id: str,
    period: str,
    starts_on: date,
    ends_on: date,
    end: datetime,
) -> asyncpg.Record | None:
    """The statement of the worker's bookings finished before ``end`` and not yet settled, which
    it then counts; None if the worker has one for ``period`` already, or nothing to settle."""
    totals = await unsettled_totals(conn, worker_id, end)
    if totals["bookings"] == 0:
        return None
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""INSERT INTO settlement_statements (id, worker_id, period, starts_on, ends_on, bookings,
                                               gross_cents, commission_cents, net_cents)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (worker_id, period) DO NOTHING RETURNING {COLUMNS}""",
        statement_id,
        worker_id,
        period,
        starts_on,
        ends_on,
        totals["bookings"],
        totals["gross_cents"],
        totals["gross_cents"] - totals["net_cents"],
        totals["net_cents"],
    )
    if row is not None:
        await conn.execute(
            f"UPDATE bookings SET statement_id = $3 WHERE worker_id = $1 AND {UNSETTLED}",
            worker_id,
            end,
            statement_id,
        )
    return row


async def set_payout(conn: Conn, statement_id: uuid.UUID, payout_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE settlement_statements SET payout_id = $2 WHERE id = $1", statement_id, payout_id
    )


async def of_worker(db: Executor, worker_id: str, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""SELECT {COLUMNS} FROM settlement_statements WHERE worker_id = $1
             ORDER BY starts_on DESC, created_at DESC LIMIT $2 OFFSET $3""",
        worker_id,
        limit,
        offset,
    )


async def count_for(db: Executor, period: str) -> int:
    found: int = await db.fetchval("SELECT count(*) FROM settlement_statements WHERE period = $1", period)
    return found
