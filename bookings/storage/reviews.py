"""SQL for reviews of workers (``worker_reviews``) and what was done to them (``review_history``).

Review rows are read in one shape (``_SELECT``): the review's columns and its author's name. A
review that changes is locked first (``lock``), so that an edit, a reply and moderation of one
review take turns, each seeing what the one before it wrote.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from hub.storage.db import Conn, Executor

_SELECT = """SELECT r.*, coalesce(c.name, '') AS customer_name
               FROM worker_reviews r LEFT JOIN customers c ON c.id = r.customer_id"""


async def insert(
    conn: Conn,
    review_id: uuid.UUID,
    booking_id: uuid.UUID,
    customer_id: str,
    scores: tuple[int, int, int],
    comment: str,
    attachments: Sequence[Mapping[str, Any]],
    within_days: int,
) -> asyncpg.Record | None:
    """The booking's review, if the booking is ``customer_id``'s, completed, finished at most
    ``within_days`` ago (by the database's clock) and not reviewed yet; None otherwise. One
    statement: two writers of one booking's review cannot both get through."""
    inserted = await conn.fetchval(
        """INSERT INTO worker_reviews (id, worker_id, booking_id, customer_id, quality, attitude, skill,
                                       comment, attachments)
           SELECT $1, b.worker_id, b.id, b.customer_id, $4, $5, $6, $7, $8
             FROM bookings b
            WHERE b.id = $2 AND b.customer_id = $3 AND b.status = 'completed' AND b.worker_id IS NOT NULL
              AND coalesce(b.finished_at, b.updated_at) + make_interval(days => $9) >= now()
           ON CONFLICT (booking_id) DO NOTHING
           RETURNING id""",
        review_id,
        booking_id,
        customer_id,
        *scores,
        comment,
        list(attachments),
        within_days,
    )
    return None if inserted is None else await get(conn, review_id)


async def get(db: Executor, review_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_SELECT} WHERE r.id = $1", review_id)


async def of_booking(db: Executor, booking_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"{_SELECT} WHERE r.booking_id = $1", booking_id)


async def lock(conn: Conn, review_id: uuid.UUID) -> asyncpg.Record | None:
    """The review, locked until the transaction ends; None when there is none."""
    return await _lock(conn, "id", review_id)


async def lock_of_booking(conn: Conn, booking_id: uuid.UUID) -> asyncpg.Record | None:
    """The booking's review, locked until the transaction ends; None when there is none."""
    return await _lock(conn, "booking_id", booking_id)


async def _lock(conn: Conn, column: str, value: uuid.UUID) -> asyncpg.Record | None:
    found = await conn.fetchval(f"SELECT id FROM worker_reviews WHERE {column} = $1 FOR UPDATE", value)
    return None if found is None else await get(conn, found)


async def within_edit_window(conn: Conn, review_id: uuid.UUID, edit_minutes: float) -> bool:
    """Whether the review is young enough to be changed, by the database's clock."""
    young: bool = await conn.fetchval(
        "SELECT now() < created_at + make_interval(secs => $2) FROM worker_reviews WHERE id = $1",
        review_id,
        edit_minutes * 60,
    )
    return young


async def window_open(db: Executor, booking_id: uuid.UUID, within_days: int) -> bool:
    """Whether the booking finished recently enough to be reviewed, by the database's clock."""
    still: bool | None = await db.fetchval(
        """SELECT coalesce(finished_at, updated_at) + make_interval(days => $2) >= now()
             FROM bookings WHERE id = $1""",
        booking_id,
        within_days,
    )
    return bool(still)


async def update_content(
    conn: Conn,
    review_id: uuid.UUID,
    scores: tuple[int, int, int],
    comment: str,
    attachments: Sequence[Mapping[str, Any]],
) -> asyncpg.Record:
    await conn.execute(
        """UPDATE worker_reviews SET quality = $2, attitude = $3, skill = $4, comment = $5,
                                     attachments = $6, edited_at = now()
            WHERE id = $1""",
        review_id,
        *scores,
        comment,
        list(attachments),
    )
    return await _reread(conn, review_id)


async def set_reply(conn: Conn, review_id: uuid.UUID, text: str) -> asyncpg.Record:
    await conn.execute(
        "UPDATE worker_reviews SET reply = $2, replied_at = now() WHERE id = $1 AND reply IS NULL",
        review_id,
        text,
    )
    return await _reread(conn, review_id)


async def set_hidden(
    conn: Conn, review_id: uuid.UUID, by: tuple[str, str] | None, reason: str | None
) -> asyncpg.Record:
    """Hide the review (``by`` is (role, id)), or show it again with ``by`` None."""
    role, actor = by if by is not None else (None, None)
    await conn.execute(
        """UPDATE worker_reviews
              SET hidden_at = CASE WHEN $2::text IS NULL THEN NULL ELSE now() END,
                  hidden_role = $2, hidden_by = $3, hidden_reason = $4
            WHERE id = $1""",
        review_id,
        role,
        actor,
        reason,
    )
    return await _reread(conn, review_id)


async def _reread(conn: Conn, review_id: uuid.UUID) -> asyncpg.Record:
    row = await get(conn, review_id)
    assert row is not None, "a locked review cannot disappear"
    return row


async def add_history(
    conn: Conn,
    review_id: uuid.UUID,
    action: str,
    actor: tuple[str, str | None],
    reason: str = "",
    data: Mapping[str, Any] | None = None,
) -> None:
    """One line of what happened to the review; ``actor`` is (role, id)."""
    await conn.execute(
        """INSERT INTO review_history (review_id, action, actor_role, actor_id, reason, data)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        review_id,
        action,
        actor[0],
        actor[1],
        reason,
        dict(data or {}),
    )


async def history(db: Executor, review_id: uuid.UUID) -> list[asyncpg.Record]:
    return await db.fetch("SELECT * FROM review_history WHERE review_id = $1 ORDER BY id", review_id)


async def of_worker(
    db: Executor,
    worker_id: str,
    *,
    hidden: bool | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[asyncpg.Record]:
    """The worker's reviews, newest first, after the cursor ``before`` (created_at, id): shown
    ones only with ``hidden`` False, hidden ones only with True, all with None."""
    return await db.fetch(
        f"""{_SELECT}
            WHERE r.worker_id = $1
              AND ($2::boolean IS NULL OR (r.hidden_at IS NOT NULL) = $2)
              AND ($3::timestamptz IS NULL OR (r.created_at, r.id) < ($3, $4::uuid))
            ORDER BY r.created_at DESC, r.id DESC LIMIT $5""",
        worker_id,
        hidden,
        before[0] if before else None,
        before[1] if before else None,
        limit,
    )


async def upsert_demo(
    db: Executor,
    review_id: uuid.UUID,
    worker_id: str,
    customer_id: str,
    scores: tuple[int, int, int],
    comment: str,
    created_at: datetime,
) -> None:
    """A review of the demo data (no booking); the worker's totals are rebuilt afterwards."""
    await db.execute(
        """INSERT INTO worker_reviews (id, worker_id, customer_id, quality, attitude, skill, comment,
                                       created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE SET worker_id = $2, customer_id = $3, quality = $4, attitude = $5,
               skill = $6, comment = $7, created_at = $8""",
        review_id,
        worker_id,
        customer_id,
        *scores,
        comment,
        created_at,
    )
