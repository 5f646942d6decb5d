"""SQL for payouts: each worker's payout settings, payouts and the steps each went through."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.storage.db import Conn, Executor

SETTINGS_COLUMNS = "worker_id, period, method, account_name, account_no, bank_name, updated_by, updated_at"
COLUMNS = """id, out_transfer_no, worker_id, amount_cents, method, account, status, reason, statement_id,
    transfer_ref, requested_by, decided_by, created_at, updated_at"""
IN_FLIGHT = ("requested", "approved")


async def worker_exists(db: Executor, worker_id: str) -> bool:
    return bool(await db.fetchval("SELECT true FROM workers WHERE id = $1", worker_id))


async def settings_of(db: Executor, worker_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"SELECT {SETTINGS_COLUMNS} FROM worker_payout_settings WHERE worker_id = $1", worker_id
    )


async def put_settings(
    db: Executor,
    worker_id: str,
    *,
    period: str,
    method: str,
    account_name: str,
    account_no: str,
    bank_name: str | None,
    updated_by: str,
) -> asyncpg.Record:
    row: asyncpg.Record | None = await db.fetchrow(
        f"""INSERT INTO worker_payout_settings (worker_id, period, method, account_name, account_no,
                                                bank_name, updated_by)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (worker_id) DO UPDATE SET period = excluded.period, method = excluded.method,
                account_name = excluded.account_name, account_no = excluded.account_no,
                bank_name = excluded.bank_name, updated_by = excluded.updated_by, updated_at = now()
            RETURNING {SETTINGS_COLUMNS}""",
        worker_id,
        period,
        method,
        account_name,
        account_no,
        bank_name,
        updated_by,
    )
    assert row is not None  # an upsert returns its row
    return row


async def insert(
    conn: Conn,
    *,
    payout_id: uuid.UUID,
    out_transfer_no: str,
    worker_id: str,
    amount_cents: int,
    method: str,
    account: dict[str, Any],
    statement_id: uuid.UUID | None,
    requested_by: str,
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""INSERT INTO payouts (id, out_transfer_no, worker_id, amount_cents, method, account, status,
                                 statement_id, requested_by)
            VALUES ($1, $2, $3, $4, $5, $6, 'requested', $7, $8) RETURNING {COLUMNS}""",
        payout_id,
        out_transfer_no,
        worker_id,
        amount_cents,
        method,
        account,
        statement_id,
        requested_by,
    )
    assert row is not None  # INSERT ... RETURNING returns the row it wrote
    return row


async def get(db: Executor, payout_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM payouts WHERE id = $1", payout_id)


async def lock(conn: Conn, payout_id: uuid.UUID) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {COLUMNS} FROM payouts WHERE id = $1 FOR UPDATE", payout_id)


async def set_status(
    conn: Conn,
    payout_id: uuid.UUID,
    status: str,
    decided_by: str | None,
    *,
    reason: str | None = None,
    transfer_ref: str | None = None,
) -> asyncpg.Record:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"""UPDATE payouts SET status = $2, decided_by = coalesce($3, decided_by),
                               reason = coalesce($4, reason), transfer_ref = coalesce($5, transfer_ref),
                               updated_at = now()
             WHERE id = $1 RETURNING {COLUMNS}""",
        payout_id,
        status,
        decided_by,
        reason,
        transfer_ref,
    )
    assert row is not None  # the caller holds the row's lock
    return row


async def add_step(conn: Conn, payout_id: uuid.UUID, status: str, actor: str, note: str = "") -> None:
    await conn.execute(
        "INSERT INTO payout_steps (payout_id, status, actor, note) VALUES ($1, $2, $3, $4)",
        payout_id,
        status,
        actor,
        note,
    )


async def steps_of(db: Executor, payout_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return await db.fetch(
        """SELECT payout_id, status, actor, note, at FROM payout_steps
            WHERE payout_id = ANY($1::uuid[]) ORDER BY id""",
        list(payout_ids),
    )


async def listing(
    db: Executor, *, worker_id: str | None, statuses: Sequence[str], limit: int, offset: int
) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""SELECT {COLUMNS} FROM payouts
             WHERE ($1::text IS NULL OR worker_id = $1)
               AND (cardinality($2::text[]) = 0 OR status = ANY($2::text[]))
             ORDER BY created_at DESC, id LIMIT $3 OFFSET $4""",
        worker_id,
        list(statuses),
        limit,
        offset,
    )


async def in_flight(db: Executor, worker_id: str) -> int:
    """Requested or approved, not yet paid: set aside in the ledger."""
    total: int = await db.fetchval(
        """SELECT coalesce(sum(amount_cents), 0)::bigint FROM payouts
            WHERE worker_id = $1 AND status = ANY($2::text[])""",
        worker_id,
        list(IN_FLIGHT),
    )
    return total
