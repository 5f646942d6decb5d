"""SQL for campaigns and the groups of group buying.

A group is changed only under its row lock (``lock_group``), and a group past its deadline is
failed by one conditional UPDATE, so a join that fills a group and the sweep that fails it cannot
both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from hub.storage.db import Conn, Executor

CAMPAIGN_COLUMNS = """id, kind, name_en, name_zh, coupon_id, starts_at, ends_at, group_size, group_hours,
    active, created_by, created_at, updated_at"""
GROUP_COLUMNS = """g.id, g.campaign_id, g.size, g.deadline, g.status, g.started_by, g.created_at,
    g.closed_at, (SELECT count(*) FROM campaign_group_members m WHERE m.group_id = g.id)::int AS members"""
CHANGEABLE = frozenset({"name_en", "name_zh", "starts_at", "ends_at", "active"})


async def insert(conn: Conn, campaign_id: uuid.UUID, fields: Mapping[str, Any]) -> asyncpg.Record:
    names = list(fields)
    row = await conn.fetchrow(
        f"""INSERT INTO campaigns (id, {", ".join(names)})
            VALUES ($1, {", ".join(f"${n}" for n in range(2, len(names) + 2))})
            RETURNING {CAMPAIGN_COLUMNS}""",
        campaign_id,
        *fields.values(),
    )
    assert row is not None
    return row


async def get(db: Executor, campaign_id: uuid.UUID) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1", campaign_id)


async def listing(db: Executor, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns ORDER BY created_at DESC, id LIMIT $1 OFFSET $2",
        limit,
        offset,
    )


async def live(db: Executor, kind: str | None = None) -> list[asyncpg.Record]:
    """Active campaigns whose window contains now, ending soonest first."""
    return await db.fetch(
        f"""SELECT {CAMPAIGN_COLUMNS} FROM campaigns
             WHERE active AND starts_at <= now() AND now() < ends_at AND ($1::text IS NULL OR kind = $1)
             ORDER BY ends_at, id""",
        kind,
    )


async def update(conn: Conn, campaign_id: uuid.UUID, changes: Mapping[str, Any]) -> asyncpg.Record | None:
    names = [name for name in changes if name in CHANGEABLE]
    sets = ", ".join([f"{name} = ${n}" for n, name in enumerate(names, start=2)] + ["updated_at = now()"])
    return await conn.fetchrow(
        f"UPDATE campaigns SET {sets} WHERE id = $1 RETURNING {CAMPAIGN_COLUMNS}",
        campaign_id,
        *(changes[name] for name in names),
    )


async def insert_group(
    conn: Conn, group_id: uuid.UUID, campaign_id: uuid.UUID, size: int, deadline: datetime, customer_id: str
) -> None:
    await conn.execute(
        """INSERT INTO campaign_groups (id, campaign_id, size, deadline, started_by)
           VALUES ($1, $2, $3, $4, $5)""",
        group_id,
        campaign_id,
        size,
        deadline,
        customer_id,
    )


async def lock_group(conn: Conn, group_id: uuid.UUID, campaign_id: uuid.UUID) -> asyncpg.Record | None:
    """The group, locked until the transaction ends, with whether its deadline has passed."""
    return await conn.fetchrow(
        """SELECT id, size, deadline, status, deadline <= now() AS overdue FROM campaign_groups
            WHERE id = $1 AND campaign_id = $2 FOR UPDATE""",
        group_id,
        campaign_id,
    )


async def group(db: Executor, group_id: uuid.UUID) -> asyncpg.Record:
    row = await db.fetchrow(f"SELECT {GROUP_COLUMNS} FROM campaign_groups g WHERE g.id = $1", group_id)
    assert row is not None
    return row


async def open_groups(db: Executor, campaign_id: uuid.UUID, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""SELECT {GROUP_COLUMNS} FROM campaign_groups g
             WHERE g.campaign_id = $1 AND g.status = 'open' AND now() < g.deadline
             ORDER BY g.deadline, g.id LIMIT $2""",
        campaign_id,
        limit,
    )


async def add_member(conn: Conn, group_id: uuid.UUID, customer_id: str) -> bool:
    """False if the customer is already in the group."""
    added = await conn.fetchval(
        """INSERT INTO campaign_group_members (group_id, customer_id) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING true""",
        group_id,
        customer_id,
    )
    return bool(added)


async def members(db: Executor, group_id: uuid.UUID) -> list[str]:
    rows = await db.fetch(
        "SELECT customer_id FROM campaign_group_members WHERE group_id = $1 ORDER BY joined_at, customer_id",
        group_id,
    )
    return [row["customer_id"] for row in rows]


async def close_group(conn: Conn, group_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        "UPDATE campaign_groups SET status = $2, closed_at = now() WHERE id = $1", group_id, status
    )


async def fail_one_overdue(conn: Conn) -> asyncpg.Record | None:
    """Fail one open group whose deadline has passed (skipping any another node is failing); the
    group with its campaign's coupon, or None when there is none."""
    return await conn.fetchrow(
        """WITH due AS (SELECT id FROM campaign_groups WHERE status = 'open' AND deadline <= now()
                         ORDER BY deadline LIMIT 1 FOR UPDATE SKIP LOCKED)
           UPDATE campaign_groups g SET status = 'failed', closed_at = now()
             FROM due, campaigns k
            WHERE g.id = due.id AND k.id = g.campaign_id
           RETURNING g.id, g.campaign_id, k.coupon_id, k.name_en, k.name_zh"""
    )
