"""SQL for ``idempotency_keys``: the first response to each (user id, role, Idempotency-Key)."""

from __future__ import annotations

from typing import Any

import asyncpg

from hub.storage.db import Executor

KEEP_HOURS = 24  # how long a key is remembered


async def claim(conn: Executor, user_id: str, role: str, key: str, operation: str, request_hash: str) -> bool:
    """Insert the key with no response yet; False when it is already there (or being created)."""
    claimed = await conn.fetchval(
        """INSERT INTO idempotency_keys (user_id, role, key, operation, request_hash, status_code, body)
           VALUES ($1, $5, $2, $3, $4, 0, 'null') ON CONFLICT DO NOTHING RETURNING true""",
        user_id,
        key,
        operation,
        request_hash,
        role,
    )
    return bool(claimed)


async def save_response(conn: Executor, user_id: str, role: str, key: str, status: int, body: Any) -> None:
    await conn.execute(
        """UPDATE idempotency_keys SET status_code = $3, body = $4
            WHERE user_id = $1 AND role = $5 AND key = $2""",
        user_id,
        key,
        status,
        body,
        role,
    )


async def first_response(conn: Executor, user_id: str, role: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT request_hash, status_code, body FROM idempotency_keys
            WHERE user_id = $1 AND role = $3 AND key = $2""",
        user_id,
        key,
        role,
    )


async def prune(conn: Executor) -> None:
    await conn.execute(
        "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)", KEEP_HOURS
    )
