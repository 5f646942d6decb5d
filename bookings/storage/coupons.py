"""SQL for coupons and the customers' wallets of them.

Claims of one coupon are serialised by the conditional UPDATE of its ``claimed`` counter
(``take_one``): it enforces the total limit and holds the coupon's row lock until the claiming
transaction ends, so a per-customer count read after it is exact.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from hub.storage.db import Conn, Executor

COUPON_COLUMNS = """id, code, name_en, name_zh, kind, amount_cents, percent, max_discount_cents,
    min_spend_cents, valid_from, valid_until, service_ids, category_ids, per_customer_limit,
    total_limit, claimed, active, claimable, created_by, created_at, updated_at"""
# The columns an admin may change after creation; the discount itself is fixed once claimed.
CHANGEABLE = frozenset(
    {
        "name_en",
        "name_zh",
        "min_spend_cents",
        "valid_from",
        "valid_until",
        "service_ids",
        "category_ids",
        "per_customer_limit",
        "total_limit",
        "active",
        "claimable",
    }
)
WALLET = """SELECT e.id, e.coupon_id, e.customer_id, e.state, e.source, e.note, e.campaign_id, e.booking_id,
                   e.claimed_at, e.used_at, c.code, c.name_en, c.name_zh, c.kind, c.amount_cents,
                   c.percent, c.max_discount_cents, c.min_spend_cents, c.valid_from, c.valid_until,
                   c.service_ids, c.category_ids
              FROM customer_coupons e JOIN coupons c ON c.id = e.coupon_id"""


async def insert(conn: Conn, coupon_id: uuid.UUID, fields: Mapping[str, Any]) -> asyncpg.Record | None:
    """The new coupon, or None when its code is taken."""
    names = list(fields)
    return await conn.fetchrow(
        f"""INSERT INTO coupons (id, {", ".join(names)})
            VALUES ($1, {", ".join(f"${n}" for n in range(2, len(names) + 2))})
            ON CONFLICT (code) DO NOTHING RETURNING {COUPON_COLUMNS}""",
        coupon_id,
        *fields.values(),
    )


async def get(db: Executor, coupon_id: uuid.UUID, *, lock: bool = False) -> asyncpg.Record | None:
    return await db.fetchrow(
        f"SELECT {COUPON_COLUMNS} FROM coupons WHERE id = $1" + (" FOR UPDATE" if lock else ""), coupon_id
    )


async def by_code(db: Executor, code: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"SELECT {COUPON_COLUMNS} FROM coupons WHERE code = $1", code)


async def listing(db: Executor, active: bool | None, limit: int, offset: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"""SELECT {COUPON_COLUMNS} FROM coupons WHERE ($1::boolean IS NULL OR active = $1)
            ORDER BY created_at DESC, id LIMIT $2 OFFSET $3""",
        active,
        limit,
        offset,
    )


async def claimable(db: Executor, limit: int) -> list[asyncpg.Record]:
    """Coupons a customer may claim right now, soonest to end first."""
    return await db.fetch(
        f"""SELECT {COUPON_COLUMNS} FROM coupons
             WHERE active AND claimable AND now() < valid_until
               AND (total_limit IS NULL OR claimed < total_limit)
             ORDER BY valid_until, id LIMIT $1""",
        limit,
    )


async def update(conn: Conn, coupon_id: uuid.UUID, changes: Mapping[str, Any]) -> asyncpg.Record | None:
    names = [name for name in changes if name in CHANGEABLE]
    sets = ", ".join([f"{name} = ${n}" for n, name in enumerate(names, start=2)] + ["updated_at = now()"])
    return await conn.fetchrow(
        f"UPDATE coupons SET {sets} WHERE id = $1 RETURNING {COUPON_COLUMNS}",
        coupon_id,
        *(changes[name] for name in names),
    )


async def delete_unused(conn: Conn, coupon_id: uuid.UUID) -> bool:
    """Delete a coupon nobody holds and no campaign hands out; False if it is not deletable."""
    deleted = await conn.fetchval(
        """DELETE FROM coupons c WHERE id = $1
              AND NOT EXISTS (SELECT 1 FROM customer_coupons e WHERE e.coupon_id = c.id)
              AND NOT EXISTS (SELECT 1 FROM campaigns k WHERE k.coupon_id = c.id)
           RETURNING true""",
        coupon_id,
    )
    return bool(deleted)


async def take_one(conn: Conn, coupon_id: uuid.UUID, *, direct: bool) -> asyncpg.Record | None:
    """Count one more claim of the coupon if it can be claimed now (``direct``: by a customer, which
    needs it ``claimable``; campaigns hand out the others) and its total limit allows; None if not."""
    return await conn.fetchrow(
        f"""UPDATE coupons SET claimed = claimed + 1
             WHERE id = $1 AND active AND (NOT $2 OR claimable) AND now() < valid_until
               AND (total_limit IS NULL OR claimed < total_limit)
            RETURNING {COUPON_COLUMNS}""",
        coupon_id,
        direct,
    )


async def give_back(conn: Conn, coupon_id: uuid.UUID, count: int) -> None:
    """Claims reserved and not granted (a group that failed) no longer count."""
    await conn.execute(
        "UPDATE coupons SET claimed = greatest(claimed - $2, 0) WHERE id = $1", coupon_id, count
    )


async def held_or_reserved(db: Executor, coupon_id: uuid.UUID, customer_id: str) -> int:
    """The customer's claims of the coupon: in the wallet (any state), and in open groups."""
    count: int = await db.fetchval(
        """SELECT (SELECT count(*) FROM customer_coupons WHERE coupon_id = $1 AND customer_id = $2)
                + (SELECT count(*) FROM campaign_group_members m
                     JOIN campaign_groups g ON g.id = m.group_id AND g.status = 'open'
                     JOIN campaigns k ON k.id = g.campaign_id AND k.coupon_id = $1
                    WHERE m.customer_id = $2)""",
        coupon_id,
        customer_id,
    )
    return count


async def insert_entry(
    conn: Conn,
    entry_id: uuid.UUID,
    coupon_id: uuid.UUID,
    customer_id: str,
    source: str,
    campaign_id: uuid.UUID | None,
    grant_key: str | None,
    note: str = "",
) -> bool:
    """Put the coupon in the customer's wallet; False if ``grant_key`` was granted before."""
    inserted = await conn.fetchval(
        """INSERT INTO customer_coupons (id, coupon_id, customer_id, source, campaign_id, grant_key, note)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (grant_key) DO NOTHING RETURNING true""",
        entry_id,
        coupon_id,
        customer_id,
        source,
        campaign_id,
        grant_key,
        note,
    )
    return bool(inserted)


async def granted(db: Executor, grant_key: str) -> bool:
    found = await db.fetchval("SELECT true FROM customer_coupons WHERE grant_key = $1", grant_key)
    return bool(found)


async def wallet(db: Executor, customer_id: str, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(
        f"{WALLET} WHERE e.customer_id = $1 ORDER BY e.claimed_at DESC, e.id LIMIT $2", customer_id, limit
    )


async def entry(db: Executor, entry_id: uuid.UUID, customer_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(f"{WALLET} WHERE e.id = $1 AND e.customer_id = $2", entry_id, customer_id)


async def entries(db: Executor, entry_ids: Sequence[uuid.UUID]) -> list[asyncpg.Record]:
    return await db.fetch(f"{WALLET} WHERE e.id = ANY($1::uuid[]) ORDER BY e.claimed_at", list(entry_ids))


async def usable(db: Executor, customer_id: str) -> list[asyncpg.Record]:
    """The customer's available coupons within their validity window, soonest to end first."""
    return await db.fetch(
        f"""{WALLET} WHERE e.customer_id = $1 AND e.state = 'available'
                       AND c.valid_from <= now() AND now() < c.valid_until
             ORDER BY c.valid_until, e.claimed_at, e.id""",
        customer_id,
    )


async def redeem(
    conn: Conn, entry_id: uuid.UUID, customer_id: str, booking_id: uuid.UUID
) -> asyncpg.Record | None:
    """Mark the coupon used by the booking if it is still available and valid; None if not (used by
    another booking meanwhile: the UPDATE waits for that one's commit, then finds it used)."""
    row = await conn.fetchrow(
        """UPDATE customer_coupons e SET state = 'used', booking_id = $3, used_at = now()
             FROM coupons c
            WHERE e.id = $1 AND e.customer_id = $2 AND e.state = 'available' AND c.id = e.coupon_id
              AND c.valid_from <= now() AND now() < c.valid_until
           RETURNING e.id""",
        entry_id,
        customer_id,
        booking_id,
    )
    return None if row is None else await entry(conn, entry_id, customer_id)


async def release(conn: Conn, booking_id: uuid.UUID) -> asyncpg.Record | None:
    """Give the booking's coupon back to its wallet; None if the booking used none."""
    row = await conn.fetchrow(
        """UPDATE customer_coupons SET state = 'available', booking_id = NULL, used_at = NULL
            WHERE booking_id = $1 AND state = 'used' RETURNING id, customer_id""",
        booking_id,
    )
    return None if row is None else await entry(conn, row["id"], row["customer_id"])


async def has_paid_booking(db: Executor, customer_id: str) -> bool:
    """Whether the customer ever paid for a booking (a completed one was paid)."""
    found = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM bookings WHERE customer_id = $1 AND paid_at IS NOT NULL)",
        customer_id,
    )
    return bool(found)


async def existing_services(db: Executor, ids: Sequence[str]) -> set[str]:
    rows = await db.fetch("SELECT id FROM services WHERE id = ANY($1::text[])", list(ids))
    return {row["id"] for row in rows}


async def existing_categories(db: Executor, ids: Sequence[str]) -> set[str]:
    rows = await db.fetch("SELECT id FROM service_categories WHERE id = ANY($1::text[])", list(ids))
    return {row["id"] for row in rows}


async def now(db: Executor) -> datetime:
    """The database's clock: the one validity windows are checked against when redeeming."""
    found: datetime = await db.fetchval("SELECT now()")
    return found
