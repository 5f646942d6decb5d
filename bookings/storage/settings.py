"""SQL for ``system_settings``: one JSON value per key, changed by an admin."""

from __future__ import annotations

from typing import Any

from hub.storage.db import Executor


async def get(conn: Executor, key: str) -> Any:
    return await conn.fetchval("SELECT value FROM system_settings WHERE key = $1", key)


async def put(conn: Executor, key: str, value: Any, admin_id: str) -> None:
    await conn.execute(
        """INSERT INTO system_settings (key, value, updated_by) VALUES ($1, $2, $3)
           ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by,
                                           updated_at = now()""",
        key,
        value,
        admin_id,
    )
