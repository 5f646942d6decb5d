"""SQL for the statuses people chose (hub/presence), kept for good."""

from __future__ import annotations

from hub.presence.base import Status
from hub.storage.db import Executor

DEFAULT = Status.ONLINE


async def save_choice(db: Executor, user_id: str, role: str, status: Status) -> None:
    if status == DEFAULT:
        await db.execute("DELETE FROM presence_choices WHERE role = $1 AND user_id = $2", role, user_id)
        return
    await db.execute(
        """INSERT INTO presence_choices (role, user_id, status) VALUES ($1, $2, $3)
           ON CONFLICT (role, user_id) DO UPDATE SET status = excluded.status, chosen_at = now()""",
        role,
        user_id,
        status.value,
    )


async def choices(db: Executor) -> list[tuple[str, str, Status]]:
    """Every kept choice as ``(user_id, role, status)``: the few people not simply online."""
    rows = await db.fetch("SELECT user_id, role, status FROM presence_choices ORDER BY role, user_id")
    return [(row["user_id"], row["role"], Status(row["status"])) for row in rows]
