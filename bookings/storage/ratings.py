"""SQL for a worker's rating totals: per score sums and the count of their shown reviews, kept on
the worker's row (``workers.quality_sum``, ``attitude_sum``, ``skill_sum``, ``rating_count``;
``rating_sum`` is derived from the three).

Totals only move by a statement that adds to what the row holds (``x = x + $n``), under the row's
lock: concurrent reviews of one worker queue on it, and none is lost.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from hub.storage.db import Conn, Executor

TOTALS = ("quality_sum", "attitude_sum", "skill_sum", "rating_count")


async def add(conn: Conn, worker_id: str, quality: int, attitude: int, skill: int, count: int) -> None:
    """Add these amounts (negative to take away) to the worker's totals."""
    await conn.execute(
        """UPDATE workers SET quality_sum = quality_sum + $2, attitude_sum = attitude_sum + $3,
                              skill_sum = skill_sum + $4, rating_count = rating_count + $5
            WHERE id = $1""",
        worker_id,
        quality,
        attitude,
        skill,
        count,
    )


async def totals(db: Executor, worker_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT id, quality_sum, attitude_sum, skill_sum, rating_count, rating_sum
             FROM workers WHERE id = $1""",
        worker_id,
    )


async def lock_workers(conn: Conn, worker_ids: Sequence[str] | None) -> list[str]:
    """Lock these workers' rows (every worker's with None) in id order; their ids."""
    rows = await conn.fetch(
        """SELECT id FROM workers WHERE $1::text[] IS NULL OR id = ANY($1::text[])
            ORDER BY id FOR UPDATE""",
        None if worker_ids is None else list(worker_ids),
    )
    return [row["id"] for row in rows]


async def rebuild(conn: Conn, worker_ids: Sequence[str]) -> list[asyncpg.Record]:
    """Set these workers' totals to what their shown reviews add up to. The rows must be locked
    first (``lock_workers``), in an earlier statement: this one then reads every review whose
    writer added to the totals before the lock was had, and no writer adds to them until the
    transaction ends. Returns ``id``, ``was_<total>`` and ``<total>`` of each row it changed."""
    was = ", ".join(f"b.{t} AS was_{t}" for t in TOTALS)
    new = ", ".join(f"w.{t}" for t in TOTALS)
    differs = " OR ".join(f"w.{t} <> t.{t}" for t in TOTALS)
    return await conn.fetch(
        f"""WITH truth AS (
                SELECT w.id,
                       coalesce(sum(r.quality), 0)::int AS quality_sum,
                       coalesce(sum(r.attitude), 0)::int AS attitude_sum,
                       coalesce(sum(r.skill), 0)::int AS skill_sum,
                       count(r.id)::int AS rating_count
                  FROM workers w
                  LEFT JOIN worker_reviews r ON r.worker_id = w.id AND r.hidden_at IS NULL
                 WHERE w.id = ANY($1::text[])
                 GROUP BY w.id
            ), before AS (
                SELECT w.* FROM workers w JOIN truth t ON t.id = w.id WHERE {differs}
            )
            UPDATE workers w
               SET quality_sum = t.quality_sum, attitude_sum = t.attitude_sum, skill_sum = t.skill_sum,
                   rating_count = t.rating_count
              FROM truth t JOIN before b ON b.id = t.id
             WHERE w.id = t.id
         RETURNING w.id, {was}, {new}""",
        list(worker_ids),
    )
