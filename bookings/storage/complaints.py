"""SQL for complaints and their steps.

A complaint changes by one conditional UPDATE on the statuses the move may start from (``move``),
so of two staff members acting at once, the second finds the complaint moved and is refused; the
deadline's escalation is one conditional UPDATE too (``escalate_overdue``), so every node's sweep
escalates a complaint once.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from hub.storage.db import Conn, Executor

COLUMNS = """id, booking_id, customer_id, worker_id, category, body, attachments, status, owner_id,
    owner_role, due_at, escalated_at, resolution, outcome, answer, closed_by_id, closed_by_role,
    closed_at, version, created_at, updated_at,
    (status IN ('open', 'investigating') AND due_at <= now()) AS overdue"""
UNRESOLVED_SQL = "('open', 'investigating')"
STEP_COLUMNS = "id, action, actor_role, actor_id, body, data, to_customer, at"


async def insert(
    conn: Conn,
    complaint_id: uuid.UUID,
    *,
    booking_id: uuid.UUID,
    customer_id: str,
    worker_id: str | None,
    category: str,
    body: str,
    attachments: list[dict[str, Any]],
    due_in_seconds: float,
) -> asyncpg.Record | None:
    """The new complaint, due ``due_in_seconds`` from now; None when the booking already has an
    unresolved one (the unique index decides a race; a savepoint keeps the caller's transaction)."""
    try:
        async with conn.transaction():
            row: asyncpg.Record | None = await conn.fetchrow(
                f"""INSERT INTO complaints (id, booking_id, customer_id, worker_id, category, body,
                                            attachments, due_at)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8))
                    RETURNING {COLUMNS}""",
                complaint_id,
                booking_id,
                customer_id,
                worker_id,
                category,
                body,
                attachments,
                due_in_seconds,
            )
    except asyncpg.UniqueViolationError:
        return None
    return row


async def get(db: Executor, complaint_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COLUMNS} FROM complaints WHERE id = $1", complaint_id)


async def unresolved_of(db: Executor, booking_id: uuid.UUID) -> asyncpg.Record | None:
    """The booking's complaint still open or under investigation, if any."""
    return await db.fetchrow(
        f"SELECT {COLUMNS} FROM complaints WHERE booking_id = $1 AND status IN {UNRESOLVED_SQL}", booking_id
    )


async def move(
    conn: Conn,
    complaint_id: uuid.UUID,
    froms: Sequence[str],
    to: str,
    sets: str = "",
    params: Sequence[Any] = (),
) -> asyncpg.Record | None:
    """Set the status to ``to`` (possibly the same) if it is one of ``froms``; the complaint as it
    now is, or None. ``sets`` is a trusted fragment with parameters from $4 on."""
    assignments = ", ".join(
        filter(None, ["status = $2", "version = version + 1", "updated_at = now()", sets])
    )
    return await conn.fetchrow(
        f"""UPDATE complaints SET {assignments}
             WHERE id = $1 AND status = ANY($3::text[])
         RETURNING {COLUMNS}""",
        complaint_id,
        to,
        list(froms),
        *params,
    )


async def add_step(
    conn: Conn,
    complaint_id: uuid.UUID,
    action: str,
    actor_role: str,
    actor_id: str | None,
    body: str = "",
    data: dict[str, Any] | None = None,
    *,
    to_customer: bool = False,
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"""INSERT INTO complaint_steps (complaint_id, action, actor_role, actor_id, body, data, to_customer)
            VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {STEP_COLUMNS}""",
        complaint_id,
        action,
        actor_role,
        actor_id,
        body,
        data or {},
        to_customer,
    )
    assert row is not None  # INSERT ... RETURNING returns the row it wrote
    return row


async def steps(db: Executor, complaint_id: uuid.UUID, *, to_customer_only: bool) -> list[asyncpg.Record]:
    """The complaint's steps, oldest first: all of them, or only those addressed to the customer."""
    return await db.fetch(
        f"""SELECT {STEP_COLUMNS} FROM complaint_steps
             WHERE complaint_id = $1 AND (to_customer OR NOT $2) ORDER BY id""",
        complaint_id,
        to_customer_only,
    )


async def steps_to_customer(db: Executor, complaint_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    """The steps addressed to the customer of each of these complaints, oldest first."""
    return await db.fetch(
        f"""SELECT complaint_id, {STEP_COLUMNS} FROM complaint_steps
             WHERE complaint_id = ANY($1::uuid[]) AND to_customer ORDER BY id""",
        list(complaint_ids),
    )


async def listing(
    db: Executor,
    *,
    customer_id: str | None,
    statuses: Sequence[str],
    owner: tuple[str, str] | None,
    unowned: bool,
    overdue: bool | None,
    limit: int,
    offset: int,
) -> list[asyncpg.Record]:
    """Newest first; each filter applies when given."""
    return await db.fetch(
        f"""SELECT {COLUMNS} FROM complaints
             WHERE ($1::text IS NULL OR customer_id = $1)
               AND (cardinality($2::text[]) = 0 OR status = ANY($2))
               AND ($3::text IS NULL OR (owner_role = $3 AND owner_id = $4))
               AND (NOT $5 OR owner_id IS NULL)
               AND ($6::boolean IS NULL
                    OR (status IN {UNRESOLVED_SQL} AND due_at <= now()) = $6)
             ORDER BY created_at DESC, id LIMIT $7 OFFSET $8""",
        customer_id,
        list(statuses),
        owner[0] if owner else None,
        owner[1] if owner else None,
        unowned,
        overdue,
        limit,
        offset,
    )


async def escalate_overdue(conn: Conn, limit: int = 100) -> list[asyncpg.Record]:
    """Mark complaints past their deadline and still unresolved as escalated, each once: rows
    another node is escalating are skipped, and ``escalated_at IS NULL`` is checked again on the
    locked row. Those this call escalated, in the caller's transaction."""
    return await conn.fetch(
        f"""UPDATE complaints SET escalated_at = now(), version = version + 1, updated_at = now()
             WHERE id IN (SELECT id FROM complaints
                           WHERE status IN {UNRESOLVED_SQL} AND escalated_at IS NULL AND due_at <= now()
                           ORDER BY due_at LIMIT $1 FOR UPDATE SKIP LOCKED)
               AND status IN {UNRESOLVED_SQL} AND escalated_at IS NULL
         RETURNING {COLUMNS}""",
        limit,
    )


async def set_outcome(conn: Conn, complaint_id: uuid.UUID, outcome: dict[str, Any]) -> asyncpg.Record:
    """Record what the resolution did; the complaint as it now is."""
    row = await conn.fetchrow(
        f"UPDATE complaints SET outcome = $2 WHERE id = $1 RETURNING {COLUMNS}", complaint_id, outcome
    )
    assert row is not None  # the resolving transaction holds the row
    return row
