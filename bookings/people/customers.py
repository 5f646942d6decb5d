"""Customers: their profile (created on first use) and saved addresses (one of them the default)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from bookings.people import Address, Customer
from hub.acks import Conflict, NotFound
from hub.storage.db import Conn, Executor

MAX_ADDRESSES = 20


async def customer(db: Executor, customer_id: str) -> Customer:
    """The customer's profile, created empty on first use."""
    await db.execute("INSERT INTO customers (id) VALUES ($1) ON CONFLICT (id) DO NOTHING", customer_id)
    row = await db.fetchrow("SELECT * FROM customers WHERE id = $1", customer_id)
    assert row is not None
    return Customer(**{name: row[name] for name in Customer.model_fields})


async def update_customer(db: Executor, customer_id: str, fields: Mapping[str, Any]) -> Customer:
    await customer(db, customer_id)
    values = {name: fields[name] for name in ("name", "phone") if name in fields}
    if values:
        sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=2))
        await db.execute(
            f"UPDATE customers SET {sets}, updated_at = now() WHERE id = $1", customer_id, *values.values()
        )
    return await customer(db, customer_id)


def _address(row: asyncpg.Record) -> Address:
    return Address(**{name: row[name] for name in Address.model_fields})


async def addresses(db: Executor, customer_id: str) -> list[Address]:
    rows = await db.fetch(
        "SELECT * FROM customer_addresses WHERE customer_id = $1 ORDER BY is_default DESC, created_at, id",
        customer_id,
    )
    return [_address(row) for row in rows]


async def _lock_customer(conn: Conn, customer_id: str) -> None:
    """Serialize address changes of one customer (the one-default rule spans rows)."""
    await conn.execute("INSERT INTO customers (id) VALUES ($1) ON CONFLICT (id) DO NOTHING", customer_id)
    await conn.execute("SELECT 1 FROM customers WHERE id = $1 FOR UPDATE", customer_id)


async def create_address(conn: Conn, customer_id: str, fields: Mapping[str, Any]) -> Address:
    """Save an address; the first one, or one marked default, becomes the default."""
    await _lock_customer(conn, customer_id)
    count = await conn.fetchval("SELECT count(*) FROM customer_addresses WHERE customer_id = $1", customer_id)
    if count >= MAX_ADDRESSES:
        raise Conflict(f"at most {MAX_ADDRESSES} saved addresses", code="too_many_addresses")
    is_default = bool(fields.get("is_default")) or count == 0
    if is_default:
        await conn.execute(
            "UPDATE customer_addresses SET is_default = false WHERE customer_id = $1 AND is_default",
            customer_id,
        )
    row = await conn.fetchrow(
        """INSERT INTO customer_addresses (id, customer_id, label, line, city, lat, lng, is_default)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING *""",
        uuid.uuid4(),
        customer_id,
        fields.get("label", ""),
        fields["line"],
        fields.get("city", ""),
        fields["lat"],
        fields["lng"],
        is_default,
    )
    assert row is not None
    return _address(row)


async def update_address(
    conn: Conn, customer_id: str, address_id: uuid.UUID, fields: Mapping[str, Any]
) -> Address:
    await _lock_customer(conn, customer_id)
    values = {n: fields[n] for n in ("label", "line", "city", "lat", "lng", "is_default") if n in fields}
    if values.get("is_default"):
        await conn.execute(
            """UPDATE customer_addresses SET is_default = false
               WHERE customer_id = $1 AND is_default AND id <> $2""",
            customer_id,
            address_id,
        )
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=3)) or "id = id"
    row = await conn.fetchrow(
        f"UPDATE customer_addresses SET {sets} WHERE id = $1 AND customer_id = $2 RETURNING *",
        address_id,
        customer_id,
        *values.values(),
    )
    if row is None:
        raise NotFound("no such address", code="address_not_found")
    return _address(row)


async def delete_address(conn: Conn, customer_id: str, address_id: uuid.UUID) -> None:
    """Delete an address; when it was the default, the most recent remaining one takes over."""
    await _lock_customer(conn, customer_id)
    was_default = await conn.fetchval(
        "DELETE FROM customer_addresses WHERE id = $1 AND customer_id = $2 RETURNING is_default",
        address_id,
        customer_id,
    )
    if was_default is None:
        raise NotFound("no such address", code="address_not_found")
    if was_default:
        await conn.execute(
            """UPDATE customer_addresses SET is_default = true
               WHERE id = (SELECT id FROM customer_addresses WHERE customer_id = $1
                           ORDER BY created_at DESC, id DESC LIMIT 1)""",
            customer_id,
        )


async def default_address(db: Executor, customer_id: str) -> Address | None:
    row = await db.fetchrow(
        "SELECT * FROM customer_addresses WHERE customer_id = $1 AND is_default", customer_id
    )
    return None if row is None else _address(row)
