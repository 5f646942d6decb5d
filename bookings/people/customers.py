"""Customers: their profile (created on first use) and saved addresses (one of them the default)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg

from bookings.people.models import Customer, SavedAddress
from bookings.storage import customers as store
from hub.errors import Conflict, NotFound
from hub.storage.db import Conn, Executor

MAX_ADDRESSES = 20


def _customer(row: asyncpg.Record) -> Customer:
    return Customer(**{name: row[name] for name in Customer.model_fields})


def _address(row: asyncpg.Record) -> SavedAddress:
    return SavedAddress(**{name: row[name] for name in SavedAddress.model_fields})


async def customer(db: Executor, customer_id: str) -> Customer:
    """The customer's profile, created empty on first use."""
    await store.ensure(db, customer_id)
    row = await store.get(db, customer_id)
    assert row is not None
    return _customer(row)


async def update_customer(db: Executor, customer_id: str, fields: Mapping[str, Any]) -> Customer:
    await customer(db, customer_id)
    values = {name: fields[name] for name in ("name", "phone") if name in fields}
    if values:
        await store.update(db, customer_id, values)
    return await customer(db, customer_id)


async def addresses(db: Executor, customer_id: str) -> list[SavedAddress]:
    return [_address(row) for row in await store.addresses(db, customer_id)]


async def create_address(conn: Conn, customer_id: str, fields: Mapping[str, Any]) -> SavedAddress:
    """Save an address; the first one, or one marked default, becomes the default."""
    await store.lock(conn, customer_id)
    count = await store.count_addresses(conn, customer_id)
    if count >= MAX_ADDRESSES:
        raise Conflict(f"at most {MAX_ADDRESSES} saved addresses", code="too_many_addresses")
    is_default = bool(fields.get("is_default")) or count == 0
    if is_default:
        await store.clear_default(conn, customer_id)
    return _address(await store.insert_address(conn, customer_id, {**fields, "is_default": is_default}))


async def update_address(
    conn: Conn, customer_id: str, address_id: uuid.UUID, fields: Mapping[str, Any]
) -> SavedAddress:
    await store.lock(conn, customer_id)
    values = {n: fields[n] for n in ("label", "line", "city", "lat", "lng", "is_default") if n in fields}
    if values.get("is_default"):
        await store.clear_default(conn, customer_id, keep=address_id)
    row = await store.update_address(conn, customer_id, address_id, values)
    if row is None:
        raise NotFound("no such address", code="address_not_found")
    return _address(row)


async def delete_address(conn: Conn, customer_id: str, address_id: uuid.UUID) -> None:
    """Delete an address; when it was the default, the most recent remaining one takes over."""
    await store.lock(conn, customer_id)
    was_default = await store.delete_address(conn, customer_id, address_id)
    if was_default is None:
        raise NotFound("no such address", code="address_not_found")
    if was_default:
        await store.make_latest_default(conn, customer_id)


async def default_address(db: Executor, customer_id: str) -> SavedAddress | None:
    row = await store.default_address(db, customer_id)
    return None if row is None else _address(row)
