"""SQL for customers and their saved addresses."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from hub.storage.db import Conn, Executor


async def ensure(db: Executor, customer_id: str) -> None:
    """Create the (empty) customer row on first use."""
    await db.execute("INSERT INTO customers (id) VALUES ($1) ON CONFLICT (id) DO NOTHING", customer_id)


async def lock(conn: Conn, customer_id: str) -> None:
    """Serialize address changes of one customer: the one-default rule spans rows."""
    await ensure(conn, customer_id)
    await conn.execute("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", customer_id)


async def get(db: Executor, customer_id: str) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM customers WHERE id = $1", customer_id)


async def update(db: Executor, customer_id: str, values: Mapping[str, Any]) -> None:
    """Set these columns (trusted names) of the customer's row."""
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=2))
    await db.execute(
        f"UPDATE customers SET {sets}, updated_at = now() WHERE id = $1", customer_id, *values.values()
    )


async def upsert(db: Executor, customer_id: str, name: str, phone: str | None) -> None:
    await db.execute(
        """INSERT INTO customers (id, name, phone) VALUES ($1, $2, $3)
           ON CONFLICT (id) DO UPDATE SET name = $2, phone = $3, updated_at = now()""",
        customer_id,
        name,
        phone,
    )


# Addresses ---------------------------------------------------------------------------------------


async def addresses(db: Executor, customer_id: str) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT * FROM customer_addresses WHERE customer_id = $1 ORDER BY is_default DESC, created_at, id",
        customer_id,
    )


async def address(db: Executor, customer_id: str, address_id: uuid.UUID | None) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT * FROM customer_addresses WHERE id = $1 AND customer_id = $2", address_id, customer_id
    )


async def default_address(db: Executor, customer_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT * FROM customer_addresses WHERE customer_id = $1 AND is_default", customer_id
    )


async def count_addresses(db: Executor, customer_id: str) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM customer_addresses WHERE customer_id = $1", customer_id
    )
    return count


async def clear_default(db: Executor, customer_id: str, keep: uuid.UUID | None = None) -> None:
    """No default address any more (but ``keep``, when given)."""
    await db.execute(
        """UPDATE customer_addresses SET is_default = false
           WHERE customer_id = $1 AND is_default AND ($2::uuid IS NULL OR id <> $2)""",
        customer_id,
        keep,
    )


async def insert_address(db: Executor, customer_id: str, fields: Mapping[str, Any]) -> asyncpg.Record:
    row = await db.fetchrow(
        """INSERT INTO customer_addresses (id, customer_id, label, line, city, lat, lng, is_default)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        uuid.uuid4(),
        customer_id,
        fields.get("label", ""),
        fields["line"],
        fields.get("city", ""),
        fields["lat"],
        fields["lng"],
        fields["is_default"],
    )
    assert row is not None
    return row


async def update_address(
    db: Executor, customer_id: str, address_id: uuid.UUID, values: Mapping[str, Any]
) -> asyncpg.Record | None:
    """Set these columns (trusted names); None when the customer has no such address."""
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=3)) or "id = id"
    return await db.fetchrow(
        f"UPDATE customer_addresses SET {sets} WHERE id = $1 AND customer_id = $2 RETURNING *",
        address_id,
        customer_id,
        *values.values(),
    )


async def delete_address(db: Executor, customer_id: str, address_id: uuid.UUID) -> bool | None:
    """Whether the deleted address was the default; None when there was no such address."""
    was_default: bool | None = await db.fetchval(
        "DELETE FROM customer_addresses WHERE id = $1 AND customer_id = $2 RETURNING is_default",
        address_id,
        customer_id,
    )
    return was_default


async def make_latest_default(db: Executor, customer_id: str) -> None:
    await db.execute(
        """UPDATE customer_addresses SET is_default = true
           WHERE id = (SELECT id FROM customer_addresses WHERE customer_id = $1
                       ORDER BY created_at DESC, id DESC LIMIT 1)""",
        customer_id,
    )


async def upsert_address(
    db: Executor,
    address_id: uuid.UUID,
    customer_id: str,
    fields: Mapping[str, Any],
) -> None:
    await db.execute(
        """INSERT INTO customer_addresses (id, customer_id, label, line, city, lat, lng, is_default)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (id) DO UPDATE SET customer_id = $2, label = $3, line = $4, city = $5,
               lat = $6, lng = $7, is_default = $8""",
        address_id,
        customer_id,
        fields["label"],
        fields["line"],
        fields["city"],
        fields["lat"],
        fields["lng"],
        fields["is_default"],
    )


async def clear_defaults_except(db: Executor, customer_ids: Sequence[str], keep: Sequence[uuid.UUID]) -> None:
    """No default address for these customers, but among ``keep``."""
    await db.execute(
        """UPDATE customer_addresses SET is_default = false
           WHERE customer_id = ANY($1::text[]) AND is_default AND id <> ALL($2::uuid[])""",
        list(customer_ids),
        list(keep),
    )
